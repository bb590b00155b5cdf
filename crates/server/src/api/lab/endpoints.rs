//! Lab endpoints: the customer's side of `local` endpoint services. Creating one is what a
//! customer's `aws ec2 create-vpc-endpoint` is in a cloud: an address inside their VPC
//! that becomes a connection of the service, `pending_acceptance` until the operator
//! accepts it. Deleting one is what the service later sees as `disconnected`.
//!
//! Lab endpoints are the customer's side, so they live with the local driver (like the
//! simulated clouds' endpoints in the sim journal), not in the platform's store: the
//! driver saves them on disk and a restarted server rebuilds them (`endpoint/saved.rs`).
//! Addresses never collide: an endpoint takes no host's and no node's address, and a
//! host added later takes no endpoint's (`vpcs.rs`).

use std::net::Ipv4Addr;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use isthmus_core::kinds::endpoint_connection::ConnectionStatus;
use isthmus_core::kinds::endpoint_service::EndpointService;
use isthmus_core::kinds::principals::allows;
use isthmus_core::lab::validate_lab_name;
use isthmus_core::object::Object;
use isthmus_core::resources::{Cluster, Provider};
use isthmus_core::CoreError;
use isthmus_driver_local::endpoint::nft::node_port;
use isthmus_driver_local::LabEndpoint;
use isthmus_store::api::Api;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{driver_failure, Lab};
use crate::api::body::JsonBody;
use crate::api::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabEndpointCreate {
    pub name: String,
    /// The endpoint service's `service_name` (`isthmus.local.<id>`).
    pub service: String,
    /// The endpoint's address in the VPC (else the highest free one).
    #[serde(default)]
    pub ip: Option<String>,
}

/// A lab endpoint and its connection, as the customer sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LabEndpointView {
    pub vpc: String,
    pub name: String,
    pub service: String,
    /// The address lab hosts dial.
    #[schema(value_type = String)]
    pub ip: Ipv4Addr,
    /// The connection's endpoint id on the service (`<vpc>/<name>`).
    pub endpoint_id: String,
    pub status: ConnectionStatus,
    pub message: String,
    /// The namespace it lives in (to inspect it with `ip netns exec`).
    pub namespace: String,
    /// The only source address the cluster sees, once accepted.
    #[schema(value_type = Option<String>)]
    pub nat_ip: Option<Ipv4Addr>,
    /// The endpoint's address of each node, once accepted (node `i` at `node_ips[i]`,
    /// every port): what the VPC's resolver answers for the node's name.
    #[schema(value_type = Vec<String>)]
    pub node_ips: Vec<Ipv4Addr>,
    /// How node `i` is also reached on the endpoint address: `<ip>:<port + 10000·(i+1)>`;
    /// `<ip>:<port>` takes the nodes in turn.
    pub node_port_rule: String,
}

impl From<LabEndpoint> for LabEndpointView {
    fn from(e: LabEndpoint) -> Self {
        let example = node_port(4222, 0).map_or(String::new(), |p| format!(" (4222 → {p})"));
        LabEndpointView {
            endpoint_id: e.endpoint_id(),
            node_port_rule: format!("node i at port + 10000·(i+1){example}"),
            vpc: e.vpc,
            name: e.name,
            service: e.service,
            ip: e.ip,
            status: e.status,
            message: e.message,
            namespace: e.namespace,
            nat_ip: e.nat_ip,
            node_ips: e.node_ips,
        }
    }
}

/// The live endpoint service published as `name`.
async fn service_named(state: &AppState, name: &str) -> ApiResult<Option<EndpointService>> {
    let services = Api::<EndpointService>::new(state.store.docs());
    for key in state.store.list_live().await? {
        if key.kind != EndpointService::INFO.name {
            continue;
        }
        if let Some(s) = services.load(key.id).await? {
            if s.service_name == name {
                return Ok(Some(s));
            }
        }
    }
    Ok(None)
}

async fn wake(state: &AppState, service: &str) {
    if let Ok(Some(s)) = service_named(state, service).await {
        state.enqueue::<EndpointService>(s.id.0);
    }
}

#[utoipa::path(post, path = "/v1/lab/vpcs/{name}/endpoints", tag = "lab",
    params(("name" = String, Path, description = "Lab VPC name")),
    request_body = LabEndpointCreate,
    responses((status = 201, description = "The endpoint, its connection pending acceptance", body = LabEndpointView),
              (status = 404, description = "No such lab VPC or endpoint service", body = Problem),
              (status = 409, description = "The service is not a local one, or the lab VPC is not an allowed principal", body = Problem),
              (status = 422, description = "Invalid name or address", body = Problem)),
    security(("bearer" = [])))]
