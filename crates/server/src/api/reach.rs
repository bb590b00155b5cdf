//! `POST /v1/projects/{p}/reachability`: may this source connect to that cluster, node or
//! DNS name on that port, hop by hop, with the fix for a denial. The analysis is the
//! core's (`isthmus_core::reach`), run on a snapshot of the project read from the store
//! and kept, indexed, while it is current (`cache::reach`).

use axum::extract::State;
use axum::Json;
use isthmus_core::kinds::endpoint_service::EndpointService;
use isthmus_core::kinds::vpn_client::VpnClient;
use isthmus_core::kinds::vpn_gateway::VpnGateway;
use isthmus_core::reach::{
    LabEndpointRef, ReachError, ReachIndex, ReachSnapshot, Reachability, Source,
};
use isthmus_core::resources::{Cluster, Network, Peering};
use isthmus_core::ProjectId;
use isthmus_store::api::Api;
use isthmus_store::{Page, PageRequest};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body::JsonBody;
use super::problem::{ApiError, ApiResult};
use crate::auth::{InProject, Viewer};
use crate::cache::reach::ReachCache;
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReachabilityRequest {
    /// An IPv4 address, a lab host as `VPC/HOST`, or an internet host as `internet/HOST`.
    pub from: String,
    /// A cluster id or DNS name (every node), a node DNS name, `<cluster-id>-<n>` or node IP.
    pub to: String,
    /// TCP port; default: the engine's first port.
    #[serde(default)]
    pub port: Option<u16>,
}

#[utoipa::path(post, path = "/v1/projects/{p}/reachability", tag = "reachability",
    params(("p" = String, Path, description = "Project id")),
    request_body = ReachabilityRequest,
    responses((status = 200, description = "The verdict per destination node", body = Reachability),
              (status = 404, description = "The source or destination does not resolve", body = super::Problem),
              (status = 422, description = "Invalid", body = super::Problem)),
    security(("bearer" = [])))]
pub async fn analyze(
    State(state): State<AppState>,
    access: InProject<Viewer>,
    body: JsonBody<ReachabilityRequest>,
) -> ApiResult<Json<Reachability>> {
    let req = body.value;
    let source: Source = req
        .from
        .parse()
        .map_err(|e: String| ApiError::invalid("from", "source-syntax", e))?;
    let verdict = match &state.caches {
        Some(caches) => {
            ReachCache::analyze(&state, caches, access.project, source, req.to, req.port).await?
        }
        None => {
            let snapshot = snapshot(&state, access.project).await?;
            ReachIndex::new(&snapshot).analyze(&source, &req.to, req.port)
        }
    };
    verdict.map(Json).map_err(|e| match e {
        ReachError::UnknownSource(_) | ReachError::UnknownDestination(_) => {
            ApiError::not_found(e.to_string())
        }
    })
}

/// The project's live networks, peerings and clusters, and every lab VPC.
pub(crate) async fn snapshot(state: &AppState, project: ProjectId) -> ApiResult<ReachSnapshot> {
    let store = &state.store;
    Ok(ReachSnapshot {
        networks: all(|page| async move {
            Api::<Network>::new(store.docs()).list(project, &page).await
        })
        .await?,
        peerings: all(|page| async move {
            Api::<Peering>::new(store.docs()).list(project, &page).await
        })
        .await?,
        clusters: all(|page| async move {
            Api::<Cluster>::new(store.docs()).list(project, &page).await
        })
        .await?,
        lab_vpcs: store.list_lab_vpcs().await?,
        internet_hosts: store.list_internet_hosts().await?,
        endpoint_services: all(|page| async move {
            Api::<EndpointService>::new(store.docs())
                .list(project, &page)
                .await
        })
        .await?,
        vpn_gateways: all(|page| async move {
            Api::<VpnGateway>::new(store.docs())
                .list(project, &page)
                .await
        })
        .await?,
        // Revoked ones too: `reach --from vpn/NAME` of a revoked client says so (with the
        // fix: a new client), rather than not knowing the name.
        vpn_clients: all(|page| async move {
            let page = PageRequest {
                include_deleted: true,
                ..page
            };
            Api::<VpnClient>::new(store.docs())
                .list(project, &page)
                .await
        })
        .await?,
        lab_endpoints: lab_endpoints(state),
    })
}

/// The lab's endpoints as the local driver holds them now (in memory, not in the store).
pub(crate) fn lab_endpoints(state: &AppState) -> Vec<LabEndpointRef> {
    state
        .local
        .as_deref()
        .map(|local| {
            local
                .lab_endpoints()
                .into_iter()
                .map(|e| LabEndpointRef {
                    vpc: e.vpc,
                    name: e.name,
                    service: e.service,
                    ip: e.ip,
                    node_ips: e.node_ips,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every page of a list.
async fn all<T, F, Fut>(list: F) -> ApiResult<Vec<T>>
where
    F: Fn(PageRequest) -> Fut,
    Fut: std::future::Future<Output = isthmus_store::Result<Page<T>>>,
{
    let mut items = Vec::new();
    let mut page = PageRequest {
        cursor: None,
        limit: 1000,
        include_deleted: false,
    };
    loop {
        let got = list(page.clone()).await?;
        items.extend(got.items);
        match got.next_cursor {
            Some(next) => page.cursor = Some(next),
            None => return Ok(items),
        }
    }
}
