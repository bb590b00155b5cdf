//! Moving a running cluster to another network of its project without changing its names
//! (issue 19). The cluster keeps its id, DNS names and connection strings; its nodes are
//! replaced by new ones in the target network:
//!
//! `provisioning_nodes → catching_up → names_switched → draining → done`, and before the
//! switch `cancelling → cancelled`. The move lives in the cluster's `network_move` field;
//! the cluster shows `moving` until it is done or cancelled.
//!
//! A new node gets a fresh index (its identity at the provider, so old and new nodes can
//! live side by side) and the DNS name of the node it replaces. DNS lists a cluster's nodes
//! in index order, so `<id>-<n>` names the n-th node before and after the switch.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::cluster::{allocate_node_ips, Cluster, Node};
use super::endpoint_service::EndpointService;
use super::peering::Peering;
use super::vpn_client::VpnClient;
use crate::cidr::Cidr;
use crate::object::{IndexEntry, Object, StatusMachine};
use crate::resources::{Network, Provider};
use crate::state::{ClusterStatus, NodeStatus, PeeringStatus};
use crate::CoreError;
use crate::NetworkId;

/// The store's index of node addresses a move holds outside the cluster's own network
/// (scope: the network they are in), so no other cluster is given them meanwhile.
pub const MOVE_NODE_IP: &str = "move_node_ip";

/// How long old nodes keep serving after the names switched, unless the request says.
pub const DEFAULT_DRAIN_SECONDS: u32 = 30;
/// The longest drain a request may ask for (one hour).
pub const MAX_DRAIN_SECONDS: u32 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MovePhase {
    /// New nodes are being created in the target network.
    ProvisioningNodes,
    /// The new nodes run; the data is being brought to them.
    CatchingUp,
    /// The DNS names point at the new nodes; the cluster belongs to the target network.
    NamesSwitched,
    /// The old nodes still serve clients that have not reconnected, until `drain_until`.
    Draining,
    Done,
    /// A cancel was asked before the switch: the new nodes are being removed.
    Cancelling,
    Cancelled,
}

impl MovePhase {
    pub fn as_str(self) -> &'static str {
        match self {
            MovePhase::ProvisioningNodes => "provisioning_nodes",
            MovePhase::CatchingUp => "catching_up",
            MovePhase::NamesSwitched => "names_switched",
            MovePhase::Draining => "draining",
            MovePhase::Done => "done",
            MovePhase::Cancelling => "cancelling",
            MovePhase::Cancelled => "cancelled",
        }
    }
    /// Still under way: the controller has work to do.
    pub fn is_active(self) -> bool {
        !matches!(self, MovePhase::Done | MovePhase::Cancelled)
    }
    /// Before the names switched, a move can still be undone.
    pub fn is_cancellable(self) -> bool {
        matches!(self, MovePhase::ProvisioningNodes | MovePhase::CatchingUp)
    }
    /// Whether `network_move.nodes` are the old nodes (after the switch) or the new ones.
    pub fn is_switched(self) -> bool {
        matches!(
            self,
            MovePhase::NamesSwitched | MovePhase::Draining | MovePhase::Done
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NetworkMove {
    pub source_network_id: NetworkId,
    pub target_network_id: NetworkId,
    pub phase: MovePhase,
    /// Before the switch: the new nodes in the target network. After it: the old nodes,
    /// serving in the source network until the drain ends, then deleted (and cleared).
    pub nodes: Vec<Node>,
    pub drain_seconds: u32,
    /// The caller accepted that the sources in `lost_access` lose the cluster.
    pub allow_lost_access: bool,
    /// Sources that reach the cluster today and will not after the move.
    pub lost_access: Vec<String>,
    /// E.g. a target in another region: latency and transfer cost.
    pub warnings: Vec<String>,
    pub started_at: DateTime<Utc>,
    pub switched_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// What the current phase waits for.
    pub message: String,
}

/// `POST /v1/projects/{p}/clusters/{id}/move`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterMoveRequest {
    /// The target network (name or id), in the cluster's project.
    pub network_id: String,
    /// Move even though the sources `lost_access` names would no longer reach the cluster.
    #[serde(default)]
    pub allow_lost_access: bool,
    /// How long the old nodes keep serving after the names switched (default 30, ≤ 3600).
    #[serde(default)]
    pub drain_seconds: Option<u32>,
}

/// What reaches the cluster today, and what the target network offers: what
/// [`start_move`] checks a move against.
pub struct AccessContext<'a> {
    pub source_peerings: &'a [Peering],
    pub target_peerings: &'a [Peering],
    /// The clients of the source network's VPN gateway.
    pub vpn_clients: &'a [VpnClient],
    /// The cluster's endpoint services.
    pub endpoint_services: &'a [EndpointService],
}

