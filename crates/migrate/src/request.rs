//! The `migration` resource's request body and its admission rules, pure functions in the
//! core's style (every broken rule a [`FieldError`] naming the field and the rule, all of
//! them at once), ready for the registry's API and reconciler to call. What the rule needs
//! from the store — the target cluster's engine — comes in as an argument.

use std::collections::BTreeMap;

use isthmus_core::kinds::validate::{validate_name, Checks};
use isthmus_core::{CoreError, FieldError};
use serde::{Deserialize, Serialize};

use crate::engine::Mode;
use crate::filters::Filters;

/// How the replicator signs in to the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum Credentials {
    UserPassword { user: String, password: String },
    Token { token: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// `nats://host:port` or `tls://host:port`, 1…16 of them.
    pub urls: Vec<String>,
    /// The CA certificate (PEM) the source's servers are verified with.
    #[serde(default)]
    pub ca_certificate: Option<String>,
    #[serde(default)]
    pub credentials: Option<Credentials>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationCreate {
    pub name: String,
    pub target_cluster_id: String,
    pub source: SourceSpec,
    /// Streams to copy; all when empty.
    #[serde(default)]
    pub streams: Vec<String>,
    #[serde(default = "ordered")]
    pub mode: Mode,
    #[serde(default)]
    pub filters: Filters,
    /// Subject renames and scripted transforms: not supported yet, refused rather than ignored.
    #[serde(default)]
    pub transform: Option<serde_json::Value>,
}

impl MigrationCreate {
    /// The engine's spec for an admitted migration: the reconciler gives the target's
    /// endpoint and where it wrote the source's CA certificate.
    pub fn engine_spec(
        &self,
        target: crate::Endpoint,
        source_ca_file: Option<std::path::PathBuf>,
    ) -> crate::Spec {
        let (user, password, token) = match self.source.credentials.clone() {
            Some(Credentials::UserPassword { user, password }) => {
                (Some(user), Some(password), None)
            }
            Some(Credentials::Token { token }) => (None, None, Some(token)),
            None => (None, None, None),
        };
        crate::Spec {
            source: crate::Endpoint {
                urls: self.source.urls.clone(),
                ca_file: source_ca_file,
                user,
                password,
                token,
            },
            target,
            streams: self.streams.clone(),
            mode: self.mode,
            filters: self.filters.clone(),
            settings: crate::Settings::default(),
        }
    }
}

fn ordered() -> Mode {
    Mode::Ordered
}

pub const MAX_URLS: usize = 16;
pub const MAX_PARTITIONS: usize = 64;

/// Admits a migration into a target cluster running `target_engine`.
pub fn new_migration(
    body: MigrationCreate,
    target_engine: &str,
) -> Result<MigrationCreate, CoreError> {
    let mut checks = Checks::new();
    let name = checks.field(validate_name("name", &body.name));
    if target_engine != "nats" {
        checks.fail(FieldError::new(
            "target_cluster_id",
            "engine",
            format!("the target cluster runs {target_engine}; a migration copies into a NATS JetStream cluster"),
        ));
    }
    if body.source.urls.is_empty() || body.source.urls.len() > MAX_URLS {
        checks.fail(FieldError::new(
            "source.urls",
            "count",
            format!("give 1 to {MAX_URLS} server URLs"),
        ));
    }
    for (i, url) in body.source.urls.iter().enumerate() {
        checks.check(check_url(&format!("source.urls[{i}]"), url));
    }
    if let Some(pem) = &body.source.ca_certificate {
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            checks.fail(FieldError::new(
                "source.ca_certificate",
                "pem",
                "must be a PEM certificate",
            ));
        }
    }
    match &body.source.credentials {
        Some(Credentials::UserPassword { user, .. }) if user.trim().is_empty() => checks.fail(
            FieldError::new("source.credentials.user", "required", "must not be empty"),
        ),
        Some(Credentials::Token { token }) if token.is_empty() => checks.fail(FieldError::new(
            "source.credentials.token",
            "required",
            "must not be empty",
        )),
        _ => {}
    }
    for (i, stream) in body.streams.iter().enumerate() {
        checks.check(check_stream_name(&format!("streams[{i}]"), stream));
    }
    if let Mode::Partitioned { partitions } = body.mode {
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            checks.fail(FieldError::new(
                "mode.partitions",
                "range",
                format!("must be 1 to {MAX_PARTITIONS}"),
            ));
        }
    }
    for (field, patterns) in [
        ("filters.include_subjects", &body.filters.include_subjects),
        ("filters.exclude_subjects", &body.filters.exclude_subjects),
    ] {
        for (i, pattern) in patterns.iter().enumerate() {
            checks.check(check_subject_pattern(&format!("{field}[{i}]"), pattern));
        }
    }
    checks.extend(check_headers(&body.filters.exclude_headers));
    if body.transform.is_some() {
        checks.fail(FieldError::new(
            "transform",
            "not-supported",
            "transforms are not supported yet; remove the field to copy messages unchanged",
        ));
    }
    let name = checks.finish_values(name)?;
    Ok(MigrationCreate { name, ..body })
}

