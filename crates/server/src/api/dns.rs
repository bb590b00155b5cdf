//! `GET /v1/dns/synced`: returns once the platform DNS holds every change written before
//! the call, so a client that waited for a change (`--wait`) can resolve its names at once.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::problem::{ApiError, ApiResult, Problem};
use crate::auth::Caller;
use crate::state::AppState;

/// How long the call waits for the zone; the follower normally needs one poll.
const SYNC_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize, ToSchema)]
pub struct DnsSynced {
    /// The last audit-log seq the zone has applied.
    pub seq: i64,
}

#[utoipa::path(get, path = "/v1/dns/synced", tag = "meta",
    responses((status = 200, description = "The platform DNS holds every change written before the call", body = DnsSynced),
              (status = 503, description = "The platform DNS is behind, or this server runs none", body = Problem)),
    security(("bearer" = [])))]
pub async fn synced(State(state): State<AppState>, _caller: Caller) -> ApiResult<Json<DnsSynced>> {
    let Some(sync) = &state.dns_sync else {
        return Err(ApiError::unavailable(
            "no-platform-dns",
            "this server runs no platform DNS",
            5,
        ));
    };
    match sync.caught_up(SYNC_TIMEOUT).await {
        Ok(seq) => Ok(Json(DnsSynced { seq })),
        Err(e) => Err(ApiError::unavailable("dns-behind", format!("{e:#}"), 1)),
    }
}