/// Starts moving `cluster` from `source` to `target`: the new nodes get addresses in the
/// target (avoiding `taken`), the cluster goes `moving`. Refused (naming the field) when
/// the target is of another project, the same network, of another driver, going away,
/// without room, or when a source reaching the cluster today would lose it and the request
/// did not allow that.
pub fn start_move(
    cluster: &Cluster,
    source: &Network,
    target: &Network,
    req: &ClusterMoveRequest,
    access: &AccessContext<'_>,
    taken: &HashSet<Ipv4Addr>,
    now: DateTime<Utc>,
) -> Result<Cluster, CoreError> {
    cluster.ensure_not_going()?;
    if target.project_id != cluster.project_id {
        return Err(CoreError::invalid(
            "network_id",
            "same-project",
            format!(
                "network {} is in another project; a cluster moves only within its project",
                target.id
            ),
        ));
    }
    if target.id == cluster.network_id {
        return Err(CoreError::invalid(
            "network_id",
            "different-network",
            format!("cluster {} is already in network {}", cluster.id, target.id),
        ));
    }
    if (source.provider == Provider::Local) != (target.provider == Provider::Local) {
        return Err(CoreError::invalid(
            "network_id",
            "same-driver",
            format!(
                "a cluster cannot move between the local driver and a cloud ({} → {})",
                source.provider.as_str(),
                target.provider.as_str()
            ),
        ));
    }
    if let Some(seconds) = req.drain_seconds.filter(|s| *s > MAX_DRAIN_SECONDS) {
        return Err(CoreError::invalid(
            "drain_seconds",
            "drain-range",
            format!("drain_seconds {seconds} is over the maximum of {MAX_DRAIN_SECONDS}"),
        ));
    }
    if let Some(m) = cluster
        .network_move
        .as_ref()
        .filter(|m| m.phase.is_active())
    {
        return Err(CoreError::conflict(
            Some("network_id"),
            "cluster-moving",
            format!(
                "cluster {} is already moving to network {} ({})",
                cluster.id,
                m.target_network_id,
                m.phase.as_str()
            ),
        ));
    }
    if cluster.status != ClusterStatus::Running {
        return Err(CoreError::conflict(
            None,
            "cluster-not-running",
            format!(
                "cluster {} is {}; only a running cluster moves",
                cluster.id, cluster.status
            ),
        ));
    }
    target.ensure_not_going()?;
    let lost = lost_access(cluster, target, access, now);
    if !lost.is_empty() && !req.allow_lost_access {
        return Err(CoreError::invalid(
            "network_id",
            "keeps-access",
            format!(
                "moving to network {} would cut off sources that reach the cluster today: {}; \
                 peer the target with them first, or set allow_lost_access",
                target.id,
                lost.join("; ")
            ),
        ));
    }
    let ips = allocate_node_ips(target, cluster.nodes.len(), taken)?;
    let first_index = cluster.nodes.iter().map(|n| n.index + 1).max().unwrap_or(0);
    let mut old: Vec<&Node> = cluster.nodes.iter().collect();
    old.sort_by_key(|n| n.index);
    let nodes = old
        .iter()
        .zip(ips)
        .enumerate()
        .map(|(i, (node, ip))| Node {
            index: first_index + i as u32,
            ip,
            dns_name: node.dns_name.clone(),
            zone: crate::clouds::zone_name(target.provider, &target.region, i),
            status: NodeStatus::Provisioning,
        })
        .collect();
    let mut warnings = Vec::new();
    if target.region != source.region || target.provider != source.provider {
        warnings.push(format!(
            "network {} is in {} {} and the cluster's clients in {} {}: expect added latency \
             and cross-region transfer cost",
            target.id,
            target.provider.as_str(),
            target.region,
            source.provider.as_str(),
            source.region
        ));
    }
    let mut next = cluster.clone();
    next.network_move = Some(NetworkMove {
        source_network_id: source.id,
        target_network_id: target.id,
        phase: MovePhase::ProvisioningNodes,
        nodes,
        drain_seconds: req.drain_seconds.unwrap_or(DEFAULT_DRAIN_SECONDS),
        allow_lost_access: req.allow_lost_access,
        lost_access: lost,
        warnings,
        started_at: now,
        switched_at: None,
        finished_at: None,
        message: "creating the new nodes".into(),
    });
    next.generation += 1;
    next.updated_at = now;
    Ok(next)
}

