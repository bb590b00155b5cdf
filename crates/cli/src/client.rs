//! The REST client: bearer auth, JSON bodies, and RFC 9457 problems turned into one line
//! a person can act on (`<detail> (<field>: <message>; …)`).

use std::fmt;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A problem document as the server sends it (only the parts the CLI shows).
#[derive(Debug, Deserialize)]
struct Problem {
    #[serde(default)]
    title: String,
    #[serde(default)]
    detail: String,
    #[serde(default)]
    errors: Vec<ProblemField>,
}

#[derive(Debug, Deserialize)]
struct ProblemField {
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    message: String,
}

/// An error answer of the API.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// The one-line rendering shown after `error: `.
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    fn from_body(status: StatusCode, body: &str) -> ApiError {
        let message = match serde_json::from_str::<Problem>(body) {
            Ok(problem) => render_problem(status, &problem),
            Err(_) => {
                let first_line = body.lines().next().unwrap_or("").trim();
                if first_line.is_empty() {
                    format!("the server answered {status}")
                } else {
                    format!("the server answered {status}: {first_line}")
                }
            }
        };
        ApiError { status, message }
    }
}

fn render_problem(status: StatusCode, problem: &Problem) -> String {
    let mut line = if !problem.detail.is_empty() {
        problem.detail.clone()
    } else if !problem.title.is_empty() {
        problem.title.clone()
    } else {
        format!("the server answered {status}")
    };
    // The detail often already says the field's message; then only name the field.
    let fields: Vec<String> = problem
        .errors
        .iter()
        .filter_map(|e| {
            let field = e.field.as_deref().unwrap_or("");
            let full = match field {
                "" => e.message.clone(),
                _ => format!("{field}: {}", e.message),
            };
            if line.contains(&full) {
                None
            } else if line.contains(&e.message) {
                Some(field.to_string()).filter(|f| !f.is_empty())
            } else {
                Some(full)
            }
        })
        .collect();
    if !fields.is_empty() {
        line = format!("{line} ({})", fields.join("; "));
    }
    // An access problem says which kind it is, so a person knows to look at the token.
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        let kind = status.canonical_reason().unwrap_or("denied").to_lowercase();
        if !line.to_lowercase().starts_with(&kind) {
            line = format!("{kind}: {line}");
        }
    }
    line.replace(['\n', '\r'], " ")
}

/// A client of one Isthmus server with one token.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    /// Said instead of the server's 401 when no token was sent: where none was found.
    token_not_found: Option<String>,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> anyhow::Result<Client> {
        // reqwest says only "builder error" for `127.0.0.1:8710`: say what is missing.
        let lower = base.to_ascii_lowercase();
        anyhow::ensure!(
            lower.starts_with("http://") || lower.starts_with("https://"),
            "the Isthmus URL '{base}' has no scheme: write it as http://{base} (or https://)"
        );
        let http = reqwest::Client::builder()
            .user_agent(concat!("isthmus-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("build HTTP client: {e}"))?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
            token_not_found: None,
        })
    }

    /// What to say on a 401 when no token was found (see `config::resolve`).
    pub fn with_token_not_found(self, why: Option<String>) -> Client {
        Client {
            token_not_found: why,
            ..self
        }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.send(Method::GET, path, None::<&()>).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        self.send(Method::PATCH, path, Some(body)).await
    }

    /// A PATCH that applies only if the resource is still at `version` (412 otherwise):
    /// the write half of a read-modify-write.
    pub async fn patch_if_match<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        version: u64,
    ) -> anyhow::Result<T> {
        let text = self
            .raw_with(Method::PATCH, path, Some(body), Some(version))
            .await?;
        serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("unexpected answer to PATCH {path}: {e}"))
    }

    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.send(Method::DELETE, path, None::<&()>).await
    }

    /// A DELETE whose answer may have no body (a 204): the answer's text, empty then.
    pub async fn delete_text(&self, path: &str) -> anyhow::Result<String> {
        self.raw(Method::DELETE, path, None::<&()>).await
    }

    /// A GET whose answer is text rather than JSON (e.g. a PEM file).
    pub async fn get_text(&self, path: &str) -> anyhow::Result<String> {
        self.raw(Method::GET, path, None::<&()>).await
    }

    /// A GET whose answer is binary (e.g. a PNG).
    pub async fn get_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let url = format!("{}{}", self.base, path);
        let mut request = self.http.get(&url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| anyhow::anyhow!("read the answer from {url}: {e}"))?;
        if status.is_success() {
            Ok(body.to_vec())
        } else {
            Err(ApiError::from_body(status, &String::from_utf8_lossy(&body)).into())
        }
    }

    /// Sends a request whose answer has no body worth reading (204s).
    pub async fn send_no_content<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> anyhow::Result<()> {
        self.raw(method, path, Some(body)).await.map(|_| ())
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<T> {
        let text = self.raw(method.clone(), path, body).await?;
        serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!("unexpected answer to {method} {path}: {e} (is the server the same version as this CLI?)")
        })
    }

    async fn raw<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<String> {
        self.raw_with(method, path, body, None).await
    }

    async fn raw_with<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        if_match: Option<u64>,
    ) -> anyhow::Result<String> {
        let url = format!("{}{}", self.base, path);
        let mut request = self.http.request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(version) = if_match {
            request = request.header(reqwest::header::IF_MATCH, format!("\"{version}\""));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| anyhow::anyhow!("read the answer from {url}: {e}"))?;
        if status.is_success() {
            Ok(text)
        } else if let (StatusCode::UNAUTHORIZED, Some(why)) = (status, &self.token_not_found) {
            Err(ApiError {
                status,
                message: format!("unauthorized: {why}"),
            }
            .into())
        } else {
            Err(ApiError::from_body(status, &text).into())
        }
    }

    fn transport_error(&self, e: reqwest::Error) -> anyhow::Error {
        if e.is_connect() {
            anyhow::anyhow!(
                "cannot reach Isthmus at {}: is `isthmus serve` running?",
                self.base
            )
        } else if e.is_builder() {
            anyhow::anyhow!("invalid Isthmus URL {}: {e}", self.base)
        } else {
            anyhow::anyhow!("request to Isthmus at {} failed: {e}", self.base)
        }
    }
}

