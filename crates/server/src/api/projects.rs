//! `/v1/projects`: the tenant boundary. Any token may create one and becomes its admin.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use isthmus_core::resources::{Project, ProjectCreate};
use isthmus_core::ProjectId;
use isthmus_store::Page;

use super::body::JsonBody;
use super::params::{PageParams, PageQuery};
use super::problem::{ApiResult, Problem};
use super::respond::{created, one};
use super::ProjectPage;
use crate::auth::{Caller, InProject, Viewer};
use crate::state::AppState;

#[utoipa::path(post, path = "/v1/projects", tag = "projects",
    request_body = ProjectCreate,
    responses((status = 201, description = "Created; the caller is its admin", body = Project),
              (status = 422, description = "Invalid", body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<ProjectCreate>,
) -> ApiResult<Response> {
    // The superuser is admin everywhere already; anyone else becomes this project's admin.
    let owner = (!caller.is_superuser()).then_some(caller.token.id);
    let p = state
        .store
        .create_project(&caller.actor(), &body.value, owner)
        .await?;
    Ok(created(
        false,
        format!("/v1/projects/{}", p.id),
        p.version,
        &p,
    ))
}

#[utoipa::path(get, path = "/v1/projects", tag = "projects",
    params(PageQuery),
    responses((status = 200, description = "The projects this token can see", body = ProjectPage)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PageParams(page): PageParams,
) -> ApiResult<Json<Page<Project>>> {
    let visible: Option<Vec<ProjectId>> =
        (!caller.is_superuser()).then(|| caller.memberships.iter().map(|m| m.project_id).collect());
    Ok(Json(
        state.store.list_projects(visible.as_deref(), &page).await?,
    ))
}

#[utoipa::path(get, path = "/v1/projects/{p}", tag = "projects",
    params(("p" = String, Path, description = "Project id")),
    responses((status = 200, description = "The project", body = Project),
              (status = 404, description = "No such project, or no role in it", body = Problem)),
    security(("bearer" = [])))]
pub async fn get(State(state): State<AppState>, access: InProject<Viewer>) -> ApiResult<Response> {
    let p = state.store.get_project(access.project).await?;
    Ok(one(StatusCode::OK, p.version, &p))
}
