//! What every request passes through on its way in and out, whatever its route:
//! a request id, a time limit, a caught panic, and errors that are always problem+json.
//!
//! Order (outermost first, see [`super::router`]): request id → metrics → problem+json for
//! every error → caught panics → time limit → the route.

use std::any::Any;
use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use super::problem::{ApiError, CONTENT_TYPE};

/// Wraps every route of `router` in the edge's layers: request id (outermost), every
/// error as problem+json, a panic as a 500 problem, the request's time limit.
pub fn layers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(middleware::from_fn(time_limit))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(problem_errors))
        .layer(middleware::from_fn(request_id))
}

/// The header that carries the request id on every response.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    /// The id of the request this task is answering (set by [`request_id`]).
    static REQUEST_ID: String;
}

/// A new request id: 32 lowercase hex characters.
pub fn new_request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The id of the request being answered, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}

/// Middleware: gives every request an id of the server's own (a caller-chosen id could
/// be made to look like another request's in the logs), makes it known to whatever
/// answers, and sends it back as `x-request-id`.
pub async fn request_id(req: Request, next: Next) -> Response {
    let id = new_request_id();
    // Every log line written while answering carries the id.
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = REQUEST_ID
        .scope(id.clone(), next.run(req).instrument(span))
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// How long a request may take, put on the request by the HTTP server (absent: no limit).
#[derive(Debug, Clone, Copy)]
pub struct RequestTimeout(pub Duration);

/// Routes that carry their own, longer time limit and are exempt from [`RequestTimeout`].
const OWN_TIME_LIMIT: &[&str] = &["/v1/lab/vpcs/{name}/hosts/{host}/exec"];

/// Middleware: answers 504 problem+json when the route takes longer than the request's
/// [`RequestTimeout`]. The handler's future is dropped then, as when the client goes away.
pub async fn time_limit(req: Request, next: Next) -> Response {
    let limit = req.extensions().get::<RequestTimeout>().map(|t| t.0);
    let exempt = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| OWN_TIME_LIMIT.contains(&p.as_str()));
    match limit {
        Some(limit) if !exempt => match tokio::time::timeout(limit, next.run(req)).await {
            Ok(response) => response,
            Err(_) => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                format!(
                    "the request did not finish within the server's limit of {} s; \
                     a write may still have happened: read the resource before retrying",
                    limit.as_secs_f64()
                ),
            )
            .into_response(),
        },
        _ => next.run(req).await,
    }
}

/// For `CatchPanicLayer`: a handler that panicked answers 500 problem+json (the panic is
/// logged with the request id; its message is not sent).
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    ApiError::internal(format!("handler panicked: {message}")).into_response()
}

/// The largest error body from elsewhere (axum's extractors, the router) that is read to
/// become a problem's detail.
const FOREIGN_ERROR_LIMIT: usize = 16 * 1024;

/// Middleware: an error response that is not problem+json yet (axum's own rejections,
/// for example) becomes one, with the same status and, for a 4xx, its text as detail.
pub async fn problem_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(CONTENT_TYPE.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, FOREIGN_ERROR_LIMIT).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let mut problem = foreign_error(status, text).into_response();
    // Headers that belong to the status (Allow with 405, Retry-After) are kept.
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(value) = parts.headers.get(&name) {
            problem.headers_mut().insert(name, value.clone());
        }
    }
    problem
}

/// The problem for an error response that came from outside our handlers.
pub fn foreign_error(status: StatusCode, text: String) -> ApiError {
    let reason = status.canonical_reason().unwrap_or("Error");
    let kind = match status {
        StatusCode::NOT_FOUND => "not-found".to_string(),
        StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large".to_string(),
        _ if status.is_server_error() => "internal".to_string(),
        _ => reason.to_ascii_lowercase().replace(' ', "-"),
    };
    let detail = if text.is_empty() || status.is_server_error() {
        reason.to_string()
    } else {
        text.chars().take(500).collect()
    };
    ApiError::new(status, &kind, detail)
}

