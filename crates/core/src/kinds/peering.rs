//! Peerings: a network's link to a customer's network, with the prefixes routed over it
//! (see [`super::routes`]), the customer's side of the handshake and the commands they
//! run on it. Owned by its network, which takes it down when deleted.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::network::check_same_project;
use super::routes::{validate_routes, validate_transit_routes};
use super::validate::{validate_name, Checks};
use crate::customer_actions;
use crate::ipam::PrefixSet;
use crate::object::{KindInfo, Object, OnOwnerDelete, Owner};
use crate::resources::{Network, Provider};
use crate::state::PeeringStatus;
use crate::{Cidr, CoreError, NetworkId, PeeringId, ProjectId};

/// The customer's side of a peering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PeerSpec {
    /// AWS account id, GCP project id, or Azure subscription id (for `local`: ignored).
    pub account_id: String,
    /// VPC id, VPC network name, or VNet resource id (for `local`: a lab VPC name).
    pub network_id: String,
    pub region: String,
}

/// One command the customer runs on their side to complete or use a peering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CustomerAction {
    pub description: String,
    pub command: String,
}

crate::kind_struct! {
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    pub struct Peering {
        pub id: PeeringId,
        pub project_id: ProjectId,
        pub name: String,
        pub network_id: NetworkId,
        pub peer: PeerSpec,
        /// The customer's prefixes reachable over this peering (1…50, no overlaps).
        /// The peer network's own address space: sources here are admitted (1…50, no overlaps).
        pub routes: Vec<Cidr>,
        /// Ranges the peer reaches through its gateway (VPN clients, the spokes of a hub).
        /// Routed to the peer always; admitted only while `allow_gateway_transit` is true.
        /// Azure and `local` only: AWS and GCP peerings are non-transitive.
        #[serde(default)]
        pub transit_routes: Vec<Cidr>,
        /// Azure: admit sources in `transit_routes` (reached through the peer's gateway).
        pub allow_gateway_transit: bool,
        pub status: PeeringStatus,
        pub status_message: String,
        /// The provider's id for the peering connection (e.g. `pcx-…`), once requested.
        pub provider_peering_id: Option<String>,
        /// What the customer must run on their side, generated from this peering's fields.
        pub customer_actions: Vec<CustomerAction>,
        /// Accepted-but-noteworthy facts, e.g. a cross-region peer (latency, transfer cost).
        pub warnings: Vec<String>,
    }
}

// Routes and ids arrive as plain strings so the core can name the field that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PeeringCreate {
    pub name: String,
    pub network_id: String,
    pub peer: PeerSpec,
    pub routes: Vec<String>,
    #[serde(default)]
    pub transit_routes: Vec<String>,
    #[serde(default)]
    pub allow_gateway_transit: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PeeringUpdate {
    pub name: Option<String>,
    pub routes: Option<Vec<String>>,
    pub transit_routes: Option<Vec<String>>,
    pub allow_gateway_transit: Option<bool>,
}

crate::object!(
    Peering,
    PeeringStatus,
    KindInfo {
        name: "peering",
        plural: "peerings",
        owner: Some(Owner {
            kind: "network",
            field: "network_id",
            on_delete: OnOwnerDelete::Cascade,
        }),
    },
    owner = |p| Some(p.network_id.0),
);

/// Warnings that do not refuse the request.
pub fn peering_warnings(network: &Network, peer: &PeerSpec) -> Vec<String> {
    let mut w = Vec::new();
    if network.provider != Provider::Local && peer.region != network.region {
        w.push(format!(
            "peer region {} differs from network region {}: expect higher latency and inter-region transfer cost",
            peer.region, network.region
        ));
    }
    w
}

/// Routes of the live peerings on `network`, except `skip`, keyed by peering.
pub fn taken_routes<'a>(
    peerings: impl IntoIterator<Item = &'a Peering>,
    skip: Option<PeeringId>,
) -> PrefixSet<PeeringId> {
    let mut set = PrefixSet::new();
    for p in peerings {
        if Some(p.id) == skip || !p.status.is_live() {
            continue;
        }
        for r in p.routes.iter().chain(&p.transit_routes) {
            set.insert(*r, p.id);
        }
    }
    set
}

pub fn new_peering(
    id: PeeringId,
    project_id: ProjectId,
    req: &PeeringCreate,
    network: &Network,
    peerings_on_network: &[Peering],
    now: DateTime<Utc>,
) -> Result<Peering, CoreError> {
    let mut checks = Checks::new();
    let name = checks.field(validate_name("name", &req.name));
    // The peer's account, network and region in the formats of the network's provider
    // (see `clouds::check_peer`); `local` peers are lab VPCs in account `lab`.
    checks.extend(crate::clouds::check_peer(network.provider, &req.peer));
    check_same_project(&mut checks, network, project_id);
    let name = checks.finish_values(name)?;
    network.ensure_not_going()?;
    let taken = taken_routes(peerings_on_network, None);
    let routes = validate_routes(&req.routes, network, &taken)?;
    let transit_routes = validate_transit_routes(
        &req.transit_routes,
        req.allow_gateway_transit,
        &routes,
        network,
        &taken,
    )?;
    let mut p = crate::new_object!(
        now,
        Peering {
            id,
            project_id,
            name,
            network_id: network.id,
            peer: req.peer.clone(),
            routes,
            transit_routes,
            allow_gateway_transit: req.allow_gateway_transit,
            status: PeeringStatus::Provisioning,
            status_message: "requesting the peering from the provider".into(),
            provider_peering_id: None,
            customer_actions: Vec::new(),
            warnings: peering_warnings(network, &req.peer),
        }
    );
    p.customer_actions = customer_actions::for_peering(network, &p);
    Ok(p)
}

/// Routes and gateway transit can change on a live peering; the data plane follows.
pub fn update_peering(
    current: &Peering,
    req: &PeeringUpdate,
    network: &Network,
    peerings_on_network: &[Peering],
    now: DateTime<Utc>,
) -> Result<Peering, CoreError> {
    current.ensure_not_going()?;
    let mut next = current.clone();
    let mut spec_changed = false;
    if let Some(n) = &req.name {
        next.name = validate_name("name", n).map_err(|e| CoreError::Invalid(vec![e]))?;
    }
    let taken = taken_routes(peerings_on_network, Some(current.id));
    if let Some(routes) = &req.routes {
        let parsed = validate_routes(routes, network, &taken)?;
        spec_changed |= parsed != next.routes;
        next.routes = parsed;
    }
    if let Some(t) = req.allow_gateway_transit {
        spec_changed |= t != next.allow_gateway_transit;
        next.allow_gateway_transit = t;
    }
    if req.transit_routes.is_some() || req.routes.is_some() || req.allow_gateway_transit.is_some() {
        // Re-checked against the routes as they will be, whichever of the two changed.
        let raw: Vec<String> = match &req.transit_routes {
            Some(raw) => raw.clone(),
            None => next.transit_routes.iter().map(Cidr::to_string).collect(),
        };
        let parsed = validate_transit_routes(
            &raw,
            next.allow_gateway_transit,
            &next.routes,
            network,
            &taken,
        )?;
        spec_changed |= parsed != next.transit_routes;
        next.transit_routes = parsed;
    }
    if spec_changed {
        next.generation += 1;
        next.customer_actions = customer_actions::for_peering(network, &next);
    }
    next.updated_at = now;
    Ok(next)
}
