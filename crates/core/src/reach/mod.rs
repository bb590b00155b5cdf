//! The reachability analyzer: may this source open a TCP connection to that cluster, node
//! or DNS name on that port — and if not, why, and what change would let it?
//!
//! It models what the `local` data plane enforces (see `driver-local/src/firewall.rs`):
//! - the private path: a packet arrives over one peering's link and is dropped unless its
//!   source lies inside that peering's routes, or inside its transit routes while gateway
//!   transit is allowed (a lab VPC behind a hub arrives over the hub's peering); the
//!   cluster's private allow-list, when not empty, narrows that further; new connections
//!   from a peering go only to the nodes;
//! - the public path: the internet reaches a cluster only at its public endpoint
//!   (`public-<id>.<zone>`), which exists while public access is on and admits only its
//!   allow-list; the internet has no route to private node addresses, lab VPCs none to
//!   the public endpoints;
//! - nothing listens on a port the engine does not serve.
//!
//! The checks and their order are at the top of `analyze.rs`. Pure and deterministic: it
//! reads a snapshot of the state, builds its indexes once (`ReachIndex::new`), and each
//! query is a handful of hash, prefix and binary-search lookups.

mod allow;
mod analyze;
mod endpoint;
mod fix;
mod fix_access;
mod index;
pub mod migration;
mod private;
mod public;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_access;
#[cfg(test)]
mod tests_migration;
#[cfg(test)]
mod tests_vpn;
mod vpn;

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::lab::{LabHost, LabVpc};
use crate::resources::{Cluster, CustomerAction, Network, Peering};
use crate::state::PeeringStatus;
use crate::{Cidr, ClusterId, NetworkId, PeeringId};

pub use index::ReachIndex;

/// The state the analyzer reads: one project's resources and the lab VPCs.
#[derive(Debug, Clone, Default)]
pub struct ReachSnapshot {
    pub networks: Vec<Network>,
    pub peerings: Vec<Peering>,
    pub clusters: Vec<Cluster>,
    pub lab_vpcs: Vec<LabVpc>,
    /// The lab's internet hosts (`internet/HOST`).
    pub internet_hosts: Vec<LabHost>,
    /// The project's endpoint services, with their connections.
    pub endpoint_services: Vec<crate::kinds::endpoint_service::EndpointService>,
    /// The lab endpoints on this host (the customer's side of `local` endpoint services).
    pub lab_endpoints: Vec<LabEndpointRef>,
    /// The project's VPN gateways and clients (`vpn/CLIENT`).
    pub vpn_gateways: Vec<crate::kinds::vpn_gateway::VpnGateway>,
    pub vpn_clients: Vec<crate::kinds::vpn_client::VpnClient>,
}

/// A lab endpoint as the analyzer reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabEndpointRef {
    pub vpc: String,
    pub name: String,
    /// The `service_name` it connects to.
    pub service: String,
    pub ip: Ipv4Addr,
    /// Its address of each node, once accepted.
    pub node_ips: Vec<Ipv4Addr>,
}

/// Where a connection starts: an address, a lab host (`vpc/host`) or an internet host
/// (`internet/host`, a `LabHost` whose `vpc` is [`crate::lab::INTERNET`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Ip(Ipv4Addr),
    LabHost {
        vpc: String,
        host: String,
    },
    /// A VPN client (`vpn/NAME` or `vpn/ID`): its tunnel through its gateway.
    Vpn(String),
}

impl std::str::FromStr for Source {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(ip) = s.parse::<Ipv4Addr>() {
            return Ok(Source::Ip(ip));
        }
        match s.split_once('/') {
            Some(("vpn", client)) if !client.is_empty() && !client.contains('/') => {
                Ok(Source::Vpn(client.to_string()))
            }
            Some((vpc, host)) if !vpc.is_empty() && !host.is_empty() && !host.contains('/') => {
                Ok(Source::LabHost {
                    vpc: vpc.to_string(),
                    host: host.to_string(),
                })
            }
            _ => Err(format!(
                "'{s}' is neither an IPv4 address nor a lab host as VPC/HOST"
            )),
        }
    }
}

