//! Errors as RFC 9457 problem details (`application/problem+json`). Every failure of the
//! API becomes one `Problem`, so a client needs a single error decoder.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use isthmus_core::{CoreError, FieldError};
use isthmus_driver::sim::SimError;
use isthmus_store::{StoreError, Unavailability};
use serde::Serialize;
use utoipa::ToSchema;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem: `type` is `urn:isthmus:problem:<kind>`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// One line for a person.
    pub detail: String,
    /// The fields at fault, with the rule each one broke.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Sent as `Retry-After` (seconds) with a 503: the condition passes by itself.
    #[serde(skip)]
    pub retry_after: Option<u32>,
    /// The id of the request (also its `x-request-id` header): quote it when reporting a
    /// server error, whose details are only in the server's log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The error type of every handler.
#[derive(Debug)]
pub struct ApiError(pub Box<Problem>);

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        ApiError(Box::new(Problem {
            kind: format!("urn:isthmus:problem:{kind}"),
            title: title_of(status).to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            request_id: None,
        }))
    }

    /// A 503 that tells the client when to try again.
    pub fn unavailable(kind: &str, detail: impl Into<String>, retry_after: u32) -> Self {
        let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, kind, detail);
        e.0.retry_after = Some(retry_after);
        e
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.0.errors = errors;
        self
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", detail).with_errors(errors)
    }

    pub fn invalid(field: &str, rule: &str, message: impl Into<String>) -> Self {
        ApiError::validation(vec![FieldError::new(field, rule, message)])
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            format!("request body is larger than the limit of {limit} bytes"),
        )
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

fn title_of(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

impl IntoResponse for ApiError {
    fn into_response(mut self) -> Response {
        let status = self.status();
        if self.0.request_id.is_none() {
            self.0.request_id = super::edge::current_request_id();
        }
        if status.is_server_error() {
            tracing::error!(detail = %self.0.detail, request_id = ?self.0.request_id, "request failed");
        }
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            // What failed inside (SQL, paths, a driver's output) stays in the log.
            self.0.detail = match &self.0.request_id {
                Some(id) => format!(
                    "the server failed to answer this request; its log has the details under request id {id}"
                ),
                None => "the server failed to answer this request; its log has the details".into(),
            };
            self.0.errors.clear();
        }
        let body = serde_json::to_vec(&*self.0).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response();
        if let Some(seconds) = self.0.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        let detail = e.to_string();
        match e {
            CoreError::Invalid(errors) => ApiError::validation(errors),
            CoreError::Conflict {
                field,
                rule,
                message,
            } => ApiError::new(StatusCode::CONFLICT, "conflict", &message).with_errors(vec![
                FieldError::new(field.unwrap_or_default(), &rule, message),
            ]),
            CoreError::NotFound { .. } => ApiError::not_found(detail),
            CoreError::VersionMismatch { .. } => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                detail,
            ),
            // A transition the state machine refuses is a request that does not fit the
            // resource's current state: a conflict, not a server fault.
            CoreError::IllegalTransition { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", detail)
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Core(core) => core.into(),
            StoreError::IdempotencyMismatch { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-mismatch",
                e.to_string(),
            )
            .with_errors(vec![FieldError::new(
                "Idempotency-Key",
                "idempotency-mismatch",
                e.to_string(),
            )]),
            StoreError::Backend(err) => ApiError::internal(format!("{err:#}")),
            StoreError::Unavailable {
                kind,
                reason,
                context,
            } => {
                tracing::warn!(%context, "the store is unavailable");
                store_unavailable(kind, &reason)
            }
        }
    }
}

/// A store that cannot serve the call now: 503 with `Retry-After`, and SQLite's words for
/// the cause (never SQL or paths).
pub fn store_unavailable(kind: Unavailability, reason: &str) -> ApiError {
    match kind {
        Unavailability::Busy => ApiError::unavailable(
            "store-busy",
            format!("the database is busy ({reason}); retry shortly"),
            1,
        ),
        Unavailability::Storage => ApiError::unavailable(
            "store-unavailable",
            format!("the store cannot write ({reason}); nothing was changed"),
            5,
        ),
    }
}

impl From<SimError> for ApiError {
    fn from(e: SimError) -> Self {
        match e {
            SimError::NotFound(m) => ApiError::not_found(m),
            SimError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            SimError::Invalid(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", m)
            }
            SimError::Unavailable(m) => {
                tracing::warn!(cause = %m, "the simulated clouds cannot record a change");
                ApiError::unavailable(
                    "sim-unavailable",
                    "the simulated clouds cannot record the change (their journal cannot be written); nothing was changed",
                    5,
                )
            }
        }
    }
}
