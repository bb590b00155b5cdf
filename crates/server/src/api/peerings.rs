//! `/v1/projects/{p}/peerings`: links from a project network to a customer's VPC/VNet.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use isthmus_core::resources::{Peering, PeeringCreate, PeeringUpdate};
use isthmus_core::PeeringId;
use isthmus_store::{Kind, Page};

use super::body::JsonBody;
use super::params::{if_match, path_id, PageParams, PageQuery};
use super::problem::{ApiResult, Problem};
use super::respond::{created, idempotency, one};
use super::PeeringPage;
use crate::auth::{InProject, Operator, Viewer};
use crate::state::AppState;

#[utoipa::path(post, path = "/v1/projects/{p}/peerings", tag = "peerings",
    params(("p" = String, Path, description = "Project id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create return the first result")),
    request_body = PeeringCreate,
    responses((status = 201, description = "Created", body = Peering),
              (status = 409, description = "A route overlaps another peering's", body = Problem),
              (status = 422, description = "Invalid", body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    access: InProject<Operator>,
    headers: HeaderMap,
    body: JsonBody<PeeringCreate>,
) -> ApiResult<Response> {
    let idem = idempotency(&access.caller, &headers, &body)?;
    let done = state
        .store
        .create_peering(&access.actor(), access.project, &body.value, idem.as_ref())
        .await?;
    let p = done.resource;
    state.enqueue(Kind::Peering, p.id.0);
    let path = format!("/v1/projects/{}/peerings/{}", p.project_id, p.id);
    Ok(created(done.replayed, path, p.version, &p))
}

#[utoipa::path(get, path = "/v1/projects/{p}/peerings", tag = "peerings",
    params(("p" = String, Path, description = "Project id"), PageQuery),
    responses((status = 200, description = "One page", body = PeeringPage)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    access: InProject<Viewer>,
    PageParams(page): PageParams,
) -> ApiResult<Json<Page<Peering>>> {
    Ok(Json(
        state.store.list_peerings(access.project, &page).await?,
    ))
}

#[utoipa::path(get, path = "/v1/projects/{p}/peerings/{id}", tag = "peerings",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Peering id")),
    responses((status = 200, description = "The peering", body = Peering),
              (status = 404, description = "No such peering", body = Problem)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    access: InProject<Viewer>,
    Path(path): Path<(String, String)>,
) -> ApiResult<Response> {
    let id: PeeringId = path_id("peering", &path.1)?;
    let p = state.store.get_peering(access.project, id).await?;
    Ok(one(StatusCode::OK, p.version, &p))
}

#[utoipa::path(patch, path = "/v1/projects/{p}/peerings/{id}", tag = "peerings",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Peering id"),
           ("If-Match" = Option<String>, Header, description = "Expected version (ETag)")),
    request_body = PeeringUpdate,
    responses((status = 200, description = "Updated; the data plane follows", body = Peering),
              (status = 412, description = "Stale If-Match", body = Problem),
              (status = 422, description = "Invalid", body = Problem)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
    body: JsonBody<PeeringUpdate>,
) -> ApiResult<Response> {
    let id: PeeringId = path_id("peering", &path.1)?;
    let p = state
        .store
        .update_peering(
            &access.actor(),
            access.project,
            id,
            &body.value,
            if_match(&headers)?,
        )
        .await?;
    state.enqueue(Kind::Peering, p.id.0);
    Ok(one(StatusCode::OK, p.version, &p))
}

#[utoipa::path(delete, path = "/v1/projects/{p}/peerings/{id}", tag = "peerings",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Peering id"),
           ("If-Match" = Option<String>, Header, description = "Expected version (ETag)")),
    responses((status = 202, description = "Deleting", body = Peering),
              (status = 412, description = "Stale If-Match", body = Problem)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id: PeeringId = path_id("peering", &path.1)?;
    let p = state
        .store
        .delete_peering(&access.actor(), access.project, id, if_match(&headers)?)
        .await?;
    state.enqueue(Kind::Peering, p.id.0);
    Ok(one(StatusCode::ACCEPTED, p.version, &p))
}

/// Re-observes the peering now instead of at the next resync.
#[utoipa::path(post, path = "/v1/projects/{p}/peerings/{id}/refresh", tag = "peerings",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Peering id")),
    responses((status = 202, description = "Queued for re-observation", body = Peering)),
    security(("bearer" = [])))]
pub async fn refresh(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String)>,
) -> ApiResult<Response> {
    let id: PeeringId = path_id("peering", &path.1)?;
    let p = state.store.get_peering(access.project, id).await?;
    state.enqueue(Kind::Peering, p.id.0);
    Ok(one(StatusCode::ACCEPTED, p.version, &p))
}
