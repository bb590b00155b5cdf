//! Errors of the core, shaped so a surface can render them without guessing: a
//! validation error names the field and the rule; a conflict says what it collides with.

use serde::Serialize;

/// One field that broke one rule, e.g. `cidr_block` / `host-bits-set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON path of the offending field, e.g. `routes[2]`.
    pub field: String,
    /// Stable machine-readable rule name, e.g. `private-range`.
    pub rule: String,
    /// A sentence for a person.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, rule: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            rule: rule.to_string(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// The request is malformed or breaks a rule of the resource itself (HTTP 422).
    #[error("{}", join_fields(.0))]
    Invalid(Vec<FieldError>),
    /// The request collides with other live state (HTTP 409).
    #[error("{message}")]
    Conflict {
        field: Option<String>,
        rule: String,
        message: String,
    },
    /// No such resource (HTTP 404).
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    /// A state machine was asked for a transition it does not have.
    #[error("{kind} cannot go from {from} to {to}")]
    IllegalTransition {
        kind: &'static str,
        from: String,
        to: String,
    },
    /// `If-Match` or an expected version did not match (HTTP 412).
    #[error("{kind} {id} is at version {actual}, not {expected}")]
    VersionMismatch {
        kind: &'static str,
        id: String,
        expected: u64,
        actual: u64,
    },
}

impl CoreError {
    pub fn invalid(field: impl Into<String>, rule: &str, message: impl Into<String>) -> Self {
        CoreError::Invalid(vec![FieldError::new(field, rule, message)])
    }

    pub fn conflict(field: Option<&str>, rule: &str, message: impl Into<String>) -> Self {
        CoreError::Conflict {
            field: field.map(str::to_string),
            rule: rule.to_string(),
            message: message.into(),
        }
    }

    pub fn not_found(kind: &'static str, id: impl ToString) -> Self {
        CoreError::NotFound {
            kind,
            id: id.to_string(),
        }
    }
}

fn join_fields(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}
