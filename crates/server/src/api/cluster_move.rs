//! `POST /v1/projects/{p}/clusters/{id}/move` and `…/move/cancel` (or `DELETE …/move`):
//! moving a running cluster to another network of its project without changing its
//! names. The rules are the core's (`kinds::cluster_move`); the controller carries the
//! move through its phases, visible in the cluster's `network_move` and status.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use isthmus_core::kinds::cluster_move::ClusterMoveRequest;
use isthmus_core::resources::{Cluster, Network, Provider};
use isthmus_core::{CoreError, Id, NetworkId, ProjectId};
use isthmus_store::api::Api;

use super::body::JsonBody;
use super::problem::ApiResult;
use super::resources::object_id;
use super::respond::one;
use crate::auth::{InProject, Operator};
use crate::state::AppState;

/// Starts moving the cluster: new nodes in the target network, the data brought to them,
/// the names switched, the old nodes drained and deleted.
#[utoipa::path(post, path = "/v1/projects/{p}/clusters/{id}/move", tag = "clusters",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Cluster id or name")),
    request_body = ClusterMoveRequest,
    responses((status = 202, description = "Moving; `network_move` shows the phase", body = Cluster),
        (status = 422, description = "Another project's network, the same network, another driver, sources that would lose access (named; allow with allow_lost_access); on the local driver a single-node cluster (topology: multi-node-move) or overlapping network ranges (network_id: disjoint-cidrs)"),
        (status = 409, description = "The target has no room for the nodes, or the cluster is not running or already moving")),
    security(("bearer" = [])))]
pub async fn start(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String)>,
    body: JsonBody<ClusterMoveRequest>,
) -> ApiResult<Response> {
    let req = body.value;
    let id = object_id::<Cluster>(&state, access.project, &path.1).await?;
    let target = target_network(&state, access.project, &req.network_id).await?;
    let cluster = Api::<Cluster>::new(state.store.docs())
        .get(access.project, id)
        .await?;
    let source = Api::<Network>::new(state.store.docs())
        .get(cluster.project_id, cluster.network_id.0)
        .await?;
    if target.provider == Provider::Local
        && source.provider == Provider::Local
        && target.id != source.id
    {
        local_rules(&cluster, &source, &target)?;
    }
    let moved = isthmus_store::start_cluster_move(
        state.store.docs(),
        &access.actor(),
        access.project,
        id,
        target.id,
        req,
    )
    .await?;
    state.enqueue::<Cluster>(moved.id.0);
    Ok(one(StatusCode::ACCEPTED, moved.version, &moved))
}

/// Cancels a move whose names have not switched yet: the new nodes are deleted and the
/// cluster stays where it is. After the switch: 409 `move-past-switch`.
#[utoipa::path(post, path = "/v1/projects/{p}/clusters/{id}/move/cancel", tag = "clusters",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Cluster id or name")),
    responses((status = 202, description = "Cancelling; the new nodes are removed", body = Cluster),
        (status = 409, description = "Not moving, or the names already switched")),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String)>,
) -> ApiResult<Response> {
    let id = object_id::<Cluster>(&state, access.project, &path.1).await?;
    let c =
        isthmus_store::cancel_cluster_move(state.store.docs(), &access.actor(), access.project, id)
            .await?;
    state.enqueue::<Cluster>(c.id.0);
    Ok(one(StatusCode::ACCEPTED, c.version, &c))
}

/// The same as `POST …/move/cancel`.
#[utoipa::path(delete, path = "/v1/projects/{p}/clusters/{id}/move", tag = "clusters",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Cluster id or name")),
    responses((status = 202, description = "Cancelling; the new nodes are removed", body = Cluster),
        (status = 409, description = "Not moving, or the names already switched")),
    security(("bearer" = [])))]
pub async fn cancel_by_delete(
    state: State<AppState>,
    access: InProject<Operator>,
    path: Path<(String, String)>,
) -> ApiResult<Response> {
    cancel(state, access, path).await
}

/// What a move on the `local` driver cannot do: its engines replicate to the new nodes
/// as members of one cluster, so a single node (no cluster to join) cannot move, and the
/// link between the two routers routes the nodes' addresses of both sides, so the two
/// networks' ranges must not overlap (networks in different regions may).
fn local_rules(cluster: &Cluster, source: &Network, target: &Network) -> ApiResult<()> {
    if cluster.nodes.len() < 2 && crate::nodes::moving::replicates(cluster) {
        return Err(CoreError::invalid(
            "topology",
            "multi-node-move",
            format!(
                "cluster {} has a single node: on the local driver a cluster moves by its \
                 engine's own replication to new nodes that join it, and a single node has \
                 no cluster to join; use a migration into a new cluster instead",
                cluster.id
            ),
        )
        .into());
    }
    if source.cidr_block.overlaps(&target.cidr_block) {
        return Err(CoreError::invalid(
            "network_id",
            "disjoint-cidrs",
            format!(
                "network {} ({}) overlaps the cluster's network {} ({}): during the move \
                 the two networks are linked and route each other's node addresses",
                target.id, target.cidr_block, source.id, source.cidr_block
            ),
        )
        .into());
    }
    Ok(())
}

/// The target network by name or id in `project`; an id of another project's network is
/// a 422 naming `network_id` (not a 404: the caller named it on purpose).
async fn target_network(state: &AppState, project: ProjectId, given: &str) -> ApiResult<Network> {
    let api = Api::<Network>::new(state.store.docs());
    match api.find(project, given).await {
        Ok(n) => Ok(n),
        Err(e) => {
            if let Ok(id) = given.parse::<Id>() {
                if let Ok(Some(other)) = api.load(id).await {
                    if other.project_id != project {
                        return Err(CoreError::invalid(
                            "network_id",
                            "same-project",
                            format!(
                                "network {} is in another project; a cluster moves only \
                                 within its project",
                                NetworkId(id)
                            ),
                        )
                        .into());
                    }
                }
            }
            match e {
                isthmus_store::StoreError::Core(CoreError::NotFound { .. }) => {
                    Err(CoreError::invalid(
                        "network_id",
                        "known-network",
                        format!("no network '{given}' in this project"),
                    )
                    .into())
                }
                other => Err(other.into()),
            }
        }
    }
}
