//! Request bodies. We read the bytes ourselves and deserialize with `serde_path_to_error`
//! so a bad body becomes a 422 problem that names the offending field (axum's `Json`
//! rejection only says "failed to deserialize"). The raw bytes are kept for the
//! Idempotency-Key request hash.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use isthmus_core::FieldError;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::problem::ApiError;

/// The largest request body the API accepts (the router's `DefaultBodyLimit`).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// A JSON request body, parsed, with the bytes it came from.
pub struct JsonBody<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<T> JsonBody<T> {
    /// sha256 hex of the raw body: what an Idempotency-Key is bound to.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(&self.raw))
    }
}

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let raw = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large(BODY_LIMIT)
            } else {
                ApiError::invalid("body", "readable", rejection.body_text())
            }
        })?;
        let value = parse_json(&raw)?;
        Ok(JsonBody { value, raw })
    }
}

/// Deserializes `raw`, turning serde's complaint into a field error.
pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(raw);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| ApiError::validation(vec![field_error(e)]))?;
    de.end().map_err(|e| {
        ApiError::invalid(
            "body",
            "json-syntax",
            format!("body is not valid JSON: {e}"),
        )
    })?;
    Ok(value)
}

fn field_error(e: serde_path_to_error::Error<serde_json::Error>) -> FieldError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        return FieldError::new(
            "body",
            "json-syntax",
            format!("body is not valid JSON: {inner}"),
        );
    }
    let message = inner.to_string();
    // serde reports a missing or unknown key at the path of the object that holds it, so
    // the key's own name is taken from the message.
    if let Some(name) = quoted_after(&message, "missing field `") {
        return FieldError::new(join(&path, name), "required", format!("{name} is required"));
    }
    // A key given twice is blamed on that key: the object at `path` holds it.
    if let Some(name) = quoted_after(&message, "duplicate field `") {
        let field = if path.ends_with(name) {
            path.clone()
        } else {
            join(&path, name)
        };
        return FieldError::new(
            field,
            "duplicate-key",
            format!("{name} is given more than once"),
        );
    }
    if let Some(name) = quoted_after(&message, "unknown field `") {
        let field = if path.ends_with(name) {
            path.clone()
        } else {
            join(&path, name)
        };
        return FieldError::new(field, "unknown-field", strip_position(&message));
    }
    let rule = if message.starts_with("unknown variant") {
        "unknown-value"
    } else if message.starts_with("invalid type") {
        "type"
    } else {
        "invalid-value"
    };
    let field = if path == "." {
        "body".to_string()
    } else {
        path
    };
    FieldError::new(field, rule, strip_position(&message))
}

/// `join(".", "x") == "x"`, `join("peer", "x") == "peer.x"`.
fn join(path: &str, name: &str) -> String {
    if path == "." || path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

/// serde_json appends " at line L column C"; the field already says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isthmus_core::resources::{NetworkCreate, PeeringCreate};

    fn first_error<T: DeserializeOwned + std::fmt::Debug>(raw: &str) -> FieldError {
        let err = parse_json::<T>(raw.as_bytes()).unwrap_err();
        assert_eq!(err.0.status, 422);
        err.0.errors[0].clone()
    }

    /// The field and rule of the first error `raw` gets as a `T`.
    fn blamed<T: DeserializeOwned + std::fmt::Debug>(raw: &str) -> (String, String) {
        let e = first_error::<T>(raw);
        (e.field, e.rule)
    }

    #[test]
    fn a_missing_field_is_named() {
        assert_eq!(
            blamed::<NetworkCreate>(r#"{"name":"a","provider":"aws","region":"x"}"#),
            ("cidr_block".into(), "required".into())
        );
    }

    #[test]
    fn an_unknown_field_is_named() {
        assert_eq!(
            blamed::<NetworkCreate>(
                r#"{"name":"a","provider":"aws","region":"x","cidr_block":"10.0.0.0/16","colour":1}"#
            ),
            ("colour".into(), "unknown-field".into())
        );
    }

    #[test]
    fn an_unknown_enum_value_names_its_field() {
        assert_eq!(
            blamed::<NetworkCreate>(
                r#"{"name":"a","provider":"ibm","region":"x","cidr_block":"10.0.0.0/16"}"#
            ),
            ("provider".into(), "unknown-value".into())
        );
    }

    #[test]
    fn nested_and_indexed_fields_carry_their_path() {
        let e = first_error::<PeeringCreate>(
            r#"{"name":"p","network_id":"n","peer":{"account_id":"1","region":"r"},"routes":[]}"#,
        );
        assert_eq!(e.field, "peer.network_id");
        assert_eq!(
            blamed::<PeeringCreate>(
                r#"{"name":"p","network_id":"n","peer":{"account_id":"1","network_id":"v","region":"r"},"routes":["10.0.0.0/8",7]}"#
            ),
            ("routes[1]".into(), "type".into())
        );
    }

    #[test]
    fn a_duplicate_key_is_blamed_on_that_key() {
        assert_eq!(
            blamed::<NetworkCreate>(
                r#"{"name":"a","provider":"aws","region":"x","cidr_block":"10.0.0.0/16","name":"b"}"#
            ),
            ("name".into(), "duplicate-key".into())
        );
        assert_eq!(
            blamed::<PeeringCreate>(
                r#"{"name":"p","network_id":"n","peer":{"account_id":"1","network_id":"v","region":"r","region":"s"},"routes":[]}"#
            ),
            ("peer.region".into(), "duplicate-key".into())
        );
    }

    #[test]
    fn broken_json_is_a_syntax_error_of_the_body() {
        let trailing = r#"{"name":"a","provider":"aws","region":"x","cidr_block":"10.0.0.0/16"} x"#;
        for raw in ["{\"name\":", "", trailing] {
            let err = parse_json::<NetworkCreate>(raw.as_bytes()).unwrap_err();
            assert_eq!(err.0.errors[0].field, "body", "for {raw:?}");
        }
        let e = first_error::<NetworkCreate>("{\"name\": nope}");
        assert_eq!(e.rule, "json-syntax");
    }
}
