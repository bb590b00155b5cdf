//! `POST /v1/projects/{p}/migrations/{id}/reach`: may the migration's replicator connect
//! to its source (each source URL's address and port, or the address and port asked
//! about), hop by hop, and if not, why and what to change. The analysis is the core's
//! (`isthmus_core::reach::migration`), on the project's networks and peerings and the
//! lab VPCs, the same model the `reachability` route uses for connections into clusters.

use axum::extract::{Path, State};
use axum::Json;
use isthmus_core::kinds::migration::Migration;
use isthmus_core::reach::migration::{migration_egress, source_destinations, MigrationReach};
use isthmus_core::reach::ReachSnapshot;
use isthmus_core::resources::{Network, Peering};
use isthmus_core::{Id, ProjectId};
use isthmus_store::api::Api;
use isthmus_store::{Page, PageRequest};
use serde::Deserialize;
use utoipa::ToSchema;

use super::params::path_id;
use super::problem::{ApiError, ApiResult};
use crate::auth::{InProject, Viewer};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrationReachRequest {
    /// An IPv4 address; default: each source URL's address and port.
    pub to: Option<String>,
    /// TCP port (with `to`; default 4222, the NATS client port).
    pub port: Option<u16>,
}

/// Explains whether the replicator reaches its source (or `to`:`port`).
#[utoipa::path(post, path = "/v1/projects/{p}/migrations/{id}/reach", tag = "migrations",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Migration id")),
    request_body = MigrationReachRequest,
    responses((status = 200, description = "One verdict per destination, hop by hop", body = MigrationReach),
        (status = 404, description = "No such migration", body = super::Problem),
        (status = 422, description = "`to` is not an IPv4 address", body = super::Problem)),
    security(("bearer" = [])))]
pub async fn reach(
    State(state): State<AppState>,
    access: InProject<Viewer>,
    Path(path): Path<(String, String)>,
    body: Option<Json<MigrationReachRequest>>,
) -> ApiResult<Json<MigrationReach>> {
    let req = body.map(|b| b.0).unwrap_or_default();
    let id: Id = path_id("migration", &path.1)?;
    let m: Migration = Api::new(state.store.docs()).get(access.project, id).await?;
    let destinations = match &req.to {
        Some(to) => {
            let ip = to.parse().map_err(|_| {
                ApiError::invalid("to", "ip-address", format!("'{to}' is not an IPv4 address"))
            })?;
            vec![(ip, req.port.unwrap_or(4222))]
        }
        None => source_destinations(&m),
    };
    let snapshot = snapshot(&state, access.project).await?;
    let checks: Vec<_> = destinations
        .into_iter()
        .map(|(ip, port)| migration_egress(&snapshot, &m, ip, port))
        .collect();
    Ok(Json(MigrationReach {
        allowed: checks.iter().all(|c| c.verdict.allowed),
        checks,
    }))
}

/// What the egress model reads: the project's networks and peerings, the lab VPCs.
async fn snapshot(state: &AppState, project: ProjectId) -> ApiResult<ReachSnapshot> {
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
        lab_vpcs: store.list_lab_vpcs().await?,
        ..ReachSnapshot::default()
    })
}

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
