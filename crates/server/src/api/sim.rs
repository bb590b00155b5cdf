//! `/v1/sim/…`: the customer's side of the simulated clouds, so tests and demos can act
//! as the customer (create a VPC, accept or reject a peering, delete their side).
//!
//! Acting as the customer's cloud is the operator's tool, like the lab: every call that
//! changes or lists the simulated clouds is for the superuser token only. A project
//! member may only read the cloud's view of a peering of their own project.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use isthmus_core::clouds;
use isthmus_core::resources::{Peering, Provider};
use isthmus_core::PeeringId;
use isthmus_driver::sim::{CustomerActionKind, CustomerVpc, SimPeeringView, OPERATIONS};
use isthmus_store::api::Api;
use serde::Deserialize;
use utoipa::ToSchema;

use super::body::JsonBody;
use super::params::path_id;
use super::problem::{ApiError, ApiResult, Problem};
use crate::auth::Caller;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerVpcCreate {
    pub account_id: String,
    pub network_id: String,
    pub region: String,
    pub cidr_block: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultInjection {
    /// A driver operation: ensure_network, observe_network, delete_network,
    /// ensure_peering, observe_peering, delete_peering, ensure_nodes, observe_nodes or
    /// delete_nodes.
    pub operation: String,
    /// How many of its next calls fail transiently.
    pub count: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencySetting {
    pub millis: u64,
}

fn sim_cloud(raw: &str) -> ApiResult<Provider> {
    match raw.parse::<Provider>() {
        Ok(p @ (Provider::Aws | Provider::Gcp | Provider::Azure)) => Ok(p),
        _ => Err(ApiError::not_found(format!(
            "no simulated cloud '{raw}' (one of aws, gcp, azure)"
        ))),
    }
}

fn sim_action(raw: &str) -> ApiResult<CustomerActionKind> {
    serde_json::from_value(serde_json::Value::String(raw.to_string())).map_err(|_| {
        ApiError::not_found(format!(
            "no customer action '{raw}' (one of accept, reject, delete-peer-side, create-reciprocal, grant-role)"
        ))
    })
}

fn superuser_only(caller: &Caller) -> ApiResult<()> {
    if caller.is_superuser() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "the simulated clouds' customer side (and its faults and latency) is for the superuser token only",
        ))
    }
}

/// The peering, if the caller may see it (superuser or any role in its project);
/// otherwise 404, as for any project the caller cannot see.
async fn visible_peering(state: &AppState, caller: &Caller, raw: &str) -> ApiResult<PeeringId> {
    let id: PeeringId = path_id("peering", raw)?;
    match Api::<Peering>::new(state.store.docs()).load(id.0).await? {
        Some(p) if caller.role_in(p.project_id).is_some() => Ok(id),
        _ => Err(ApiError::not_found(format!("peering {id} not found"))),
    }
}

#[utoipa::path(post, path = "/v1/sim/{cloud}/vpcs", tag = "sim",
    params(("cloud" = String, Path, description = "aws, gcp or azure")),
    request_body = CustomerVpcCreate,
    responses((status = 201, description = "The customer's VPC", body = Object)),
    security(("bearer" = [])))]
pub async fn create_vpc(
    State(state): State<AppState>,
    caller: Caller,
    Path(cloud): Path<String>,
    body: JsonBody<CustomerVpcCreate>,
) -> ApiResult<Response> {
    superuser_only(&caller)?;
    let cloud = sim_cloud(&cloud)?;
    let b = body.value;
    // The formats the real cloud takes, each refusal naming its field.
    let cidr = clouds::check_customer_vpc(
        cloud,
        &b.account_id,
        &b.network_id,
        &b.region,
        &b.cidr_block,
    )
    .map_err(ApiError::validation)?;
    let vpc = state.sim.create_customer_vpc(CustomerVpc {
        cloud,
        account_id: b.account_id,
        network_id: b.network_id,
        region: b.region,
        cidr_block: cidr.to_string(),
    })?;
    Ok((StatusCode::CREATED, Json(vpc)).into_response())
}

#[utoipa::path(get, path = "/v1/sim/vpcs", tag = "sim",
    responses((status = 200, description = "Every customer VPC in the simulated clouds", body = [Object])),
    security(("bearer" = [])))]
pub async fn list_vpcs(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<CustomerVpc>>> {
    superuser_only(&caller)?;
    Ok(Json(state.sim.list_customer_vpcs()))
}

#[utoipa::path(post, path = "/v1/sim/peerings/{peering_id}/{action}", tag = "sim",
    params(("peering_id" = String, Path, description = "Peering id"),
           ("action" = String, Path, description = "accept, reject, delete-peer-side, create-reciprocal or grant-role")),
    responses((status = 200, description = "The cloud's view after the action", body = Object),
              (status = 409, description = "Not possible in this cloud or state", body = Problem)),
    security(("bearer" = [])))]
pub async fn customer_action(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String)>,
) -> ApiResult<Json<SimPeeringView>> {
    superuser_only(&caller)?;
    let id = visible_peering(&state, &caller, &path.0).await?;
    let action = sim_action(&path.1)?;
    let view = state.sim.customer_action(id, action)?;
    // The status follows the customer's move without waiting for the next resync.
    state.enqueue::<Peering>(id.0);
    Ok(Json(view))
}

#[utoipa::path(get, path = "/v1/sim/peerings/{peering_id}", tag = "sim",
    params(("peering_id" = String, Path, description = "Peering id")),
    responses((status = 200, description = "The cloud's own view of the peering", body = Object),
              (status = 404, description = "The cloud has no such peering", body = Problem)),
    security(("bearer" = [])))]
pub async fn peering_view(
    State(state): State<AppState>,
    caller: Caller,
    Path(peering_id): Path<String>,
) -> ApiResult<Json<SimPeeringView>> {
    let id = visible_peering(&state, &caller, &peering_id).await?;
    state
        .sim
        .peering_view(id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("the simulated cloud has no peering {id}")))
}

#[utoipa::path(post, path = "/v1/sim/faults", tag = "sim",
    request_body = FaultInjection,
    responses((status = 204, description = "The next calls of the operation will fail")),
    security(("bearer" = [])))]
pub async fn inject_fault(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<FaultInjection>,
) -> ApiResult<StatusCode> {
    superuser_only(&caller)?;
    let operation = &body.value.operation;
    if !OPERATIONS.contains(&operation.as_str()) {
        let shown: String = operation.chars().take(64).collect();
        let hint = clouds::closest(operation, OPERATIONS)
            .map(|c| format!("did you mean '{c}'? "))
            .unwrap_or_default();
        return Err(ApiError::invalid(
            "operation",
            "known-operation",
            format!(
                "no driver operation {shown:?}; {hint}(one of {})",
                OPERATIONS.join(", ")
            ),
        ));
    }
    state.sim.inject_fault(operation, body.value.count)?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/v1/sim/latency", tag = "sim",
    request_body = LatencySetting,
    responses((status = 204, description = "Every simulated call now takes this long")),
    security(("bearer" = [])))]
pub async fn set_latency(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<LatencySetting>,
) -> ApiResult<StatusCode> {
    superuser_only(&caller)?;
    state
        .sim
        .set_latency(Duration::from_millis(body.value.millis));
    Ok(StatusCode::NO_CONTENT)
}
