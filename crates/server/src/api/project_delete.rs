//! `DELETE /v1/projects/{p}`: an empty project goes at once (204). One with live objects
//! answers 409 `project-not-empty` naming them, unless the caller asks for `cascade=true`:
//! then every object is marked for deletion (what owns others with cascade, the rest as
//! they come free) and the answer is 202 with what is still being torn down. The
//! project itself goes on the first delete that finds it empty: objects with cloud
//! resources behind them are gone only once their controller has removed those, and
//! a project row dropped before would orphan them. The CLI repeats the request until
//! it answers 204.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use isthmus_core::resources::Project;
use isthmus_store::doc::DELETING;
use isthmus_store::PageRequest;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::params::CascadeParam;
use super::problem::{ApiError, ApiResult, Problem};
use crate::auth::{Admin, InProject};
use crate::kinds::KINDS;
use crate::state::AppState;

/// A project whose objects are being deleted before it goes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProjectDeleting {
    pub project: Project,
    /// The objects still there, each `deleting` or waiting for what it holds to go.
    pub remaining: Vec<Remaining>,
}

/// One object a project delete waits for.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Remaining {
    pub kind: String,
    pub id: String,
    pub name: String,
    pub status: String,
}

#[utoipa::path(delete, path = "/v1/projects/{p}", tag = "projects",
    params(("p" = String, Path, description = "Project id"),
           ("cascade" = Option<bool>, Query, description = "Delete the project's objects too")),
    responses((status = 204, description = "Deleted: it held no live objects"),
              (status = 202, description = "With cascade: its objects are being deleted; repeat until 204", body = ProjectDeleting),
              (status = 404, description = "No such project, or no role in it", body = Problem),
              (status = 409, description = "Live objects remain (named); delete them, or pass cascade=true", body = Problem)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    access: InProject<Admin>,
    CascadeParam(cascade): CascadeParam,
) -> ApiResult<Response> {
    if cascade {
        let remaining = delete_contents(&state, &access).await?;
        if !remaining.is_empty() {
            let project = state.store.get_project(access.project).await?;
            let body = ProjectDeleting { project, remaining };
            return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
        }
    }
    state
        .store
        .delete_project(&access.actor(), access.project)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Asks every live object of the project to go (owned kinds first, then their owners,
/// each with cascade) and returns those still there. An object that another still
/// blocks (a network with clusters in it) is asked again on the next request.
async fn delete_contents(state: &AppState, access: &InProject<Admin>) -> ApiResult<Vec<Remaining>> {
    let mut remaining = Vec::new();
    for kind in KINDS.iter().rev() {
        let mut page = PageRequest {
            limit: 1000,
            ..PageRequest::default()
        };
        loop {
            let docs = state
                .store
                .docs()
                .list_docs(kind.info().name, access.project, &page)
                .await?;
            for doc in &docs.items {
                if doc.status != DELETING {
                    match kind
                        .delete(state, &access.actor(), access.project, doc.id, true)
                        .await
                    {
                        Ok(()) => {}
                        Err(e) if is_conflict(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
                let body: serde_json::Value = serde_json::from_str(&doc.body).unwrap_or_default();
                let now = state.store.docs().get_doc(doc.kind, doc.id).await?;
                remaining.push(Remaining {
                    kind: doc.kind.to_string(),
                    id: doc.id.to_string(),
                    name: body["name"].as_str().unwrap_or_default().to_string(),
                    status: now.map_or_else(|| doc.status.clone(), |d| d.status),
                });
            }
            match docs.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
    }
    remaining.retain(|r| r.status != isthmus_store::doc::DELETED);
    Ok(remaining)
}

/// A 409: blocked by what the object still holds, or raced by another writer.
fn is_conflict(e: &ApiError) -> bool {
    e.0.status == StatusCode::CONFLICT.as_u16()
}