/// Percent-encodes one path segment (ids are URL-safe already; names may not be).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validation_problem_names_each_field_on_one_line() {
        let body = r#"{"type":"urn:isthmus:problem:validation","title":"Invalid request","status":422,
            "detail":"the request breaks 1 rule",
            "errors":[{"field":"cidr_block","rule":"host-bits-set","message":"host bits are set;\ndid you mean 172.29.98.0/24?"}]}"#;
        let err = ApiError::from_body(StatusCode::UNPROCESSABLE_ENTITY, body);
        assert_eq!(
            err.message,
            "the request breaks 1 rule (cidr_block: host bits are set; did you mean 172.29.98.0/24?)"
        );
    }

    #[test]
    fn a_detail_that_already_says_the_field_message_is_not_repeated() {
        let body = r#"{"title":"Unprocessable Entity","status":422,"detail":"cidr_block: host bits set",
            "errors":[{"field":"cidr_block","rule":"host-bits-set","message":"host bits set"}]}"#;
        let err = ApiError::from_body(StatusCode::UNPROCESSABLE_ENTITY, body);
        assert_eq!(err.message, "cidr_block: host bits set");
    }

    #[test]
    fn a_conflict_whose_detail_is_the_message_still_names_the_field() {
        let body = r#"{"title":"Conflict","status":409,"detail":"overlaps route 10.20.0.0/16 of peering x",
            "errors":[{"field":"routes[0]","rule":"overlap","message":"overlaps route 10.20.0.0/16 of peering x"}]}"#;
        let err = ApiError::from_body(StatusCode::CONFLICT, body);
        assert_eq!(
            err.message,
            "overlaps route 10.20.0.0/16 of peering x (routes[0])"
        );
    }

    #[test]
    fn an_access_problem_says_forbidden_before_its_detail() {
        let body = r#"{"title":"Forbidden","status":403,
            "detail":"this needs the operator role in project p; the token has viewer"}"#;
        let err = ApiError::from_body(StatusCode::FORBIDDEN, body);
        assert_eq!(
            err.message,
            "forbidden: this needs the operator role in project p; the token has viewer"
        );
    }

    #[test]
    fn a_body_that_is_not_a_problem_still_gives_one_line() {
        let err = ApiError::from_body(StatusCode::BAD_GATEWAY, "upstream gone\nmore");
        assert_eq!(
            err.message,
            "the server answered 502 Bad Gateway: upstream gone"
        );
    }

    #[test]
    fn names_are_escaped_as_path_segments() {
        assert_eq!(segment("my net/1"), "my%20net%2F1");
        assert_eq!(segment("c0ffee0123456789abcd"), "c0ffee0123456789abcd");
    }
}
