//! `/v1/projects/{p}/events`: the audit log, oldest first. With `wait`, a long poll: a
//! follower (`isthmus events --follow`) passes the last `seq` it saw as the cursor and
//! the answer comes as soon as a later event is in the log, or empty when `wait` runs
//! out, so it neither re-reads the log nor waits a polling period for news.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::{Extension, Json};
use isthmus_core::resources::Event;
use isthmus_store::Page;
use serde::Deserialize;
use tokio::time::Instant;
use utoipa::IntoParams;

use super::edge::RequestTimeout;
use super::params::{PageParams, PageQuery};
use super::problem::{ApiError, ApiResult};
use super::EventPage;
use crate::auth::{InProject, Viewer};
use crate::state::AppState;

/// The longest a request waits for an event.
const MAX_WAIT: Duration = Duration::from_secs(20);
/// How often a waiting request looks at the log (one indexed read of the project's
/// events after the cursor).
const LOOK_EVERY: Duration = Duration::from_millis(100);

/// `?wait=SECS`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// When no event follows the cursor yet, wait up to this many seconds (at most 20)
    /// for one; the answer is empty if none came.
    pub wait: Option<String>,
}

#[utoipa::path(get, path = "/v1/projects/{p}/events", tag = "events",
    params(("p" = String, Path, description = "Project id"), PageQuery, WaitQuery),
    responses((status = 200, description = "One page of the audit log", body = EventPage)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    access: InProject<Viewer>,
    PageParams(page): PageParams,
    Query(wait): Query<WaitQuery>,
    limit: Option<Extension<RequestTimeout>>,
) -> ApiResult<Json<Page<Event>>> {
    let wait = match wait.wait.as_deref() {
        None | Some("") => Duration::ZERO,
        Some(text) => text.parse::<u64>().map(Duration::from_secs).map_err(|_| {
            ApiError::invalid(
                "wait",
                "seconds",
                format!("wait must be a whole number of seconds, got '{text}'"),
            )
        })?,
    };
    // Well inside the server's own time limit, which would end the request otherwise.
    let cap = limit.map_or(MAX_WAIT, |Extension(RequestTimeout(t))| {
        (t / 2).min(MAX_WAIT)
    });
    let deadline = Instant::now() + wait.min(cap);
    loop {
        let events = state.store.list_events(access.project, &page).await?;
        if !events.items.is_empty() || Instant::now() >= deadline {
            return Ok(Json(events));
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}