pub async fn create_endpoint(
    lab: Lab,
    Path(vpc): Path<String>,
    body: JsonBody<LabEndpointCreate>,
) -> ApiResult<Response> {
    let change = lab.change().await?;
    let state = change.state;
    let req = body.value;
    let name = validate_lab_name("name", &req.name).map_err(|e| ApiError::validation(vec![e]))?;
    let ip = match &req.ip {
        None => None,
        Some(ip) => Some(ip.parse::<Ipv4Addr>().map_err(|_| {
            ApiError::invalid(
                "ip",
                "ipv4-address",
                format!("'{ip}' is not an IPv4 address"),
            )
        })?),
    };
    state.store.get_lab_vpc(&vpc).await?;
    let Some(service) = service_named(state, &req.service).await? else {
        return Err(ApiError::not_found(format!(
            "no endpoint service is published as '{}'",
            req.service
        )));
    };
    if service.provider != Provider::Local {
        return Err(CoreError::conflict(
            Some("service"),
            "local-service",
            format!(
                "{} is a {} service: lab endpoints connect to local ones (use `isthmus sim endpoint create`)",
                req.service, service.provider
            ),
        )
        .into());
    }
    if !allows(Provider::Local, &service.allowed_principals, &vpc) {
        return Err(CoreError::conflict(
            Some("service"),
            "principal-not-allowed",
            format!(
                "lab VPC {vpc} is not an allowed principal of {} (the operator adds it to \
                 allowed_principals: PATCH /v1/projects/{}/endpoint-services/{})",
                req.service, service.project_id, service.id
            ),
        )
        .into());
    }
    // A name an earlier endpoint's connection holds would inherit that connection and
    // the operator's decision on it (a cloud gives a new endpoint a new id): refused.
    let endpoint_id = format!("{vpc}/{name}");
    if change.driver.lab_endpoint(&vpc, &name).is_none() {
        if let Some(old) = service
            .connections
            .iter()
            .find(|c| c.endpoint_id == endpoint_id)
        {
            return Err(CoreError::conflict(
                Some("name"),
                "name-used",
                format!(
                    "lab endpoint name {endpoint_id} belongs to an earlier connection of {} \
                     ({}): create the endpoint under a new name",
                    req.service, old.status
                ),
            )
            .into());
        }
    }
    // Its node addresses: on the platform's own CIDR the endpoint must hold none of them.
    let nodes: Vec<Ipv4Addr> = Api::<Cluster>::new(state.store.docs())
        .load(service.cluster_id.0)
        .await?
        .map(|c| c.nodes.iter().map(|n| n.ip).collect())
        .unwrap_or_default();
    let ep = change
        .driver
        .create_lab_endpoint_avoiding(&vpc, &name, &req.service, ip, &nodes)
        .await
        .map_err(|e| {
            let message = format!("{e:#}");
            if message.contains("outside") || message.contains("taken") {
                ApiError::invalid("ip", "free-address-in-vpc", message)
            } else {
                driver_failure(&format!("create lab endpoint {vpc}/{name}"), e)
            }
        })?;
    state.enqueue::<EndpointService>(service.id.0);
    Ok((StatusCode::CREATED, Json(LabEndpointView::from(ep))).into_response())
}

#[utoipa::path(get, path = "/v1/lab/endpoints", tag = "lab",
    responses((status = 200, description = "Every lab endpoint with its connection's status", body = [LabEndpointView])),
    security(("bearer" = [])))]
pub async fn list_endpoints(lab: Lab) -> ApiResult<Json<Vec<LabEndpointView>>> {
    let state = lab.read()?;
    let driver = super::local_driver(state)?;
    Ok(Json(
        driver
            .lab_endpoints()
            .into_iter()
            .map(LabEndpointView::from)
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/v1/lab/vpcs/{name}/endpoints/{endpoint}", tag = "lab",
    params(("name" = String, Path, description = "Lab VPC name"),
           ("endpoint" = String, Path, description = "Endpoint name")),
    responses((status = 204, description = "Gone with every flow through it; its connection turns disconnected"),
              (status = 404, description = "No such lab endpoint", body = Problem)),
    security(("bearer" = [])))]
pub async fn delete_endpoint(
    lab: Lab,
    Path((vpc, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let change = lab.change().await?;
    let Some(ep) = change.driver.lab_endpoint(&vpc, &name) else {
        return Err(ApiError::not_found(format!("no lab endpoint {vpc}/{name}")));
    };
    change
        .driver
        .delete_lab_endpoint(&vpc, &name)
        .await
        .map_err(|e| driver_failure(&format!("delete lab endpoint {vpc}/{name}"), e))?;
    wake(change.state, &ep.service).await;
    Ok(StatusCode::NO_CONTENT)
}
