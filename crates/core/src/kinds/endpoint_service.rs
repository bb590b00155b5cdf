//! Endpoint services: a cluster published to chosen principals (AWS PrivateLink, GCP
//! Private Service Connect, Azure Private Link, and the local data plane) under a
//! `service_name` in its cloud's form. Customers create endpoints in their own VPCs; each
//! becomes one of the service's connections (see [`super::endpoint_connection`]).
//!
//! Owned by its cluster, whose deletion is refused (409 naming the services) while a live
//! endpoint service remains: deleting a service cuts its customers' traffic, which should
//! be a decision of its own, never a side effect.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::endpoint_connection::{ConnectionStatus, Decision, EndpointConnection};
use super::principals::{allows, validate_principals};
use super::validate::{validate_name, Checks};
use crate::conditions::Condition;
use crate::customer_actions::endpoint_service::for_endpoint_service;
use crate::object::{KindInfo, OnOwnerDelete, Owner, StatusMachine};
use crate::resources::{Cluster, CustomerAction, Network, Provider};
use crate::state::ClusterStatus;
use crate::{ClusterId, CoreError, EndpointServiceId, FieldError, ProjectId};

pub use super::endpoint_service_status::EndpointServiceStatus;

/// At most this many endpoint services per cluster.
pub const MAX_SERVICES_PER_CLUSTER: usize = 100;

/// The GCP project that holds the platform's service attachments.
pub const GCP_PLATFORM_PROJECT: &str = crate::customer_actions::GCP_PLATFORM_PROJECT;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EndpointService {
    pub id: EndpointServiceId,
    pub project_id: ProjectId,
    pub name: String,
    pub cluster_id: ClusterId,
    /// The cloud of the cluster's network, and its region.
    pub provider: Provider,
    pub region: String,
    /// Who may connect: AWS principal ARNs, GCP projects, Azure subscriptions, lab VPCs.
    pub allowed_principals: Vec<String>,
    /// New connections wait in `pending_acceptance` until accepted.
    pub acceptance_required: bool,
    /// What customers point their endpoint at, in the cloud's own form.
    pub service_name: String,
    /// The cluster's name, which should resolve to the endpoint inside the customer's VPC.
    pub cluster_dns_name: String,
    pub connections: Vec<EndpointConnection>,
    /// What the customer still has to run on their side.
    pub customer_actions: Vec<CustomerAction>,
    /// Accepted-but-noteworthy facts of the last change (e.g. flows it cut).
    #[serde(default)]
    pub warnings: Vec<String>,
    pub status: EndpointServiceStatus,
    pub status_message: String,
    pub generation: u64,
    pub observed_generation: u64,
    pub conditions: Vec<Condition>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointServiceCreate {
    pub name: String,
    pub cluster_id: String,
    #[serde(default)]
    pub allowed_principals: Vec<String>,
    /// Defaults to true: connections wait for an operator's accept.
    #[serde(default = "yes")]
    pub acceptance_required: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointServiceUpdate {
    pub name: Option<String>,
    pub allowed_principals: Option<Vec<String>>,
    pub acceptance_required: Option<bool>,
}

/// What a write may change on a service: its spec (PATCH) or a decision on a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointServiceChange {
    Update(EndpointServiceUpdate),
    Decide {
        connection: String,
        decision: Decision,
    },
}

/// A PATCH body is a spec update: the decisions come only from the accept and reject
/// routes, so the wire form (and its schema) is exactly [`EndpointServiceUpdate`].
impl<'de> Deserialize<'de> for EndpointServiceChange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        EndpointServiceUpdate::deserialize(d).map(Self::Update)
    }
}

impl utoipa::PartialSchema for EndpointServiceChange {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <EndpointServiceUpdate as utoipa::PartialSchema>::schema()
    }
}

impl ToSchema for EndpointServiceChange {
    fn name() -> std::borrow::Cow<'static, str> {
        <EndpointServiceUpdate as ToSchema>::name()
    }
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <EndpointServiceUpdate as ToSchema>::schemas(schemas)
    }
}

