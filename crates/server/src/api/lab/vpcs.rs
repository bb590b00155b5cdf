//! Lab VPCs and their hosts: the customer's side of `local` peerings.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use isthmus_core::lab::{LabHost, LabHostCreate, LabVpc, LabVpcCreate};
use isthmus_core::object::Object;
use isthmus_core::resources::Peering;
use isthmus_core::CoreError;
use isthmus_driver_local::LocalDriver;
use isthmus_store::api::Api;

use super::{apply_or_undo, driver_failure, usable, Lab};
use crate::api::body::JsonBody;
use crate::api::problem::{ApiResult, Problem};
use crate::state::AppState;

/// Brings the lab VPC's namespaces to what the store holds for it.
async fn apply(driver: &LocalDriver, vpc: &LabVpc) -> anyhow::Result<()> {
    driver.ensure_lab_vpc(&vpc.into()).await.map(|_| ())
}

/// Wakes the local peerings to lab VPC `name`, so a change on the customer's side shows in
/// their status now rather than at the next resync.
async fn wake_peerings_of(state: &AppState, name: &str) {
    let Ok(keys) = state.store.list_live().await else {
        return;
    };
    let peerings = Api::<Peering>::new(state.store.docs());
    for key in keys.into_iter().filter(|k| k.kind == Peering::INFO.name) {
        if let Ok(Some(p)) = peerings.load(key.id).await {
            if p.peer.network_id == name {
                state.enqueue::<Peering>(p.id.0);
            }
        }
    }
}

/// A hub goes after the VPCs behind it (the store refuses too; asking first keeps the
/// namespaces of a refused delete intact).
async fn refuse_if_hub(state: &AppState, name: &str) -> ApiResult<()> {
    let spokes: Vec<String> = state
        .store
        .list_lab_vpcs()
        .await?
        .into_iter()
        .filter(|v| v.behind.as_deref() == Some(name))
        .map(|v| v.name)
        .collect();
    if spokes.is_empty() {
        return Ok(());
    }
    Err(CoreError::conflict(
        None,
        "vpc-in-use",
        format!(
            "lab VPC {name} is the gateway of {}: delete those first",
            spokes.join(", ")
        ),
    )
    .into())
}

/// The host request, its address clear of the VPC's lab endpoints (which the store does
/// not know: they live with the driver). An address an endpoint holds is a 409 naming
/// it; without an address, the lowest one free of hosts and endpoints is asked for.
async fn clear_of_endpoints(
    state: &AppState,
    driver: &LocalDriver,
    vpc_name: &str,
    mut req: LabHostCreate,
) -> ApiResult<LabHostCreate> {
    let held = driver.lab_endpoint_addresses(vpc_name);
    if held.is_empty() {
        return Ok(req);
    }
    match req.ip.as_deref().map(str::parse::<std::net::Ipv4Addr>) {
        Some(Ok(ip)) => {
            if let Some((_, endpoint)) = held.iter().find(|(a, _)| *a == ip) {
                return Err(CoreError::conflict(
                    Some("ip"),
                    "ip-taken",
                    format!("{ip} is held by lab endpoint {endpoint} of lab VPC {vpc_name}"),
                )
                .into());
            }
        }
        Some(Err(_)) => {} // the store names the syntax error
        None => {
            let vpc = state.store.get_lab_vpc(vpc_name).await?;
            let reserved = isthmus_core::lab::lab_reserved_addresses(&vpc.cidr_block);
            let free = (vpc.cidr_block.start()..=vpc.cidr_block.end())
                .map(std::net::Ipv4Addr::from)
                .find(|ip| {
                    !reserved.contains(ip)
                        && !vpc.hosts.iter().any(|h| h.ip == *ip)
                        && !held.iter().any(|(a, _)| a == ip)
                })
                .ok_or_else(|| {
                    CoreError::conflict(
                        Some("ip"),
                        "no-free-address",
                        format!(
                            "lab VPC {vpc_name} ({}) has no free address (its hosts and lab \
                             endpoints hold them all)",
                            vpc.cidr_block
                        ),
                    )
                })?;
            req.ip = Some(free.to_string());
        }
    }
    Ok(req)
}

#[utoipa::path(post, path = "/v1/lab/vpcs", tag = "lab",
    request_body = LabVpcCreate,
    responses((status = 201, description = "The lab VPC, its namespaces made (linked to its hub when `behind` is set)", body = LabVpc),
              (status = 409, description = "Name taken, CIDR overlaps another lab VPC, or no local provider", body = Problem),
              (status = 422, description = "Invalid name, CIDR or `behind` (unknown VPC, or one itself behind another)", body = Problem)),
    security(("bearer" = [])))]