fn check_url(field: &str, url: &str) -> Result<(), FieldError> {
    let rest = ["nats://", "tls://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))
        .ok_or_else(|| FieldError::new(field, "url", "must start with nats:// or tls://"))?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(|| {
        FieldError::new(field, "url", "must name a port, e.g. nats://10.0.0.5:4222")
    })?;
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return Err(FieldError::new(
            field,
            "url",
            "must be scheme://host:port with no credentials or path",
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(FieldError::new(field, "url", "the port must be 1 to 65535")),
    }
}

/// JetStream stream names: no whitespace, `.`, `*`, `>`, path separators; at most 255.
fn check_stream_name(field: &str, name: &str) -> Result<(), FieldError> {
    let bad = name.is_empty()
        || name.len() > 255
        || name.chars().any(|c| {
            c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\') || c.is_control()
        });
    if bad {
        return Err(FieldError::new(
            field,
            "stream-name",
            "must be a stream name: 1 to 255 characters, no spaces, '.', '*', '>' or slashes",
        ));
    }
    Ok(())
}

fn check_subject_pattern(field: &str, pattern: &str) -> Result<(), FieldError> {
    let tokens: Vec<&str> = pattern.split('.').collect();
    let last = tokens.len() - 1;
    let bad = tokens.iter().enumerate().any(|(i, t)| {
        t.is_empty()
            || t.chars().any(char::is_whitespace)
            || (*t == ">" && i != last)
            || (t.len() > 1 && t.contains(['*', '>']))
    });
    if bad {
        return Err(FieldError::new(field, "subject-pattern", "must be a NATS subject pattern: dot-separated tokens, '*' for one token, '>' only last"));
    }
    Ok(())
}

fn check_headers(headers: &BTreeMap<String, String>) -> Vec<FieldError> {
    headers
        .keys()
        .filter(|name| name.is_empty() || name.chars().any(|c| !c.is_ascii_graphic() || c == ':'))
        .map(|name| {
            FieldError::new(
                format!("filters.exclude_headers.{name}"),
                "header-name",
                "must be printable ASCII without ':' or spaces",
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: serde_json::Value) -> MigrationCreate {
        serde_json::from_value(value).unwrap()
    }

    fn rules(error: CoreError) -> Vec<(String, String)> {
        let CoreError::Invalid(errors) = error else {
            panic!("{error:?}")
        };
        errors.into_iter().map(|e| (e.field, e.rule)).collect()
    }

    #[test]
    fn a_plain_request_is_admitted_ordered_by_default() {
        let admitted = new_migration(
            body(json!({"name": " events ", "target_cluster_id": "c1", "source": {"urls": ["nats://172.16.0.10:4222"]}})),
            "nats",
        )
        .unwrap();
        assert_eq!(admitted.name, "events");
        assert_eq!(admitted.mode, Mode::Ordered);
    }

    #[test]
    fn every_broken_rule_is_named_at_once() {
        let error = new_migration(
            body(json!({
                "name": "m", "target_cluster_id": "c1",
                "source": {"urls": ["http://x:1", "nats://host"], "ca_certificate": "nope",
                           "credentials": {"kind": "token", "token": ""}},
                "streams": ["ORDERS", "bad.name"],
                "mode": {"mode": "partitioned", "partitions": 0},
                "filters": {"exclude_subjects": ["a.>.b"], "exclude_headers": {"Bad Name": "x"}},
                "transform": {"rename": {"a": "b"}}
            })),
            "postgres",
        )
        .unwrap_err();
        assert_eq!(
            rules(error),
            [
                ("target_cluster_id", "engine"),
                ("source.urls[0]", "url"),
                ("source.urls[1]", "url"),
                ("source.ca_certificate", "pem"),
                ("source.credentials.token", "required"),
                ("streams[1]", "stream-name"),
                ("mode.partitions", "range"),
                ("filters.exclude_subjects[0]", "subject-pattern"),
                ("filters.exclude_headers.Bad Name", "header-name"),
                ("transform", "not-supported"),
            ]
            .map(|(f, r)| (f.to_string(), r.to_string()))
        );
    }
}
