//! `/v1/projects/{p}/me`: the caller's own role in a project, so a client (the web
//! console) can hide controls the caller may not use. Hiding is a courtesy only: every
//! write is still authorized by the handler that performs it.

use axum::Json;
use isthmus_core::resources::Role;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{InProject, Viewer};

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub project_id: String,
    pub role: Role,
}

#[utoipa::path(get, path = "/v1/projects/{p}/me", tag = "tokens",
    params(("p" = String, Path, description = "Project id")),
    responses((status = 200, description = "The caller's role in the project", body = Me)),
    security(("bearer" = [])))]
pub async fn get(access: InProject<Viewer>) -> Json<Me> {
    Json(Me {
        project_id: access.project.to_string(),
        role: access.role,
    })
}