crate::object!(
    EndpointService,
    EndpointServiceStatus,
    KindInfo {
        name: "endpoint_service",
        plural: "endpoint-services",
        owner: Some(Owner {
            kind: "cluster",
            field: "cluster_id",
            on_delete: OnOwnerDelete::Block,
        }),
    },
    owner = |s| Some(s.cluster_id.0),
);

/// The name customers give their endpoint, in `provider`'s form: AWS
/// `com.amazonaws.vpce.<region>.vpce-svc-<17 hex>`, a GCP service attachment URI, an
/// Azure Private Link alias, and on `local` `isthmus.local.<id>`. Derived from the id,
/// so it is known at once and stable.
pub fn service_name(provider: Provider, region: &str, id: EndpointServiceId) -> String {
    let h = fnv(&id.to_string());
    match provider {
        Provider::Aws => {
            let extra = (h.rotate_left(17) ^ h) & 0xf;
            format!("com.amazonaws.vpce.{region}.vpce-svc-{h:016x}{extra:x}")
        }
        Provider::Gcp => format!(
            "projects/{GCP_PLATFORM_PROJECT}/regions/{region}/serviceAttachments/isthmus-{id}"
        ),
        Provider::Azure => {
            let g = fnv(&format!("{id}/alias"));
            format!(
                "isthmus-{id}.{:08x}-{:04x}-{:04x}-{:04x}-{:012x}.{region}.azure.privatelinkservice",
                h >> 32,
                (h >> 16) & 0xffff,
                h & 0xffff,
                g >> 48,
                g & 0xffff_ffff_ffff
            )
        }
        Provider::Local => format!("isthmus.local.{id}"),
    }
}

