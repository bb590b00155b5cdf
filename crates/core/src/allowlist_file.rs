//! The allow-list file format of `isthmus cluster create|update --public-allowlist-file`:
//! one entry a line, `CIDR [comment…]`. Pure text parsing, kept here (not in the CLI
//! binary) so it can be unit-tested and fuzzed (`fuzz/fuzz_targets/allowlist_file.rs`).
//! Each entry is checked here as the server checks it (a CIDR or a bare address, no
//! duplicates, a printable comment), so a mistake is reported by its line in the file
//! rather than by its index in the request.

use std::collections::HashMap;

use crate::kinds::access::{allowlist_cidr, validate_comment};
use crate::resources::AllowlistEntryInput;

/// An allow-list file: one entry a line, `CIDR [comment…]`; blank lines and lines
/// starting with `#` are skipped (so are `#` comments after an entry).
pub fn parse_allowlist_text(text: &str) -> Result<Vec<AllowlistEntryInput>, String> {
    let mut entries = Vec::new();
    let mut seen = HashMap::new();
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
        let at = format!("line {}", n + 1);
        let prefix = allowlist_cidr(&at, cidr).map_err(|e| format!("{at}: {}", e.message))?;
        if let Some(first) = seen.insert(prefix, n + 1) {
            return Err(format!(
                "{at}: {prefix} is listed twice (also line {first})"
            ));
        }
        validate_comment(&at, comment).map_err(|e| format!("{at}: {}", e.message))?;
        entries.push(AllowlistEntryInput {
            cidr: cidr.to_string(),
            comment: comment.to_string(),
            expires_at: None,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_addresses_are_single_hosts_and_comments_follow_the_prefix() {
        let entries = parse_allowlist_text(
            "# office and laptop\n203.0.113.0/24 office\n\n198.51.100.7 laptop  # mine\n",
        )
        .unwrap();
        let got: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| (e.cidr.as_str(), e.comment.as_str()))
            .collect();
        assert_eq!(
            got,
            [("203.0.113.0/24", "office"), ("198.51.100.7", "laptop")]
        );
        assert_eq!(
            allowlist_cidr("x", "198.51.100.7").unwrap().to_string(),
            "198.51.100.7/32"
        );
    }

    #[test]
    fn a_bad_entry_is_reported_by_its_line_in_the_file() {
        let text = "# header\n203.0.113.0/24 office\n\n203.0.113.0/33 typo\n";
        let e = parse_allowlist_text(text).unwrap_err();
        assert!(e.starts_with("line 4: "), "{e}");
        let e = parse_allowlist_text("office 203.0.113.0/24\n").unwrap_err();
        assert!(e.starts_with("line 1: "), "{e}");
        let e = parse_allowlist_text("198.51.100.7\n#\n198.51.100.7/32 again\n").unwrap_err();
        assert_eq!(e, "line 3: 198.51.100.7/32 is listed twice (also line 1)");
    }
}
