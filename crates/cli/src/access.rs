//! The allow-list flags of `isthmus cluster create|update`: entries given as
//! `CIDR[=COMMENT]`, allow-list files, and the edits `--add-…`/`--remove-…` make to the
//! list the server holds (read-modify-write: the server re-validates the whole list).

use std::path::Path;

use anyhow::Context;
pub use isthmus_core::allowlist_file::parse_allowlist_text;
use isthmus_core::resources::{AllowlistEntry, AllowlistEntryInput, EgressRule, EgressRuleInput};

/// `CIDR[=COMMENT]`, e.g. `203.0.113.0/24=office`. The CIDR is checked by the server,
/// which names the entry at fault.
pub fn parse_entry(raw: &str) -> Result<AllowlistEntryInput, String> {
    let (cidr, comment) = raw.split_once('=').unwrap_or((raw, ""));
    let cidr = cidr.trim();
    if cidr.is_empty() {
        return Err(format!(
            "'{raw}': expected CIDR[=COMMENT], e.g. 203.0.113.0/24=office"
        ));
    }
    Ok(AllowlistEntryInput {
        cidr: cidr.to_string(),
        comment: comment.trim().to_string(),
        expires_at: None,
    })
}

/// The expiry `--expire-after SECS` gives entries added now.
pub fn expiry(after: Option<u64>) -> Option<chrono::DateTime<chrono::Utc>> {
    after.map(|secs| chrono::Utc::now() + chrono::Duration::seconds(secs as i64))
}

/// `entries`, each given `expires_at` when set (else as they are).
pub fn expiring(
    mut entries: Vec<AllowlistEntryInput>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Vec<AllowlistEntryInput> {
    if expires_at.is_some() {
        for e in &mut entries {
            e.expires_at = expires_at;
        }
    }
    entries
}

pub fn read_allowlist_file(path: &Path) -> anyhow::Result<Vec<AllowlistEntryInput>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("read allow-list file {}", path.display()))?;
    parse_allowlist_text(&text)
        .map_err(|e| anyhow::anyhow!("allow-list file {}: {e}", path.display()))
}

/// `current` with `remove` taken out and `add` appended (an added CIDR already present
/// takes the new comment). Removing a CIDR that is not listed is an error: it usually is
/// a typo, and saying nothing would leave the entry the user meant in place.
pub fn edit_allowlist(
    current: &[AllowlistEntry],
    add: &[AllowlistEntryInput],
    remove: &[String],
    list_name: &str,
) -> anyhow::Result<Vec<AllowlistEntryInput>> {
    let mut list: Vec<AllowlistEntryInput> = current
        .iter()
        // An entry past its expiry is about to be removed by the server: not sent back.
        .filter(|e| e.expires_at.is_none_or(|t| t > chrono::Utc::now()))
        .map(|e| AllowlistEntryInput {
            cidr: e.cidr.to_string(),
            comment: e.comment.clone(),
            expires_at: e.expires_at,
        })
        .collect();
    for cidr in remove {
        let before = list.len();
        list.retain(|e| !same_cidr(&e.cidr, cidr));
        anyhow::ensure!(
            list.len() < before,
            "{cidr} is not in the {list_name} (nothing to remove)"
        );
    }
    for entry in add {
        match list.iter_mut().find(|e| same_cidr(&e.cidr, &entry.cidr)) {
            Some(existing) => existing.comment = entry.comment.clone(),
            None => list.push(entry.clone()),
        }
    }
    Ok(list)
}

/// Whether two CIDR texts name the same prefix (`10.0.0.0/8` and ` 10.0.0.0/8`), falling
/// back to text when one does not parse (the server will say what is wrong with it).
fn same_cidr(a: &str, b: &str) -> bool {
    // A bare address is its /32, as the server reads it.
    let parse = |s: &str| isthmus_core::kinds::access::allowlist_cidr("", s);
    match (parse(a), parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.trim() == b.trim(),
    }
}

/// `CIDR[:PORT,PORT…]`, e.g. `172.16.0.0/16:443,8443`; without ports, every port.
pub fn parse_egress(raw: &str) -> Result<EgressRuleInput, String> {
    let (cidr, ports) = raw.split_once(':').unwrap_or((raw, ""));
    let ports = ports
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("'{raw}': '{p}' is not a TCP port"))
        })
        .collect::<Result<Vec<u16>, String>>()?;
    Ok(EgressRuleInput {
        cidr: cidr.trim().to_string(),
        ports,
        comment: String::new(),
    })
}