/// Asks the controller to undo a move that has not switched the names yet.
pub fn cancel_move(cluster: &Cluster, now: DateTime<Utc>) -> Result<Cluster, CoreError> {
    let Some(m) = cluster
        .network_move
        .as_ref()
        .filter(|m| m.phase.is_active())
    else {
        return Err(CoreError::conflict(
            None,
            "no-move",
            format!("cluster {} is not moving", cluster.id),
        ));
    };
    if m.phase == MovePhase::Cancelling {
        return Ok(cluster.clone());
    }
    if !m.phase.is_cancellable() {
        return Err(CoreError::conflict(
            None,
            "move-past-switch",
            format!(
                "the move of cluster {} is {}: its names already point at network {}, so it \
                 can no longer be cancelled (move it back instead)",
                cluster.id,
                m.phase.as_str(),
                m.target_network_id
            ),
        ));
    }
    let mut next = cluster.clone();
    if let Some(m) = next.network_move.as_mut() {
        m.phase = MovePhase::Cancelling;
        m.message = "removing the new nodes".into();
    }
    next.generation += 1;
    next.updated_at = now;
    Ok(next)
}

/// Every source that reaches `cluster` today and would not from `target`, one line each:
/// peered routes the target's active peerings do not cover (narrowed by the private
/// allow-list), VPN clients of the source network granted this cluster (a client belongs
/// to its gateway's network), and endpoint services whose customers' endpoints are in
/// another provider or region than the target. The public endpoint keeps its address.
pub fn lost_access(
    cluster: &Cluster,
    target: &Network,
    access: &AccessContext<'_>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let target_routes: Vec<Cidr> = access
        .target_peerings
        .iter()
        .filter(|p| p.status == PeeringStatus::Active)
        .flat_map(|p| p.routes.iter().copied())
        .collect();
    let reaches_today = |route: &Cidr| {
        cluster.private_allowlist.is_empty()
            || cluster
                .private_allowlist
                .iter()
                .any(|e| e.cidr.overlaps(route))
    };
    let mut lost = Vec::new();
    for peering in access
        .source_peerings
        .iter()
        .filter(|p| p.status == PeeringStatus::Active)
    {
        let cut: Vec<String> = peering
            .routes
            .iter()
            .filter(|r| reaches_today(r) && !target_routes.iter().any(|t| t.contains(r)))
            .map(|r| r.to_string())
            .collect();
        if !cut.is_empty() {
            lost.push(format!(
                "peering {} ({}) routes {}",
                peering.name,
                peering.id,
                cut.join(", ")
            ));
        }
    }
    for client in access.vpn_clients.iter().filter(|c| {
        c.revoked_at.is_none()
            && !c.is_expired(now)
            && c.grants.iter().any(|g| g.cluster_id == cluster.id)
    }) {
        lost.push(format!(
            "VPN client {} ({}) of the source network's gateway",
            client.name, client.id
        ));
    }
    for service in access.endpoint_services.iter().filter(|s| {
        s.status.is_live()
            && !s.connections.is_empty()
            && (s.provider != target.provider || s.region != target.region)
    }) {
        lost.push(format!(
            "endpoint service {} ({}): its endpoints are in {} {}",
            service.name,
            service.id,
            service.provider.as_str(),
            service.region
        ));
    }
    lost
}

/// The index claims of a move's nodes, in the network they are in: the target's before
/// the switch, the source's while the old nodes drain.
pub fn move_node_claims(cluster: &Cluster) -> Vec<IndexEntry> {
    let Some(m) = cluster
        .network_move
        .as_ref()
        .filter(|m| m.phase.is_active())
    else {
        return Vec::new();
    };
    let network = if m.phase.is_switched() {
        m.source_network_id
    } else {
        m.target_network_id
    };
    m.nodes
        .iter()
        .map(|n| {
            let ip = u32::from(n.ip);
            IndexEntry {
                index: MOVE_NODE_IP,
                scope: network.to_string(),
                start: ip,
                end: ip,
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "cluster_move_tests.rs"]
mod tests;