fn fnv(seed: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A new service on `cluster` (in `network`), given the cluster's other live services.
pub fn new_endpoint_service(
    id: EndpointServiceId,
    project_id: ProjectId,
    req: &EndpointServiceCreate,
    cluster: &Cluster,
    network: &Network,
    services_on_cluster: &[EndpointService],
    now: DateTime<Utc>,
) -> Result<EndpointService, CoreError> {
    let mut checks = Checks::new();
    let name = checks.field(validate_name("name", &req.name));
    let principals = match validate_principals(network.provider, &req.allowed_principals) {
        Ok(p) => Some(p),
        Err(CoreError::Invalid(errors)) => {
            checks.extend(errors);
            None
        }
        Err(e) => return Err(e),
    };
    if cluster.project_id != project_id {
        checks.fail(FieldError::new(
            "cluster_id",
            "same-project",
            "cluster belongs to another project",
        ));
    }
    let (name, allowed_principals) = checks.finish_values(name.zip(principals))?;
    if matches!(
        cluster.status,
        ClusterStatus::Deleting | ClusterStatus::Deleted
    ) {
        return Err(CoreError::conflict(
            Some("cluster_id"),
            "cluster-deleting",
            format!("cluster {} is {}", cluster.id, cluster.status),
        ));
    }
    let live = services_on_cluster
        .iter()
        .filter(|s| s.status.is_live())
        .count();
    if live >= MAX_SERVICES_PER_CLUSTER {
        return Err(CoreError::conflict(
            Some("cluster_id"),
            "endpoint-services-per-cluster",
            format!(
                "cluster {} already has {live} endpoint services, the most it may have ({MAX_SERVICES_PER_CLUSTER}); delete one first",
                cluster.id
            ),
        ));
    }
    let mut s = EndpointService {
        id,
        project_id,
        name,
        cluster_id: cluster.id,
        provider: network.provider,
        region: network.region.clone(),
        allowed_principals,
        acceptance_required: req.acceptance_required,
        service_name: service_name(network.provider, &network.region, id),
        cluster_dns_name: cluster.dns_name.clone(),
        connections: Vec::new(),
        customer_actions: Vec::new(),
        warnings: Vec::new(),
        status: EndpointServiceStatus::Provisioning,
        status_message: "publishing the service at the provider".into(),
        generation: 1,
        observed_generation: 0,
        conditions: Vec::new(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    s.customer_actions = for_endpoint_service(&s);
    Ok(s)
}

/// A change to a live service: its spec, or a decision on one connection. Removing a
/// principal rejects its connections, and rejecting cuts established flows; the clouds
/// would leave those running, so `warnings` says which were cut.
pub fn change_endpoint_service(
    current: &EndpointService,
    change: &EndpointServiceChange,
    now: DateTime<Utc>,
) -> Result<EndpointService, CoreError> {
    if current.status.is_going() {
        return Err(CoreError::conflict(
            None,
            "endpoint-service-deleting",
            format!("endpoint service {} is {}", current.id, current.status),
        ));
    }
    let mut next = current.clone();
    next.warnings.clear();
    match change {
        EndpointServiceChange::Update(req) => {
            if let Some(n) = &req.name {
                next.name = validate_name("name", n).map_err(|e| CoreError::Invalid(vec![e]))?;
            }
            if let Some(raw) = &req.allowed_principals {
                next.allowed_principals = validate_principals(current.provider, raw)?;
            }
            if let Some(a) = req.acceptance_required {
                next.acceptance_required = a;
            }
            let provider = next.provider;
            let allowed = next.allowed_principals.clone();
            for c in &mut next.connections {
                if c.decision != Decision::Rejected
                    && is_open(c.status)
                    && !allows(provider, &allowed, &c.principal)
                {
                    c.decision = Decision::Rejected;
                    next.warnings
                        .push(cut_warning(c, Some("its principal was removed")));
                }
            }
        }
        EndpointServiceChange::Decide {
            connection,
            decision,
        } => decide(&mut next, connection, *decision)?,
    }
    if spec_of(&next) != spec_of(current) {
        next.generation += 1;
    }
    next.customer_actions = for_endpoint_service(&next);
    next.updated_at = now;
    Ok(next)
}

/// Pending or available: the statuses a decision still changes.
fn is_open(s: ConnectionStatus) -> bool {
    matches!(
        s,
        ConnectionStatus::PendingAcceptance | ConnectionStatus::Available
    )
}

/// What a rejection says. `because` names a cause other than the operator's own reject
/// (which needs none: "rejected because it was rejected" says nothing).
fn cut_warning(c: &EndpointConnection, because: Option<&str>) -> String {
    let cause = because.map(|b| format!(" because {b}")).unwrap_or_default();
    let head = format!("connection {} ({}) is rejected{cause}", c.id, c.principal);
    if c.status == ConnectionStatus::Available {
        format!("{head}: its established flows are cut (the cloud itself would leave them running)")
    } else {
        format!("{head}: it never carried traffic, and new connections are refused")
    }
}

fn decide(s: &mut EndpointService, id: &str, decision: Decision) -> Result<(), CoreError> {
    let provider = s.provider;
    let allowed = s.allowed_principals.clone();
    let Some(c) = s.connections.iter_mut().find(|c| c.id == id) else {
        return Err(CoreError::NotFound {
            kind: "endpoint connection",
            id: id.to_string(),
        });
    };
    if c.decision == decision {
        return Ok(());
    }
    if !is_open(c.status) {
        return Err(CoreError::conflict(
            None,
            "connection-not-open",
            format!(
                "connection {id} is {}: only pending or available connections can be accepted or rejected",
                c.status
            ),
        ));
    }
    match decision {
        Decision::Accepted if !allows(provider, &allowed, &c.principal) => {
            return Err(CoreError::conflict(
                None,
                "principal-not-allowed",
                format!(
                    "connection {id} comes from {}, which allowed_principals does not list; add it first",
                    c.principal
                ),
            ));
        }
        Decision::Rejected => s.warnings.push(cut_warning(c, None)),
        _ => {}
    }
    c.decision = decision;
    Ok(())
}

/// The parts of a service the provider has to follow.
fn spec_of(s: &EndpointService) -> (Vec<String>, bool, Vec<(String, Decision)>) {
    (
        s.allowed_principals.clone(),
        s.acceptance_required,
        s.connections
            .iter()
            .map(|c| (c.id.clone(), c.decision))
            .collect(),
    )
}

#[cfg(test)]
#[path = "endpoint_service_tests.rs"]
mod tests;