/// The egress rules the cluster has, as request input, with `remove` taken out (by
/// prefix: every port of it) and `add` appended (an added prefix replaces its rule).
/// Removing a prefix that has no rule is an error, as for the allow-lists.
pub fn edit_egress(
    current: &[EgressRule],
    add: &[EgressRuleInput],
    remove: &[String],
) -> anyhow::Result<Vec<EgressRuleInput>> {
    let mut rules: Vec<EgressRuleInput> = current
        .iter()
        .map(|r| EgressRuleInput {
            cidr: r.cidr.to_string(),
            ports: r.ports.clone(),
            comment: r.comment.clone(),
        })
        .collect();
    for cidr in remove {
        let before = rules.len();
        rules.retain(|r| !same_cidr(&r.cidr, cidr));
        anyhow::ensure!(
            rules.len() < before,
            "{cidr} is not in the egress allow-list (nothing to remove)"
        );
    }
    for rule in add {
        rules.retain(|r| !same_cidr(&r.cidr, &rule.cidr));
        rules.push(rule.clone());
    }
    Ok(rules)
}

/// `on` / `off` (also true/false, yes/no, enabled/disabled).
pub fn parse_on_off(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "enabled" => Ok(true),
        "off" | "false" | "no" | "disabled" => Ok(false),
        _ => Err(format!("'{raw}': expected on or off")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(cidr: &str, comment: &str) -> AllowlistEntryInput {
        AllowlistEntryInput {
            cidr: cidr.into(),
            comment: comment.into(),
            expires_at: None,
        }
    }

    #[test]
    fn an_entry_flag_takes_an_optional_comment_after_an_equals_sign() {
        assert_eq!(
            parse_entry("203.0.113.0/24=office").unwrap(),
            entry("203.0.113.0/24", "office")
        );
        assert_eq!(
            parse_entry("198.51.100.7/32").unwrap(),
            entry("198.51.100.7/32", "")
        );
        assert!(parse_entry("=no cidr").is_err());
    }

    #[test]
    fn an_allowlist_file_has_one_cidr_a_line_with_comments_and_blank_lines_skipped() {
        let text = "# office and CI\n\
                    203.0.113.0/24   head office, floor 2\n\
                    \n\
                    198.51.100.7/32 # the CI runner\n\
                    \t192.0.2.0/28\n";
        assert_eq!(
            parse_allowlist_text(text).unwrap(),
            vec![
                entry("203.0.113.0/24", "head office, floor 2"),
                entry("198.51.100.7/32", ""),
                entry("192.0.2.0/28", ""),
            ]
        );
    }

    #[test]
    fn an_allowlist_file_line_that_is_not_a_cidr_is_named_by_its_number() {
        let err = parse_allowlist_text("10.0.0.0/8\noffice 203.0.113.0/24\n").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        assert!(err.contains("'office'"), "{err}");
    }

    #[test]
    fn an_empty_allowlist_file_replaces_the_list_with_nothing() {
        assert_eq!(
            parse_allowlist_text("# nobody for now\n\n").unwrap(),
            vec![]
        );
    }

    #[test]
    fn editing_removes_then_adds_and_keeps_the_other_entries_in_order() {
        let current = vec![
            AllowlistEntry {
                cidr: "10.0.0.0/8".parse().unwrap(),
                comment: "corp".into(),
                expires_at: None,
            },
            AllowlistEntry {
                cidr: "203.0.113.0/24".parse().unwrap(),
                comment: "office".into(),
                expires_at: None,
            },
            AllowlistEntry {
                cidr: "192.0.2.0/24".parse().unwrap(),
                comment: String::new(),
                expires_at: None,
            },
        ];
        let edited = edit_allowlist(
            &current,
            &[
                entry("198.51.100.7/32", "ci"),
                entry("10.0.0.0/8", "corp vpn"),
            ],
            &["203.0.113.0/24".into()],
            "public allow-list",
        )
        .unwrap();
        assert_eq!(
            edited,
            vec![
                entry("10.0.0.0/8", "corp vpn"),
                entry("192.0.2.0/24", ""),
                entry("198.51.100.7/32", "ci"),
            ]
        );
    }

    #[test]
    fn removing_an_entry_that_is_not_listed_is_an_error() {
        let err =
            edit_allowlist(&[], &[], &["10.0.0.0/8".into()], "private allow-list").unwrap_err();
        assert_eq!(
            err.to_string(),
            "10.0.0.0/8 is not in the private allow-list (nothing to remove)"
        );
    }

    #[test]
    fn an_egress_flag_takes_optional_ports() {
        let rule = parse_egress("172.16.0.0/16:443,8443").unwrap();
        assert_eq!(
            (rule.cidr.as_str(), rule.ports),
            ("172.16.0.0/16", vec![443, 8443])
        );
        assert_eq!(
            parse_egress("172.16.0.0/16").unwrap().ports,
            Vec::<u16>::new()
        );
        assert!(parse_egress("172.16.0.0/16:https").is_err());
    }
}