/// The bytes of a complete HTTP/1.1 problem+json response that closes the connection:
/// what the server sends for a request too malformed to reach the router.
pub fn raw_problem_response(status: StatusCode, detail: &str) -> Vec<u8> {
    let id = new_request_id();
    tracing::info!(request_id = %id, status = status.as_u16(), "refused a malformed request: {detail}");
    let mut problem = foreign_error(status, detail.to_string());
    problem.0.request_id = Some(id.clone());
    let body = serde_json::to_vec(&*problem.0).unwrap_or_else(|_| b"{}".to_vec());
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {CONTENT_TYPE}\r\ncontent-length: {}\r\n\
         connection: close\r\nx-request-id: {id}\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error"),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use serde_json::Value;
    use tower::ServiceExt;

    async fn call(router: Router, path: &str, timeout: Option<Duration>) -> (Response, Value) {
        let mut req = Request::builder()
            .uri(path)
            .body(axum::body::Body::empty())
            .unwrap();
        if let Some(limit) = timeout {
            req.extensions_mut().insert(RequestTimeout(limit));
        }
        let response = layers(router).oneshot(req).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (Response::from_parts(parts, axum::body::Body::empty()), json)
    }

    fn assert_problem(response: &Response, body: &Value, status: u16) {
        assert_eq!(response.status().as_u16(), status, "{body:#}");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(body["status"], status);
        assert_eq!(
            body["request_id"].as_str(),
            response.headers()[&REQUEST_ID_HEADER].to_str().ok()
        );
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_a_500_problem_without_its_message() {
        let router = Router::new().route(
            "/boom",
            get(|| async {
                if true {
                    panic!("secret /var/lib/isthmus/isthmus.db");
                }
                "unreachable"
            }),
        );
        let (response, body) = call(router, "/boom", None).await;
        assert_problem(&response, &body, 500);
        let detail = body["detail"].as_str().unwrap();
        assert!(!detail.contains("secret"), "{detail}");
        assert!(
            detail.contains(body["request_id"].as_str().unwrap()),
            "{detail}"
        );
    }

    #[tokio::test]
    async fn an_internal_error_keeps_its_text_in_the_log() {
        let router = Router::new().route(
            "/fail",
            get(|| async {
                ApiError::internal("SELECT * FROM tokens: disk I/O error at /srv/data/isthmus.db")
            }),
        );
        let (response, body) = call(router, "/fail", None).await;
        assert_problem(&response, &body, 500);
        let text = body.to_string();
        assert!(!text.contains("SELECT") && !text.contains("/srv"), "{text}");
    }

    #[tokio::test]
    async fn a_request_past_its_time_limit_is_a_504_problem() {
        let router = Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "late"
            }),
        );
        let (response, body) = call(router, "/slow", Some(Duration::from_millis(50))).await;
        assert_problem(&response, &body, 504);
        assert_eq!(body["type"], "urn:isthmus:problem:timeout");
    }

    #[tokio::test]
    async fn errors_from_outside_the_handlers_become_problems() {
        let router = Router::new()
            .route(
                "/text",
                get(|| async { (StatusCode::BAD_REQUEST, "plain words") }),
            )
            .route(
                "/empty",
                get(|| async { (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET")]) }),
            )
            .route(
                "/bare500",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "at /etc/secret") }),
            );
        let (response, body) = call(router.clone(), "/text", None).await;
        assert_problem(&response, &body, 400);
        assert_eq!(body["detail"], "plain words");
        let (response, body) = call(router.clone(), "/empty", None).await;
        assert_problem(&response, &body, 405);
        assert_eq!(response.headers()[header::ALLOW], "GET");
        let (response, body) = call(router, "/bare500", None).await;
        assert_problem(&response, &body, 500);
        assert!(!body.to_string().contains("/etc/secret"));
    }
}
