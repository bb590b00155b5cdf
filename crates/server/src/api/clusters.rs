//! `/v1/projects/{p}/clusters`: database clusters placed into a project network.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use isthmus_core::resources::{Cluster, ClusterCreate, ClusterUpdate};
use isthmus_core::ClusterId;
use isthmus_store::{Kind, Page};

use super::body::JsonBody;
use super::params::{if_match, path_id, PageParams, PageQuery};
use super::problem::{ApiResult, Problem};
use super::respond::{created, idempotency, one};
use super::ClusterPage;
use crate::auth::{InProject, Operator, Viewer};
use crate::state::AppState;

#[utoipa::path(post, path = "/v1/projects/{p}/clusters", tag = "clusters",
    params(("p" = String, Path, description = "Project id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create return the first result")),
    request_body = ClusterCreate,
    responses((status = 201, description = "Created", body = Cluster),
              (status = 409, description = "The network is being deleted or full", body = Problem),
              (status = 422, description = "Invalid", body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    access: InProject<Operator>,
    headers: HeaderMap,
    body: JsonBody<ClusterCreate>,
) -> ApiResult<Response> {
    let idem = idempotency(&access.caller, &headers, &body)?;
    let done = state
        .store
        .create_cluster(
            &access.actor(),
            access.project,
            &body.value,
            &state.config.dns_zone,
            idem.as_ref(),
        )
        .await?;
    let c = done.resource;
    state.enqueue(Kind::Cluster, c.id.0);
    let path = format!("/v1/projects/{}/clusters/{}", c.project_id, c.id);
    Ok(created(done.replayed, path, c.version, &c))
}

#[utoipa::path(get, path = "/v1/projects/{p}/clusters", tag = "clusters",
    params(("p" = String, Path, description = "Project id"), PageQuery),
    responses((status = 200, description = "One page", body = ClusterPage)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    access: InProject<Viewer>,
    PageParams(page): PageParams,
) -> ApiResult<Json<Page<Cluster>>> {
    Ok(Json(
        state.store.list_clusters(access.project, &page).await?,
    ))
}

#[utoipa::path(get, path = "/v1/projects/{p}/clusters/{id}", tag = "clusters",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Cluster id")),
    responses((status = 200, description = "The cluster", body = Cluster),
              (status = 404, description = "No such cluster", body = Problem)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    access: InProject<Viewer>,
    Path(path): Path<(String, String)>,
) -> ApiResult<Response> {
    let id: ClusterId = path_id("cluster", &path.1)?;
    let c = state.store.get_cluster(access.project, id).await?;
    Ok(one(StatusCode::OK, c.version, &c))
}

#[utoipa::path(patch, path = "/v1/projects/{p}/clusters/{id}", tag = "clusters",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Cluster id"),
           ("If-Match" = Option<String>, Header, description = "Expected version (ETag)")),
    request_body = ClusterUpdate,
    responses((status = 200, description = "Updated", body = Cluster),
              (status = 412, description = "Stale If-Match", body = Problem),
              (status = 422, description = "Invalid", body = Problem)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
    body: JsonBody<ClusterUpdate>,
) -> ApiResult<Response> {
    let id: ClusterId = path_id("cluster", &path.1)?;
    let c = state
        .store
        .update_cluster(
            &access.actor(),
            access.project,
            id,
            &body.value,
            if_match(&headers)?,
        )
        .await?;
    state.enqueue(Kind::Cluster, c.id.0);
    Ok(one(StatusCode::OK, c.version, &c))
}

#[utoipa::path(delete, path = "/v1/projects/{p}/clusters/{id}", tag = "clusters",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Cluster id"),
           ("If-Match" = Option<String>, Header, description = "Expected version (ETag)")),
    responses((status = 202, description = "Deleting", body = Cluster),
              (status = 412, description = "Stale If-Match", body = Problem)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id: ClusterId = path_id("cluster", &path.1)?;
    let c = state
        .store
        .delete_cluster(&access.actor(), access.project, id, if_match(&headers)?)
        .await?;
    state.enqueue(Kind::Cluster, c.id.0);
    Ok(one(StatusCode::ACCEPTED, c.version, &c))
}
