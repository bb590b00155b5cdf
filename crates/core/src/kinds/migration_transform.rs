//! A migration's transform, as a request gives it and the object keeps it: subject renames
//! (NATS patterns to templates) and a script over headers and payload. The replicator
//! (`isthmus_migrate::transform`) applies them; the rules of a rename live here so that
//! admission and the engine agree on them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::FieldError;

/// Longest script accepted (bytes).
pub const MAX_SCRIPT_LEN: usize = 64 * 1024;
pub const MAX_RENAMES: usize = 64;

/// `from` a NATS subject pattern, `to` a template: `$N` is the N-th `*` of `from`, a final
/// `>` the rest of the subject (only when `from` ends in `>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectRename {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrationTransform {
    /// Renames, first match wins; applied to the messages, the target streams' subjects
    /// and the moved consumers' filters.
    #[serde(default)]
    pub subjects: Vec<SubjectRename>,
    /// A Rhai script run on every copied message: it sees `subject`, changes `headers`
    /// (name → value) and `payload` (a blob) in place, and returns `false` to leave the
    /// message out (counted under `script_skipped`).
    #[serde(default)]
    pub script: Option<String>,
}

/// Why `r` is not a rename, if it is not.
pub fn rename_error(r: &SubjectRename) -> Option<String> {
    let from: Vec<&str> = r.from.split('.').collect();
    if from
        .iter()
        .any(|t| t.is_empty() || t.contains(char::is_whitespace))
    {
        return Some(format!("from '{}' is not a subject pattern", r.from));
    }
    if from.iter().rev().skip(1).any(|t| *t == ">") {
        return Some(format!("from '{}': '>' may only be the last token", r.from));
    }
    let stars = from.iter().filter(|t| **t == "*").count();
    let tail = from.last() == Some(&">");
    let to: Vec<&str> = r.to.split('.').collect();
    if to
        .iter()
        .any(|t| t.is_empty() || *t == "*" || t.contains(char::is_whitespace))
    {
        return Some(format!(
            "to '{}' is not a subject template ($N for the N-th '*')",
            r.to
        ));
    }
    for (i, token) in to.iter().enumerate() {
        if *token == ">" && (i + 1 != to.len() || !tail) {
            return Some(format!(
                "to '{}': '>' only last, and only when from ends in '>'",
                r.to
            ));
        }
        if let Some(n) = token.strip_prefix('$') {
            if !n.parse::<usize>().is_ok_and(|n| (1..=stars).contains(&n)) {
                return Some(format!(
                    "to '{}': {token} names no '*' of from '{}'",
                    r.to, r.from
                ));
            }
        }
    }
    if tail && to.last() != Some(&">") {
        return Some(format!(
            "to '{}' must end in '>' like from '{}'",
            r.to, r.from
        ));
    }
    None
}

/// Every broken rule of `t`, each naming its field (the script is compiled by the server,
/// which has the engine).
pub fn transform_errors(t: &MigrationTransform) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if t.subjects.len() > MAX_RENAMES {
        errors.push(FieldError::new(
            "transform.subjects",
            "count",
            format!("at most {MAX_RENAMES} renames"),
        ));
    }
    for (i, r) in t.subjects.iter().enumerate() {
        if let Some(why) = rename_error(r) {
            errors.push(FieldError::new(
                format!("transform.subjects[{i}]"),
                "subject-rename",
                why,
            ));
        }
    }
    if t.script.as_ref().is_some_and(|s| s.len() > MAX_SCRIPT_LEN) {
        errors.push(FieldError::new(
            "transform.script",
            "length",
            format!("at most {MAX_SCRIPT_LEN} bytes"),
        ));
    }
    errors
}
