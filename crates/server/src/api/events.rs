//! `/v1/projects/{p}/events`: the audit log, oldest first.

use axum::extract::State;
use axum::Json;
use isthmus_core::resources::Event;
use isthmus_store::Page;

use super::params::{PageParams, PageQuery};
use super::problem::ApiResult;
use super::EventPage;
use crate::auth::{InProject, Viewer};
use crate::state::AppState;

#[utoipa::path(get, path = "/v1/projects/{p}/events", tag = "events",
    params(("p" = String, Path, description = "Project id"), PageQuery),
    responses((status = 200, description = "One page of the audit log", body = EventPage)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    access: InProject<Viewer>,
    PageParams(page): PageParams,
) -> ApiResult<Json<Page<Event>>> {
    Ok(Json(state.store.list_events(access.project, &page).await?))
}
