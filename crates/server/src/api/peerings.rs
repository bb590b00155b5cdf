//! `/v1/projects/{p}/peerings`: links from a project network to a customer's VPC/VNet.
//! Besides the five routes every kind has, a peering can be re-observed on demand.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use isthmus_core::resources::Peering;
use isthmus_store::api::Api;

use super::problem::ApiResult;
use super::resources::{ApiDocs, ApiKind};
use super::respond::one;
use crate::auth::{InProject, Operator};
use crate::state::AppState;

impl ApiKind for Peering {
    const DOCS: ApiDocs = ApiDocs {
        create_conflict: "A route overlaps another peering's",
        updated: "Updated; the data plane follows",
        update_invalid: "Invalid",
        delete_conflict: None,
    };
}

/// Re-observes the peering now instead of at the next resync.
#[utoipa::path(post, path = "/v1/projects/{p}/peerings/{id}/refresh", tag = "peerings",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Peering id or name")),
    responses((status = 202, description = "Queued for re-observation", body = Peering)),
    security(("bearer" = [])))]
pub async fn refresh(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String)>,
) -> ApiResult<Response> {
    let p = Api::<Peering>::new(state.store.docs())
        .find(access.project, &path.1)
        .await?;
    state.enqueue::<Peering>(p.id.0);
    Ok(one(StatusCode::ACCEPTED, p.version, &p))
}
