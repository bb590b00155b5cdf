//! `/v1/projects/{p}/ca.pem`: the installation CA's certificate, which clients trust to
//! verify every node's TLS certificate.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::problem::{ApiError, ApiResult};
use crate::auth::{InProject, Viewer};
use crate::state::AppState;

/// The media type of a PEM file, so browsers and `curl -OJ` treat it as one.
pub const PEM_CONTENT_TYPE: &str = "application/x-pem-file";

#[utoipa::path(get, path = "/v1/projects/{p}/ca.pem", tag = "tls",
    params(("p" = String, Path, description = "Project id")),
    responses((status = 200, description = "The installation CA certificate (PEM)",
        content_type = "application/x-pem-file", body = String)),
    security(("bearer" = [])))]
pub async fn get(State(state): State<AppState>, _access: InProject<Viewer>) -> ApiResult<Response> {
    // One CA per installation: every project with access gets the same certificate.
    let ca = state
        .ca
        .as_ref()
        .ok_or_else(|| ApiError::not_found("this server runs without an installation CA"))?;
    Ok((
        [
            (header::CONTENT_TYPE, PEM_CONTENT_TYPE),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"ca.pem\"",
            ),
        ],
        ca.cert_pem().to_string(),
    )
        .into_response())
}
