//! `/v1/sim/endpoints`: the customer's side of private endpoints in the simulated
//! clouds. Creating an endpoint follows that cloud's handshake (an unknown service or a
//! principal not allowed is refused as the cloud refuses it); deleting one is what the
//! platform later sees as `disconnected`. Superuser only, like the rest of `/v1/sim`.
//! The service's controller is woken, as the clouds notify a service of connection
//! requests.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use isthmus_core::kinds::endpoint_service::EndpointService;
use isthmus_driver::sim::{EndpointRequest, SimEndpointView};
use serde::Deserialize;
use utoipa::ToSchema;

use super::body::JsonBody;
use super::problem::{ApiError, ApiResult};
use crate::auth::Caller;
use crate::state::AppState;

/// An endpoint the customer creates in their VPC.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimEndpointCreate {
    /// aws, gcp or azure.
    pub cloud: String,
    /// AWS account id, GCP project id, Azure subscription id.
    pub account: String,
    pub network: String,
    pub region: String,
    /// The endpoint service's `service_name`.
    pub service: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimEndpointDelete {
    pub endpoint_id: String,
}

fn superuser_only(caller: &Caller) -> ApiResult<()> {
    if caller.is_superuser() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "the simulated clouds' customer side is for the superuser token only",
        ))
    }
}

fn wake_service(state: &AppState, service_name: &str) {
    if let Some(id) = state.sim.endpoint_service_named(service_name) {
        state.enqueue::<EndpointService>(id.0);
    }
}

#[utoipa::path(post, path = "/v1/sim/endpoints", tag = "sim",
    request_body = SimEndpointCreate,
    responses((status = 201, description = "The endpoint, in its cloud's words", body = Object),
        (status = 404, description = "No such service (in that region)"),
        (status = 409, description = "The principal is not allowed (AWS, Azure)")),
    security(("bearer" = [])))]
pub async fn create_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<SimEndpointCreate>,
) -> ApiResult<Response> {
    superuser_only(&caller)?;
    let req = body.value;
    let cloud = match req.cloud.parse() {
        Ok(
            c @ (isthmus_core::resources::Provider::Aws
            | isthmus_core::resources::Provider::Gcp
            | isthmus_core::resources::Provider::Azure),
        ) => c,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                format!(
                    "cloud: no simulated cloud '{}' (one of aws, gcp, azure)",
                    req.cloud
                ),
            ))
        }
    };
    let view = state.sim.create_endpoint(EndpointRequest {
        cloud,
        account: req.account,
        network: req.network,
        region: req.region,
        service: req.service,
    })?;
    wake_service(&state, &view.service);
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[utoipa::path(get, path = "/v1/sim/endpoints", tag = "sim",
    responses((status = 200, description = "Every customer endpoint in the simulated clouds", body = [Object])),
    security(("bearer" = [])))]
pub async fn list_endpoints(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<SimEndpointView>>> {
    superuser_only(&caller)?;
    Ok(Json(state.sim.list_endpoints()))
}

#[utoipa::path(post, path = "/v1/sim/endpoints/delete", tag = "sim",
    request_body = SimEndpointDelete,
    responses((status = 200, description = "The endpoint as it was", body = Object),
        (status = 404, description = "No such endpoint")),
    security(("bearer" = [])))]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<SimEndpointDelete>,
) -> ApiResult<Json<SimEndpointView>> {
    superuser_only(&caller)?;
    let view = state.sim.delete_endpoint(&body.value.endpoint_id)?;
    wake_service(&state, &view.service);
    Ok(Json(view))
}
