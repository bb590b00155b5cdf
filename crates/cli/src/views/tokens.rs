//! How tokens look: the secret shown once on create and rotate, and the token lists.

use serde::{Deserialize, Serialize};

use crate::output::{or_dash, time, Details, View};

/// `POST /v1/projects/{p}/tokens`: the only time the secret is ever shown.
#[derive(Debug, Serialize, Deserialize)]
pub struct CreatedToken {
    pub token: isthmus_core::resources::Token,
    pub secret: String,
    pub role: isthmus_core::resources::Role,
}

impl View for CreatedToken {
    const HEADERS: &'static [&'static str] = &["ID", "NAME", "ROLE", "SECRET"];
    fn row(&self) -> Vec<String> {
        vec![
            self.token.id.to_string(),
            self.token.name.clone(),
            self.role.as_str().to_string(),
            self.secret.clone(),
        ]
    }
    fn details(&self) -> Details {
        Details::default()
            .field("id", self.token.id)
            .field("name", &self.token.name)
            .field("role", self.role.as_str())
            .field("secret", &self.secret)
            .field("expires", optional_time(&self.token.expires_at))
            .field("note", "the secret is shown only now; store it safely")
    }
}

fn optional_time(t: &Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.as_ref().map(time).unwrap_or_else(|| "-".into())
}

/// `GET /v1/tokens` (superuser): every token, never a secret.
impl View for isthmus_core::resources::Token {
    const HEADERS: &'static [&'static str] =
        &["ID", "NAME", "SUPERUSER", "CREATED", "EXPIRES", "REVOKED"];
    fn row(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.name.clone(),
            self.superuser.to_string(),
            time(&self.created_at),
            optional_time(&self.expires_at),
            optional_time(&self.revoked_at),
        ]
    }
    fn details(&self) -> Details {
        Details::default()
            .field("id", self.id)
            .field("name", &self.name)
            .field("superuser", self.superuser)
            .field("created", time(&self.created_at))
            .field("expires", optional_time(&self.expires_at))
            .field("revoked", optional_time(&self.revoked_at))
    }
}

/// `GET /v1/projects/{p}/tokens`: a token and its role in the project.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProjectToken {
    #[serde(flatten)]
    pub token: isthmus_core::resources::Token,
    pub role: isthmus_core::resources::Role,
}

impl View for ProjectToken {
    const HEADERS: &'static [&'static str] = &["ID", "NAME", "ROLE", "CREATED", "EXPIRES"];
    fn row(&self) -> Vec<String> {
        vec![
            self.token.id.to_string(),
            self.token.name.clone(),
            self.role.as_str().to_string(),
            time(&self.token.created_at),
            optional_time(&self.token.expires_at),
        ]
    }
    fn details(&self) -> Details {
        self.token.details().field("role", self.role.as_str())
    }
}

/// `POST /v1/tokens/{id}/rotate`: the new secret, shown once.
#[derive(Debug, Serialize, Deserialize)]
pub struct RotatedToken {
    pub token: isthmus_core::resources::Token,
    pub secret: String,
    #[serde(default)]
    pub admin_token_file: Option<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl View for RotatedToken {
    const HEADERS: &'static [&'static str] = &["ID", "NAME", "SECRET"];
    fn row(&self) -> Vec<String> {
        vec![
            self.token.id.to_string(),
            self.token.name.clone(),
            self.secret.clone(),
        ]
    }
    fn details(&self) -> Details {
        Details::default()
            .field("id", self.token.id)
            .field("name", &self.token.name)
            .field("secret", &self.secret)
            .field(
                "admin_token_file",
                or_dash(self.admin_token_file.as_deref()),
            )
            .field(
                "note",
                "the secret is shown only now; the old one no longer works",
            )
    }
}