/// Why a connection is allowed or denied. The code (`as_str`) is stable API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    Allowed,
    /// No peering connects the source's network to the cluster's network.
    NoPeering,
    /// The peering exists but is not active (the customer may still have to act).
    PeeringNotActive,
    /// The source arrives over its peering (or, behind a hub, over the hub's) but is
    /// outside that peering's routes and transit routes.
    SourceOutsideRoutes,
    /// The source's address is in another VPC's peering routes, but peering is
    /// non-transitive: its own VPC is not peered.
    TransitNotAllowed,
    /// Nothing listens on that port: the engine does not serve it.
    PortNotServed,
    NetworkNotRunning,
    ClusterNotRunning,
    NodeNotRunning,
    /// The source is inside the peering's transit routes, but gateway transit is off.
    GatewayTransitDisabled,
    /// The cluster's private allow-list is not empty and holds no entry for the source.
    NotInPrivateAllowlist,
    /// The destination is the public endpoint of a cluster whose public access is off.
    PublicAccessDisabled,
    /// The public allow-list (possibly empty) holds no entry for the source.
    NotInPublicAllowlist,
    /// The source has no route to the destination at all: the internet to a private
    /// node address, or a lab VPC to a public endpoint.
    NoRoute,
    /// The VPC has no endpoint to the cluster (and no peering): create one.
    NoEndpoint,
    /// The VPC's endpoint waits for the operator's accept.
    EndpointPending,
    /// The VPC's endpoint was rejected, failed or is gone: it needs a new one.
    EndpointRefused,
    /// The VPC is not an allowed principal of the cluster's endpoint service.
    PrincipalNotAllowed,
    /// The client dialled a node's platform address, which inside its own VPC (whose CIDR
    /// overlaps) is one of the VPC's addresses: use the endpoint's names.
    OverlapTrap,
    /// The VPN client holds no grant for the cluster and port: its gateway refuses it.
    VpnNotGranted,
    /// The VPN client is past its expiry: its gateway removed its key.
    VpnClientExpired,
    /// The VPN client is revoked (or being revoked).
    VpnClientRevoked,
    /// The VPN client's gateway is not serving.
    VpnGatewayNotReady,
    /// A migration's replicator may connect only to its source's addresses and ports.
    NotInEgress,
    /// A migration's replicator (and its egress) exists only while the migration runs.
    ReplicatorNotPlaced,
}

impl Reason {
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::Allowed => "allowed",
            Reason::NoPeering => "no-peering",
            Reason::PeeringNotActive => "peering-not-active",
            Reason::SourceOutsideRoutes => "source-outside-routes",
            Reason::TransitNotAllowed => "transit-not-allowed",
            Reason::PortNotServed => "port-not-served",
            Reason::NetworkNotRunning => "network-not-running",
            Reason::ClusterNotRunning => "cluster-not-running",
            Reason::NodeNotRunning => "node-not-running",
            Reason::GatewayTransitDisabled => "gateway-transit-disabled",
            Reason::NotInPrivateAllowlist => "not-in-private-allowlist",
            Reason::PublicAccessDisabled => "public-access-disabled",
            Reason::NotInPublicAllowlist => "not-in-public-allowlist",
            Reason::NoRoute => "no-route",
            Reason::NoEndpoint => "no-endpoint",
            Reason::EndpointPending => "endpoint-pending",
            Reason::EndpointRefused => "endpoint-refused",
            Reason::PrincipalNotAllowed => "principal-not-allowed",
            Reason::OverlapTrap => "overlap-trap",
            Reason::VpnNotGranted => "vpn-not-granted",
            Reason::VpnClientExpired => "vpn-client-expired",
            Reason::VpnClientRevoked => "vpn-client-revoked",
            Reason::VpnGatewayNotReady => "vpn-gateway-not-ready",
            Reason::NotInEgress => "not-in-egress",
            Reason::ReplicatorNotPlaced => "replicator-not-placed",
        }
    }
}

/// One step of the path a connection takes, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "hop", rename_all = "snake_case")]
pub enum Hop {
    /// The source address and the network it belongs to (a lab VPC, or none known).
    Source {
        #[schema(value_type = String)]
        ip: Ipv4Addr,
        network: String,
    },
    /// The peering the packet arrives over.
    Peering {
        id: PeeringId,
        name: String,
        status: PeeringStatus,
    },
    /// The lab VPC whose gateway the source sits behind; the packet leaves through it.
    Gateway { network: String },
    /// The peering route that holds the source address.
    RouteMatched { route: Cidr },
    /// The peering transit route (a range behind the peer's gateway) that holds it.
    TransitRouteMatched { route: Cidr },
    /// The cluster's public endpoint the packet is addressed to.
    PublicEndpoint {
        dns_name: String,
        #[schema(value_type = String)]
        ip: Ipv4Addr,
    },
    /// The lab endpoint the packet enters (DNAT to the node, SNAT on the platform side).
    Endpoint {
        endpoint: String,
        #[schema(value_type = String)]
        ip: Ipv4Addr,
        /// The endpoint's address of this node.
        #[schema(value_type = Option<String>)]
        node_ip: Option<Ipv4Addr>,
    },
    /// The firewall rule or set that decided.
    Firewall { rule: String, verdict: String },
    /// A server outside the platform the connection is for (a migration's source).
    Server {
        #[schema(value_type = String)]
        ip: Ipv4Addr,
        port: u16,
        network: String,
    },
    /// The node and port the connection is for.
    Destination {
        cluster: ClusterId,
        node: String,
        #[schema(value_type = String)]
        ip: Ipv4Addr,
        port: u16,
    },
}

