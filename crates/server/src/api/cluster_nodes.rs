//! `POST /v1/projects/{p}/clusters/{id}/nodes/{index}/replace`: one node of a running
//! cluster is replaced, as a managed cloud replaces an unhealthy instance. The node keeps
//! its index, zone and DNS name; it gets a new private address in the same network, and
//! the provider makes it anew (on `local`: a new namespace with the new address, and its
//! engine started there). Everything that names the node follows the address by itself:
//! its DNS record, the VPN gateways' grants, the access lists, the analyzer.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use isthmus_core::resources::Cluster;
use isthmus_store::api::Api;

use super::problem::{ApiError, ApiResult};
use super::respond::one;
use crate::auth::{InProject, Operator};
use crate::state::AppState;

/// Gives node `index` a new address and has the provider make it again; the cluster is
/// `updating` until the new node runs. Audited as `cluster.replace_node`.
#[utoipa::path(post, path = "/v1/projects/{p}/clusters/{id}/nodes/{index}/replace", tag = "clusters",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Cluster id or name"),
        ("index" = u32, Path, description = "The node's index (0 for the first node)")),
    responses((status = 202, description = "Accepted: the node has its new address; the cluster is updating until it runs", body = Cluster),
        (status = 404, description = "No such cluster, or no node with that index"),
        (status = 409, description = "The cluster is not running, or its network has no free address"),
        (status = 422, description = "The index is not a node index (a whole number)")),
    security(("bearer" = [])))]
pub async fn replace(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let index: u32 = path.2.parse().map_err(|_| {
        ApiError::invalid(
            "index",
            "node-index",
            format!("'{}' is not a node index (0, 1, 2, …)", path.2),
        )
    })?;
    let cluster = Api::<Cluster>::new(state.store.docs())
        .find(access.project, &path.1)
        .await?;
    let replaced = isthmus_store::replace_node(
        state.store.docs(),
        &access.actor(),
        access.project,
        cluster.id,
        index,
    )
    .await?;
    state.enqueue::<Cluster>(replaced.id.0);
    Ok(one(StatusCode::ACCEPTED, replaced.version, &replaced))
}
