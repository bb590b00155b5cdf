//! `POST /v1/projects/{p}/migrations/{id}/reach`: may the migration's replicator connect
//! to its source (each source URL's address and port, or the address and port asked
//! about), hop by hop, and if not, why and what to change. The analysis is the core's
//! (`isthmus_core::reach::migration`), on the project's networks and peerings and the
//! lab VPCs, the same model the `reachability` route uses for connections into clusters.

use axum::extract::{Path, State};
use axum::Json;
use isthmus_core::kinds::migration::Migration;
use isthmus_core::reach::migration::{migration_egress, source_destinations, MigrationReach};
use isthmus_store::api::Api;
use serde::Deserialize;
use utoipa::ToSchema;

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
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Migration id or name")),
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
    let m: Migration = Api::new(state.store.docs())
        .find(access.project, &path.1)
        .await?;
    let destinations = match &req.to {
        Some(to) => {
            let ip = to.parse().map_err(|_| {
                ApiError::invalid("to", "ip-address", format!("'{to}' is not an IPv4 address"))
            })?;
            vec![(ip, req.port.unwrap_or(4222))]
        }
        None => source_destinations(&m),
    };
    // The same snapshot as the reachability route: networks, peerings, lab VPCs and more.
    let snapshot = super::reach::snapshot(&state, access.project).await?;
    let checks: Vec<_> = destinations
        .into_iter()
        .map(|(ip, port)| migration_egress(&snapshot, &m, ip, port))
        .collect();
    Ok(Json(MigrationReach {
        allowed: checks.iter().all(|c| c.verdict.allowed),
        checks,
    }))
}