/// One concrete change that would make the connection succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum FixAction {
    CreatePeering {
        network_id: NetworkId,
        peer_network: String,
        routes: Vec<Cidr>,
    },
    /// Add `route` to the peering's routes.
    AddRoute { peering_id: PeeringId, route: Cidr },
    /// Give the peering these routes and transit routes: the old ones without the range
    /// the fix gives to another peering (a range belongs to one peering of a network).
    NarrowRoutes {
        peering_id: PeeringId,
        routes: Vec<Cidr>,
        transit_routes: Vec<Cidr>,
    },
    /// Delete the peering: every route of it lies inside the range the fix gives to
    /// another peering.
    DeletePeering { peering_id: PeeringId },
    /// Delete the peering and create it again with the same fields: the cloud refused,
    /// rejected or removed the request, and no customer action can revive it.
    RecreatePeering { peering_id: PeeringId },
    /// Replace `remove` by the single covering prefix `add` (fewer routes, same reach).
    ReplaceRoutes {
        peering_id: PeeringId,
        remove: Vec<Cidr>,
        add: Cidr,
    },
    /// Something the customer must still do on their side.
    Customer(CustomerAction),
    /// Connect to a port the engine serves instead.
    UsePort { ports: Vec<u16> },
    /// Wait for the controller to bring the resource up.
    Wait { resource: String, status: String },
    /// Add `route` to the peering's transit routes and allow gateway transit (a transit
    /// route admits nothing while the flag is off).
    AddTransitRoute { peering_id: PeeringId, route: Cidr },
    /// Allow gateway transit on the peering (`enabled` is true).
    SetGatewayTransit {
        peering_id: PeeringId,
        enabled: bool,
    },
    /// Add `cidr` to one of the cluster's allow-lists.
    AddAllowlistEntry {
        cluster_id: ClusterId,
        list: AllowlistKind,
        cidr: Cidr,
    },
    /// Turn public access on, adding `allow` to the public allow-list when it is set.
    EnablePublicAccess {
        cluster_id: ClusterId,
        allow: Option<Cidr>,
    },
    /// Grant the VPN client this cluster and port (its other grants stay).
    AddVpnGrant {
        client_id: crate::VpnClientId,
        cluster_id: ClusterId,
        port: u16,
    },
    /// Connect to this destination instead (the public endpoint from the internet, the
    /// cluster's private name from a peered VPC), after the other actions of the fix.
    UseDestination { to: String },
    /// The operator accepts the endpoint's pending connection.
    AcceptEndpointConnection {
        service_id: String,
        connection_id: String,
    },
    /// The operator adds `principal` to the endpoint service's allowed principals.
    AddAllowedPrincipal {
        service_id: String,
        principal: String,
    },
    /// The customer creates an endpoint in lab VPC `vpc` to the service named `service`.
    CreateLabEndpoint { vpc: String, service: String },
}

/// Which of a cluster's allow-lists an entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AllowlistKind {
    /// `public_access.allowlist`: who may connect to the public endpoint.
    Public,
    /// `private_allowlist`: which peered sources may connect to the nodes.
    Private,
}

/// What to change, as a sentence and as data. Alternatives are listed in `actions`
/// after the first (e.g. a route to add, or the covering prefix instead) — except in a
/// fix that ends in `use_destination` (a `no-route` denial) or `create_peering`, or that
/// starts by narrowing or deleting another peering: there the actions are steps, in order
/// (the other path's own fix, then where to connect; the peerings that claim the range,
/// then the peering to create or the route to add). `commands` follow `actions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Fix {
    pub summary: String,
    pub actions: Vec<FixAction>,
    /// CLI commands that apply the fix, where there are any.
    pub commands: Vec<String>,
}

/// The answer for one destination node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Verdict {
    pub allowed: bool,
    pub reason: Reason,
    /// One line saying what decided.
    pub explanation: String,
    pub hops: Vec<Hop>,
    pub fix: Option<Fix>,
}

/// The answer to a query: one verdict per destination node (a cluster name resolves to
/// every node); `allowed` when every node is reachable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reachability {
    pub allowed: bool,
    pub port: u16,
    pub verdicts: Vec<Verdict>,
}

/// A query the snapshot cannot answer because a name does not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReachError {
    #[error("unknown source: {0}")]
    UnknownSource(String),
    #[error(
        "unknown destination '{0}': give a cluster id, a node '<id>-<n>', a DNS name, a node IP \
         or a public endpoint ('public-<id>.<zone>' or its IP)"
    )]
    UnknownDestination(String),
}
