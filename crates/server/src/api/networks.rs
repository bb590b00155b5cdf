//! `/v1/projects/{p}/networks`: a CIDR block in one provider region.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use isthmus_core::resources::{Network, NetworkCreate, NetworkUpdate};
use isthmus_core::NetworkId;
use isthmus_store::{Kind, Page};

use super::body::JsonBody;
use super::params::{if_match, path_id, PageParams, PageQuery};
use super::problem::{ApiResult, Problem};
use super::respond::{created, idempotency, one};
use super::NetworkPage;
use crate::auth::{InProject, Operator, Viewer};
use crate::state::AppState;

#[utoipa::path(post, path = "/v1/projects/{p}/networks", tag = "networks",
    params(("p" = String, Path, description = "Project id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create return the first result")),
    request_body = NetworkCreate,
    responses((status = 201, description = "Created", body = Network),
              (status = 409, description = "Overlaps another network", body = Problem),
              (status = 422, description = "Invalid", body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    access: InProject<Operator>,
    headers: HeaderMap,
    body: JsonBody<NetworkCreate>,
) -> ApiResult<Response> {
    let idem = idempotency(&access.caller, &headers, &body)?;
    let done = state
        .store
        .create_network(&access.actor(), access.project, &body.value, idem.as_ref())
        .await?;
    let n = done.resource;
    state.enqueue(Kind::Network, n.id.0);
    let path = format!("/v1/projects/{}/networks/{}", n.project_id, n.id);
    Ok(created(done.replayed, path, n.version, &n))
}

#[utoipa::path(get, path = "/v1/projects/{p}/networks", tag = "networks",
    params(("p" = String, Path, description = "Project id"), PageQuery),
    responses((status = 200, description = "One page", body = NetworkPage)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    access: InProject<Viewer>,
    PageParams(page): PageParams,
) -> ApiResult<Json<Page<Network>>> {
    Ok(Json(
        state.store.list_networks(access.project, &page).await?,
    ))
}

#[utoipa::path(get, path = "/v1/projects/{p}/networks/{id}", tag = "networks",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Network id")),
    responses((status = 200, description = "The network", body = Network),
              (status = 404, description = "No such network", body = Problem)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    access: InProject<Viewer>,
    Path(path): Path<(String, String)>,
) -> ApiResult<Response> {
    let id: NetworkId = path_id("network", &path.1)?;
    let n = state.store.get_network(access.project, id).await?;
    Ok(one(StatusCode::OK, n.version, &n))
}

#[utoipa::path(patch, path = "/v1/projects/{p}/networks/{id}", tag = "networks",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Network id"),
           ("If-Match" = Option<String>, Header, description = "Expected version (ETag)")),
    request_body = NetworkUpdate,
    responses((status = 200, description = "Updated", body = Network),
              (status = 412, description = "Stale If-Match", body = Problem),
              (status = 422, description = "Invalid (e.g. an immutable field)", body = Problem)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
    body: JsonBody<NetworkUpdate>,
) -> ApiResult<Response> {
    let id: NetworkId = path_id("network", &path.1)?;
    let n = state
        .store
        .update_network(
            &access.actor(),
            access.project,
            id,
            &body.value,
            if_match(&headers)?,
        )
        .await?;
    state.enqueue(Kind::Network, n.id.0);
    Ok(one(StatusCode::OK, n.version, &n))
}

#[utoipa::path(delete, path = "/v1/projects/{p}/networks/{id}", tag = "networks",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Network id"),
           ("If-Match" = Option<String>, Header, description = "Expected version (ETag)")),
    responses((status = 202, description = "Deleting", body = Network),
              (status = 409, description = "Clusters remain in the network", body = Problem),
              (status = 412, description = "Stale If-Match", body = Problem)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id: NetworkId = path_id("network", &path.1)?;
    let n = state
        .store
        .delete_network(&access.actor(), access.project, id, if_match(&headers)?)
        .await?;
    state.enqueue(Kind::Network, n.id.0);
    // Deleting a network takes its peerings down too: wake them as well.
    for p in state.store.peerings_of(n.id).await? {
        state.enqueue(Kind::Peering, p.id.0);
    }
    Ok(one(StatusCode::ACCEPTED, n.version, &n))
}