pub async fn create_vpc(lab: Lab, body: JsonBody<LabVpcCreate>) -> ApiResult<Response> {
    let change = lab.change().await?;
    let (state, actor) = (change.state, &change.actor);
    let vpc = state.store.create_lab_vpc(actor, &body.value).await?;
    let undo = async {
        let _ = state.store.delete_lab_vpc(actor, &vpc.name).await;
        let _ = change.driver.delete_lab_vpc(&vpc.name).await;
    };
    apply_or_undo(apply(change.driver, &vpc), undo, || {
        format!("create lab VPC {}", vpc.name)
    })
    .await?;
    usable(state).await;
    wake_peerings_of(state, &vpc.name).await;
    Ok((StatusCode::CREATED, Json(vpc)).into_response())
}

#[utoipa::path(get, path = "/v1/lab/vpcs", tag = "lab",
    responses((status = 200, description = "Every lab VPC with its hosts", body = [LabVpc]),
              (status = 409, description = "No local provider on this server", body = Problem)),
    security(("bearer" = [])))]
pub async fn list_vpcs(lab: Lab) -> ApiResult<Json<Vec<LabVpc>>> {
    Ok(Json(lab.read_local()?.store.list_lab_vpcs().await?))
}

#[utoipa::path(delete, path = "/v1/lab/vpcs/{name}", tag = "lab",
    params(("name" = String, Path, description = "Lab VPC name")),
    responses((status = 204, description = "Removed with its hosts; peerings to it end deleted_by_peer"),
              (status = 404, description = "No such lab VPC", body = Problem),
              (status = 409, description = "Another lab VPC sits behind it", body = Problem)),
    security(("bearer" = [])))]
pub async fn delete_vpc(lab: Lab, Path(name): Path<String>) -> ApiResult<StatusCode> {
    let change = lab.change().await?;
    let (state, actor) = (change.state, &change.actor);
    state.store.get_lab_vpc(&name).await?;
    refuse_if_hub(state, &name).await?;
    change
        .driver
        .delete_lab_vpc(&name)
        .await
        .map_err(|e| driver_failure(&format!("delete lab VPC {name}"), e))?;
    state.store.delete_lab_vpc(actor, &name).await?;
    wake_peerings_of(state, &name).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/lab/vpcs/{name}/hosts", tag = "lab",
    params(("name" = String, Path, description = "Lab VPC name")),
    request_body = LabHostCreate,
    responses((status = 201, description = "The host, its namespace made", body = LabHost),
              (status = 404, description = "No such lab VPC", body = Problem),
              (status = 409, description = "Name or address taken", body = Problem),
              (status = 422, description = "Invalid name or address", body = Problem)),
    security(("bearer" = [])))]
pub async fn add_host(
    lab: Lab,
    Path(vpc_name): Path<String>,
    body: JsonBody<LabHostCreate>,
) -> ApiResult<Response> {
    let change = lab.change().await?;
    let (state, actor) = (change.state, &change.actor);
    let req = clear_of_endpoints(state, change.driver, &vpc_name, body.value).await?;
    let host = state.store.add_lab_host(actor, &vpc_name, &req).await?;
    let vpc = state.store.get_lab_vpc(&vpc_name).await?;
    let undo = async {
        let _ = state
            .store
            .delete_lab_host(actor, &vpc_name, &host.name)
            .await;
    };
    apply_or_undo(apply(change.driver, &vpc), undo, || {
        format!("add host {} to lab VPC {vpc_name}", host.name)
    })
    .await?;
    usable(state).await;
    Ok((StatusCode::CREATED, Json(host)).into_response())
}

#[utoipa::path(delete, path = "/v1/lab/vpcs/{name}/hosts/{host}", tag = "lab",
    params(("name" = String, Path, description = "Lab VPC name"),
           ("host" = String, Path, description = "Host name")),
    responses((status = 204, description = "The host and its namespace are gone"),
              (status = 404, description = "No such lab VPC or host", body = Problem)),
    security(("bearer" = [])))]
pub async fn delete_host(
    lab: Lab,
    Path((vpc_name, host)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let change = lab.change().await?;
    let (state, actor) = (change.state, &change.actor);
    state.store.delete_lab_host(actor, &vpc_name, &host).await?;
    let vpc = state.store.get_lab_vpc(&vpc_name).await?;
    apply(change.driver, &vpc)
        .await
        .map_err(|e| driver_failure(&format!("delete host {host} of lab VPC {vpc_name}"), e))?;
    Ok(StatusCode::NO_CONTENT)
}
