//! Clusters: an engine's nodes inside a network, with their addresses, DNS names and
//! access lists (see [`super::access`]). Node IPs come from the network's CIDR. Owned by
//! its network, whose deletion waits until the network holds no live cluster.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::access::{
    cluster_warnings, validate_egress, validate_private_allowlist, validate_public_access,
    AllowlistEntry, AllowlistEntryInput, EgressRule, EgressRuleInput, PublicAccess,
    PublicAccessInput, PublicEndpoint,
};
use super::network::{check_same_project, reserved_addresses};
use super::validate::{validate_name, Checks};
use crate::engines::{self, Engine};
use crate::object::{IndexEntry, KindInfo, Object, OnOwnerDelete, Owner};
use crate::resources::{Network, Provider};
use crate::state::{ClusterStatus, NodeStatus};
use crate::{ClusterId, CoreError, FieldError, NetworkId, ProjectId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    SingleNode,
    ThreeNodeMultiZone,
}

impl Topology {
    pub fn node_count(&self) -> usize {
        match self {
            Topology::SingleNode => 1,
            Topology::ThreeNodeMultiZone => 3,
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Topology::SingleNode => "single-node",
            Topology::ThreeNodeMultiZone => "three-node-multi-zone",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Node {
    pub index: u32,
    #[schema(value_type = String)]
    pub ip: Ipv4Addr,
    pub dns_name: String,
    pub zone: String,
    pub status: NodeStatus,
}

/// One URI a client needs to reach a cluster (the console's "Addresses" tab, as data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Address {
    /// e.g. `http`, `grpc`, `connection_string`.
    pub name: String,
    pub uri: String,
}

crate::kind_struct! {
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    pub struct Cluster {
        pub id: ClusterId,
        pub project_id: ProjectId,
        pub name: String,
        pub network_id: NetworkId,
        pub engine: String,
        pub topology: Topology,
        pub public_access: PublicAccess,
        /// The endpoint `public_access` opens; `None` while it is disabled.
        #[serde(default)]
        pub public_endpoint: Option<PublicEndpoint>,
        /// Narrows which peered sources may connect (empty: every source inside an active
        /// peering's routes). Separate from the public list: neither does double duty.
        #[serde(default)]
        pub private_allowlist: Vec<AllowlistEntry>,
        /// Destinations in peered networks that nodes may open connections to (default: none).
        #[serde(default)]
        pub egress_allowlist: Vec<EgressRule>,
        /// Accepted-but-noteworthy facts, e.g. an allow-list of 0.0.0.0/0 or an empty one.
        #[serde(default)]
        pub warnings: Vec<String>,
        /// `<cluster-id>.<zone>`: resolves to every node.
        pub dns_name: String,
        pub nodes: Vec<Node>,
        pub addresses: Vec<Address>,
        /// A move to another network, under way or the last one (see `cluster_move`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub network_move: Option<super::cluster_move::NetworkMove>,
        pub status: ClusterStatus,
        pub status_message: String,
    }
}

// Ids and CIDRs arrive as plain strings so the core can name the field that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterCreate {
    pub name: String,
    pub network_id: String,
    pub engine: String,
    pub topology: Topology,
    #[serde(default)]
    pub public_access: Option<PublicAccessInput>,
    #[serde(default)]
    pub private_allowlist: Option<Vec<AllowlistEntryInput>>,
    #[serde(default)]
    pub egress_allowlist: Option<Vec<EgressRuleInput>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterUpdate {
    pub name: Option<String>,
    pub public_access: Option<PublicAccessInput>,
    /// Replaces the list; `[]` removes the narrowing (every peered source again).
    pub private_allowlist: Option<Vec<AllowlistEntryInput>>,
    pub egress_allowlist: Option<Vec<EgressRuleInput>>,
}

crate::object!(
    Cluster,
    ClusterStatus,
    KindInfo {
        name: "cluster",
        plural: "clusters",
        owner: Some(Owner {
            kind: "network",
            field: "network_id",
            on_delete: OnOwnerDelete::Block,
        }),
    },
    owner = |c| Some(c.network_id.0),
    index = |c| c
        .public_endpoint
        .iter()
        .map(|e| {
            let ip = u32::from(e.ip);
            IndexEntry {
                index: super::PUBLIC_IP,
                scope: String::new(),
                start: ip,
                end: ip,
            }
        })
        .chain(super::cluster_move::move_node_claims(c))
        .collect(),
);

pub fn cluster_dns_name(id: ClusterId, zone: &str) -> String {
    format!("{id}.{zone}")
}

pub fn node_dns_name(id: ClusterId, index: u32, zone: &str) -> String {
    format!("{id}-{index}.{zone}")
}

fn zone_for(provider: Provider, region: &str, index: usize) -> String {
    crate::clouds::zone_name(provider, region, index)
}

/// Picks `count` free node addresses from the network, lowest first, skipping reserved
/// addresses and those already `taken` by other nodes.
pub fn allocate_node_ips(
    network: &Network,
    count: usize,
    taken: &HashSet<Ipv4Addr>,
) -> Result<Vec<Ipv4Addr>, CoreError> {
    let reserved: HashSet<Ipv4Addr> = reserved_addresses(network.provider, &network.cidr_block)
        .into_iter()
        .collect();
    let ips: Vec<Ipv4Addr> = (network.cidr_block.start()..=network.cidr_block.end())
        .map(Ipv4Addr::from)
        .filter(|ip| !reserved.contains(ip) && !taken.contains(ip))
        .take(count)
        .collect();
    if ips.len() < count {
        return Err(CoreError::conflict(
            Some("network_id"),
            "network-full",
            format!(
                "network {} ({}) has no room for {count} more nodes",
                network.id, network.cidr_block
            ),
        ));
    }
    Ok(ips)
}

/// The catalog's engine `name`, if it runs in `topology`.
fn engine_for(name: &str, topology: Topology) -> Result<&'static Engine, FieldError> {
    let Some(engine) = engines::find(name) else {
        return Err(FieldError::new(
            "engine",
            "known-engine",
            format!(
                "unknown engine '{name}' (one of {})",
                engines::names().join(", ")
            ),
        ));
    };
    if !engine.topologies.contains(&topology) {
        return Err(FieldError::new(
            "topology",
            "engine-topology",
            format!(
                "engine {} does not support topology {}",
                engine.name,
                topology.as_str()
            ),
        ));
    }
    Ok(engine)
}

/// Builds a new cluster. The network may still be provisioning (the controller waits);
/// node IPs come from its CIDR, skipping reserved and `taken` addresses.
pub fn new_cluster(
    id: ClusterId,
    project_id: ProjectId,
    req: &ClusterCreate,
    network: &Network,
    taken: &HashSet<Ipv4Addr>,
    dns_zone: &str,
    now: DateTime<Utc>,
) -> Result<Cluster, CoreError> {
    let mut checks = Checks::new();
    let name = checks.field(validate_name("name", &req.name));
    check_same_project(&mut checks, network, project_id);
    let engine = checks.field(engine_for(&req.engine, req.topology));
    let (name, engine) = checks.finish_values(name.zip(engine))?;
    let public_access = validate_public_access(&req.public_access)?;
    let private_allowlist = match &req.private_allowlist {
        Some(list) => validate_private_allowlist(list)?,
        None => Vec::new(),
    };
    let egress_allowlist = validate_egress(&req.egress_allowlist)?;
    network.ensure_not_going()?;
    let ips = allocate_node_ips(network, req.topology.node_count(), taken)?;
    let nodes: Vec<Node> = ips
        .into_iter()
        .enumerate()
        .map(|(i, ip)| Node {
            index: i as u32,
            ip,
            dns_name: node_dns_name(id, i as u32, dns_zone),
            zone: zone_for(network.provider, &network.region, i),
            status: NodeStatus::Provisioning,
        })
        .collect();
    let dns_name = cluster_dns_name(id, dns_zone);
    let node_names: Vec<String> = nodes.iter().map(|n| n.dns_name.clone()).collect();
    let addresses = engine.addresses(&dns_name, &node_names);
    let mut cluster = crate::new_object!(
        now,
        Cluster {
            id,
            project_id,
            name,
            network_id: network.id,
            engine: req.engine.clone(),
            topology: req.topology,
            public_access,
            public_endpoint: None,
            private_allowlist,
            egress_allowlist,
            warnings: Vec::new(),
            dns_name,
            nodes,
            addresses,
            network_move: None,
            status: ClusterStatus::Provisioning,
            status_message: "waiting for the network and nodes".into(),
        }
    );
    cluster.warnings = cluster_warnings(&cluster);
    Ok(cluster)
}

pub fn update_cluster(
    current: &Cluster,
    req: &ClusterUpdate,
    now: DateTime<Utc>,
) -> Result<Cluster, CoreError> {
    current.ensure_not_going()?;
    let mut next = current.clone();
    if let Some(n) = &req.name {
        next.name = validate_name("name", n).map_err(|e| CoreError::Invalid(vec![e]))?;
    }
    if req.public_access.is_some() {
        let pa = validate_public_access(&req.public_access)?;
        if pa != next.public_access {
            next.public_access = pa;
            next.generation += 1;
        }
    }
    if let Some(list) = &req.private_allowlist {
        let list = validate_private_allowlist(list)?;
        if list != next.private_allowlist {
            next.private_allowlist = list;
            next.generation += 1;
        }
    }
    if req.egress_allowlist.is_some() {
        let egress = validate_egress(&req.egress_allowlist)?;
        if egress != next.egress_allowlist {
            next.egress_allowlist = egress;
            next.generation += 1;
        }
    }
    if !next.public_access.enabled {
        next.public_endpoint = None;
    }
    next.warnings = cluster_warnings(&next);
    next.updated_at = now;
    Ok(next)
}
