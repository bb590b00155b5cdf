//! The allow-list file format of `isthmus cluster create|update --public-allowlist-file`:
//! one entry a line, `CIDR [comment…]`. Pure text parsing, kept here (not in the CLI
//! binary) so it can be unit-tested and fuzzed (`fuzz/fuzz_targets/allowlist_file.rs`).
//! The CIDRs themselves are checked by the server (`rules::validate_allowlist`), which
//! names the entry at fault.

use crate::resources::AllowlistEntryInput;

/// An allow-list file: one entry a line, `CIDR [comment…]`; blank lines and lines
/// starting with `#` are skipped (so are `#` comments after an entry).
pub fn parse_allowlist_text(text: &str) -> Result<Vec<AllowlistEntryInput>, String> {
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line
            .split_once('#')
            .map_or(line, |(before, _)| before)
            .trim();
        if line.is_empty() {
            continue;
        }
        let (cidr, comment) = line
            .split_once(char::is_whitespace)
            .map_or((line, ""), |(c, rest)| (c, rest.trim()));
        if !cidr.contains('/') && cidr.parse::<std::net::Ipv4Addr>().is_err() {
            return Err(format!(
                "line {}: '{cidr}' is not a CIDR (expected \"CIDR [comment]\")",
                n + 1
            ));
        }
        entries.push(AllowlistEntryInput {
            cidr: cidr.to_string(),
            comment: comment.to_string(),
        });
    }
    Ok(entries)
}
