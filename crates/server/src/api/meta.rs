//! The endpoints about the service itself: health and the OpenAPI document.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use isthmus_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

use super::problem::{ApiError, Problem};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

#[utoipa::path(get, path = "/healthz", tag = "meta",
    responses((status = 200, description = "The server answers and its store can write", body = Health),
              (status = 503, description = "The store cannot write (the reason is in `detail`)", body = Problem)))]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    match state.store.write_health().await {
        Ok(()) => Ok(Json(Health {
            status: "ok".into(),
        })),
        Err(StoreError::Unavailable { reason, .. }) => Err(unhealthy(&reason)),
        Err(e) => {
            tracing::warn!(error = %e, "the store's write probe failed");
            Err(unhealthy("see the server log"))
        }
    }
}

fn unhealthy(reason: &str) -> ApiError {
    ApiError::unavailable(
        "store-unavailable",
        format!("the store cannot write: {reason}"),
        5,
    )
}

#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "This API as OpenAPI 3", content_type = "application/json")))]
pub async fn openapi() -> Response {
    // Built once: the document is a function of the code, not of any request.
    static DOC: OnceLock<String> = OnceLock::new();
    let doc = DOC.get_or_init(|| {
        super::openapi::document()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    });
    ([(header::CONTENT_TYPE, "application/json")], doc.clone()).into_response()
}

/// Any path no route matches.
pub async fn no_route() -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// A known path with a method it does not have.
pub async fn no_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this endpoint does not support that method",
    )
}

/// `GET /v1/leader`: this replica, and which replica runs the controller under which
/// lease epoch since when (on SQLite the one process, epoch 0).
#[utoipa::path(get, path = "/v1/leader", tag = "meta",
    responses((status = 200, description = "Who runs the controller", body = crate::leader::LeaderStatus)),
    security(("bearer" = [])))]
pub async fn leader(
    _caller: crate::auth::Caller,
    State(state): State<AppState>,
) -> Json<crate::leader::LeaderStatus> {
    Json(state.leadership.status())
}
