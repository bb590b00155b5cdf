//! `/v1/projects/{p}/endpoint-services`: clusters published to customers' VPCs through
//! private endpoints. Besides the five routes every kind has, a service lists its
//! connections, and each pending (or available) connection can be accepted or rejected.
//! A reject, like removing a principal, cuts the connection's established flows; the
//! answer's `warnings` say which were cut (the clouds themselves leave them running).

use super::resources::object_id;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use isthmus_core::kinds::endpoint_connection::{Decision, EndpointConnection};
use isthmus_core::kinds::endpoint_service::{EndpointService, EndpointServiceChange};
use isthmus_store::api::Api;

use super::problem::ApiResult;
use super::resources::{ApiDocs, ApiKind};
use super::respond::one;
use crate::auth::{InProject, Operator, Viewer};
use crate::dns_records::PublishesDns;
use crate::state::AppState;

impl ApiKind for EndpointService {
    const DOCS: ApiDocs = ApiDocs {
        create_conflict: "The cluster is being deleted, or already has 100 endpoint services",
        updated: "Updated; connections from removed principals are rejected and their flows cut (see warnings)",
        update_invalid: "A malformed principal (the field names it)",
        delete_conflict: None,
    };
}

/// The names inside a customer's VPC are the VPC resolver's (the lab's, or the
/// customer's private zone): the platform DNS publishes none for a service.
impl PublishesDns for EndpointService {}

/// The service's connections: one per customer endpoint, with our status and the
/// provider's own word for it.
#[utoipa::path(get, path = "/v1/projects/{p}/endpoint-services/{id}/connections", tag = "endpoint-services",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Endpoint service id or name")),
    responses((status = 200, description = "Every connection of the service", body = [EndpointConnection])),
    security(("bearer" = [])))]
pub async fn connections(
    State(state): State<AppState>,
    access: InProject<Viewer>,
    Path(path): Path<(String, String)>,
) -> ApiResult<Json<Vec<EndpointConnection>>> {
    let s: EndpointService = Api::new(state.store.docs())
        .find(access.project, &path.1)
        .await?;
    Ok(Json(s.connections))
}

/// Accepts a pending connection: the controller carries it to the provider.
#[utoipa::path(post, path = "/v1/projects/{p}/endpoint-services/{id}/connections/{cid}/accept", tag = "endpoint-services",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Endpoint service id or name"), ("cid" = String, Path, description = "Connection id")),
    responses((status = 202, description = "Accepted; the connection becomes available", body = EndpointService),
        (status = 409, description = "The connection is not pending, or its principal is not allowed")),
    security(("bearer" = [])))]
pub async fn accept(
    state: State<AppState>,
    access: InProject<Operator>,
    path: Path<(String, String, String)>,
) -> ApiResult<Response> {
    decide(state, access, path, Decision::Accepted).await
}

/// Rejects a pending or available connection; an available one has its established
/// flows cut (the answer's `warnings` say so).
#[utoipa::path(post, path = "/v1/projects/{p}/endpoint-services/{id}/connections/{cid}/reject", tag = "endpoint-services",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Endpoint service id or name"), ("cid" = String, Path, description = "Connection id")),
    responses((status = 202, description = "Rejected; established flows are cut", body = EndpointService),
        (status = 409, description = "The connection is neither pending nor available")),
    security(("bearer" = [])))]
pub async fn reject(
    state: State<AppState>,
    access: InProject<Operator>,
    path: Path<(String, String, String)>,
) -> ApiResult<Response> {
    decide(state, access, path, Decision::Rejected).await
}

async fn decide(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String, String)>,
    decision: Decision,
) -> ApiResult<Response> {
    let id = object_id::<EndpointService>(&state, access.project, &path.1).await?;
    let change = EndpointServiceChange::Decide {
        connection: path.2,
        decision,
    };
    let s: EndpointService = Api::new(state.store.docs())
        .update(&access.actor(), access.project, id, &change, None)
        .await?;
    state.enqueue::<EndpointService>(id);
    Ok(one(StatusCode::ACCEPTED, s.version, &s))
}
