//! Filters: which source messages are not copied, each skipped message counted under the
//! reason that skipped it (streams are chosen by the migration's stream list).

use std::collections::BTreeMap;

use async_nats::HeaderMap;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    /// When not empty, only subjects matching one of these NATS patterns are copied.
    #[serde(default)]
    pub include_subjects: Vec<String>,
    /// Subjects matching one of these patterns are not copied.
    #[serde(default)]
    pub exclude_subjects: Vec<String>,
    /// Messages carrying one of these header values (`name` → `value`) are not copied.
    #[serde(default)]
    pub exclude_headers: BTreeMap<String, String>,
}

/// Why a message was not copied: the counters' keys.
pub const NOT_INCLUDED: &str = "subject_not_included";
pub const EXCLUDED_SUBJECT: &str = "subject_excluded";
pub const EXCLUDED_HEADER: &str = "header_excluded";

impl Filters {
    /// The reason a message is skipped, or `None` when it is copied.
    pub fn skips(&self, subject: &str, headers: Option<&HeaderMap>) -> Option<&'static str> {
        if !self.include_subjects.is_empty()
            && !self
                .include_subjects
                .iter()
                .any(|p| subject_matches(p, subject))
        {
            return Some(NOT_INCLUDED);
        }
        if self
            .exclude_subjects
            .iter()
            .any(|p| subject_matches(p, subject))
        {
            return Some(EXCLUDED_SUBJECT);
        }
        let excluded_header = headers.is_some_and(|headers| {
            self.exclude_headers.iter().any(|(name, value)| {
                headers
                    .get_all(name.as_str())
                    .any(|v| v.as_str() == value.as_str())
            })
        });
        excluded_header.then_some(EXCLUDED_HEADER)
    }

    pub fn is_empty(&self) -> bool {
        self == &Filters::default()
    }
}

/// NATS subject matching: `*` matches one token, a final `>` one or more.
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut tokens = subject.split('.');
    for part in pattern.split('.') {
        match (part, tokens.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (literal, Some(token)) if literal == token => {}
            _ => return false,
        }
    }
    tokens.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_nats_matches_them() {
        assert!(subject_matches("orders.*", "orders.eu"));
        assert!(!subject_matches("orders.*", "orders.eu.1"));
        assert!(subject_matches("orders.>", "orders.eu.1"));
        assert!(!subject_matches("orders.>", "orders"));
        assert!(subject_matches("orders.eu", "orders.eu"));
        assert!(!subject_matches("orders.eu", "orders.us"));
    }

    #[test]
    fn each_skipped_message_has_its_reason() {
        let filters = Filters {
            include_subjects: vec!["orders.>".into()],
            exclude_subjects: vec!["orders.test.*".into()],
            exclude_headers: BTreeMap::from([("Env".into(), "staging".into())]),
        };
        let mut staging = HeaderMap::new();
        staging.insert("Env", "staging");
        assert_eq!(filters.skips("payments.1", None), Some(NOT_INCLUDED));
        assert_eq!(filters.skips("orders.test.1", None), Some(EXCLUDED_SUBJECT));
        assert_eq!(
            filters.skips("orders.eu", Some(&staging)),
            Some(EXCLUDED_HEADER)
        );
        assert_eq!(filters.skips("orders.eu", None), None);
    }
}
