//! The checks, in the order a packet meets them.
//!
//! Private path (to a cluster's private name, a node name or a node IP):
//! 1. the source's own routing: the internet has no route to private node addresses
//!    (`no-route`);
//! 2. the destination is up: its network (the router every path ends at), the cluster,
//!    the node (`network-not-running`, `cluster-not-running`, `node-not-running`);
//! 3. the path into the cluster's network: the source VPC's own peering; else, for a VPC
//!    behind a hub, the hub's peering (on AWS and GCP that is `transit-not-allowed`);
//!    else an address inside another VPC's routes (`transit-not-allowed`); else nothing
//!    (`no-peering`);
//! 4. that peering is active (`peering-not-active`);
//! 5. its firewall chain: the source is inside its routes, or inside its transit routes
//!    while gateway transit is allowed (`gateway-transit-disabled`,
//!    `source-outside-routes`);
//! 6. the cluster's private allow-list, when not empty (`not-in-private-allowlist`);
//! 7. something listens on the port (`port-not-served`).
//!
//! Public path (to `public-<id>.<zone>` or the endpoint IP), one verdict per node:
//! 1. the source's own routing: lab VPCs and other private addresses have no route to
//!    the public endpoints (`no-route`);
//! 2. the endpoint exists: public access is on (`public-access-disabled`);
//! 3. the destination is up (as above);
//! 4. the router's public allow-list admits the source (`not-in-public-allowlist`);
//! 5. the node it forwards to listens on the port (`port-not-served`).
//!
//! A destination that is down is reported before the path into it: no path helps while
//! it is down (its network's router, where every path ends, may not even exist).

use std::net::Ipv4Addr;

use crate::engines;
use crate::resources::{Cluster, Network, Node};
use crate::state::{ClusterStatus, NetworkStatus, NodeStatus};

use super::index::{NodeRef, Origin};
use super::{fix, Hop, ReachError, ReachIndex, Reachability, Reason, Source, Verdict};

impl<'a> ReachIndex<'a> {
    /// Analyzes `from` → `to` on `port` (default: the engine's first port).
    pub fn analyze(
        &self,
        from: &Source,
        to: &str,
        port: Option<u16>,
    ) -> Result<Reachability, ReachError> {
        let lab_host;
        let from = match from {
            Source::Vpn(client) if self.has_vpn_client(client) => {
                return self.analyze_vpn(client, to, port);
            }
            // No such VPN client: `vpn/HOST` is a host of a lab VPC named `vpn`.
            Source::Vpn(host) => {
                lab_host = Source::LabHost {
                    vpc: "vpn".into(),
                    host: host.clone(),
                };
                &lab_host
            }
            other => other,
        };
        let (ip, origin) = self.resolve_source(from)?;
        let target = self.resolve_destination(to)?;
        let port = port.unwrap_or_else(|| {
            target
                .nodes
                .first()
                .and_then(|(ci, _)| engines::find(&self.snap.clusters[*ci].engine))
                .and_then(|e| e.ports.first())
                .map_or(0, |p| p.number)
        });
        if let (false, Origin::Lab(vpc)) = (target.public, origin) {
            if let Some(verdicts) = self.endpoint_verdicts(vpc, ip, to, &target.nodes, port) {
                return Ok(Reachability {
                    allowed: !verdicts.is_empty() && verdicts.iter().all(|v| v.allowed),
                    port,
                    verdicts,
                });
            }
        }
        let verdicts: Vec<Verdict> = target
            .nodes
            .iter()
            .map(|n| {
                let probe = Probe {
                    ip,
                    origin,
                    node: *n,
                    port,
                };
                if target.public {
                    self.public_verdict(probe)
                } else {
                    self.private_verdict(probe)
                }
            })
            .collect();
        Ok(Reachability {
            allowed: !verdicts.is_empty() && verdicts.iter().all(|v| v.allowed),
            port,
            verdicts,
        })
    }
}

/// One connection to analyze: from `ip` (found at `origin`) to one node on `port`.
#[derive(Clone, Copy)]
pub(super) struct Probe<'a> {
    pub ip: Ipv4Addr,
    pub origin: Origin<'a>,
    pub node: NodeRef,
    pub port: u16,
}

pub(super) fn source_hop(ip: Ipv4Addr, origin: Origin) -> Hop {
    let network = match origin {
        Origin::Lab(v) => format!("lab VPC {} ({})", v.name, v.cidr_block),
        Origin::Internet(Some(h)) => format!("the internet (host {})", h.name),
        Origin::Internet(None) => "the internet".to_string(),
        Origin::Unknown => "no known network".to_string(),
    };
    Hop::Source { ip, network }
}

pub(super) fn port_not_served(cluster: &Cluster, port: u16) -> Option<Verdict> {
    let served: Vec<u16> = engines::find(&cluster.engine)
        .map(|e| e.ports.iter().map(|p| p.number).collect())
        .unwrap_or_default();
    if served.contains(&port) {
        return None;
    }
    Some(Verdict::denied(
        Reason::PortNotServed,
        format!(
            "engine {} does not serve port {port} (it serves {})",
            cluster.engine,
            list(&served)
        ),
        Some(fix::use_port(cluster, &served)),
    ))
}

pub(super) fn destination_down(
    network: Option<&Network>,
    cluster: &Cluster,
    node: &Node,
) -> Option<Verdict> {
    let (reason, what, name, status, message) = match network {
        None => (
            Reason::NetworkNotRunning,
            "network",
            cluster.network_id.to_string(),
            "deleted".to_string(),
            "",
        ),
        Some(n) if n.status != NetworkStatus::Active => (
            Reason::NetworkNotRunning,
            "network",
            n.name.clone(),
            n.status.to_string(),
            n.status_message.as_str(),
        ),
        _ if !matches!(
            cluster.status,
            ClusterStatus::Running | ClusterStatus::Updating
        ) =>
        {
            (
                Reason::ClusterNotRunning,
                "cluster",
                cluster.name.clone(),
                cluster.status.to_string(),
                cluster.status_message.as_str(),
            )
        }
        _ if node.status != NodeStatus::Running => (
            Reason::NodeNotRunning,
            "node",
            node.dns_name.clone(),
            node.status.to_string(),
            "",
        ),
        _ => return None,
    };
    let detail = if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    };
    Some(Verdict::denied(
        reason,
        format!("{what} {name} is {status}, not running{detail}"),
        Some(fix::wait_for(what, &name, &status)),
    ))
}

/// The last check of every path: something listens on the port. If so, the rule that
/// let the packet in and the destination end the path, and the connection is allowed.
pub(super) fn deliver(
    cluster: &Cluster,
    port: u16,
    mut hops: Vec<Hop>,
    accepted_by: String,
    destination: Hop,
    explanation: String,
) -> Verdict {
    if let Some(denied) = port_not_served(cluster, port) {
        return denied.at_destination(hops, destination);
    }
    hops.push(Hop::firewall(accepted_by, "accept"));
    hops.push(destination);
    Verdict::allowed(explanation, hops)
}

/// The last hop of every path: the node and port the connection is for.
pub(super) fn destination_hop(cluster: &Cluster, node: &Node, port: u16) -> Hop {
    Hop::Destination {
        cluster: cluster.id,
        node: node.dns_name.clone(),
        ip: node.ip,
        port,
    }
}

impl<'a> ReachIndex<'a> {
    /// The cluster and node a probe goes to.
    pub(super) fn target(&self, node: NodeRef) -> (&'a Cluster, &'a Node) {
        let cluster = &self.snap.clusters[node.0];
        (cluster, &cluster.nodes[node.1])
    }

    /// The network a cluster lives in, unless it is gone.
    pub(super) fn network_of(&self, cluster: &Cluster) -> Option<&'a Network> {
        self.networks
            .get(&cluster.network_id)
            .map(|i| &self.snap.networks[*i])
    }
}

impl Hop {
    /// The firewall rule that decided, and what it did (`accept`, `drop`).
    pub(super) fn firewall(rule: String, verdict: &str) -> Hop {
        Hop::Firewall {
            rule,
            verdict: verdict.into(),
        }
    }
}

pub(super) fn none_if_empty<T: ToString>(items: &[T]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        list(items)
    }
}

pub(super) fn list<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Verdict {
    pub(super) fn denied(reason: Reason, explanation: String, fix: Option<super::Fix>) -> Verdict {
        Verdict {
            allowed: false,
            reason,
            explanation,
            hops: Vec::new(),
            fix,
        }
    }
    pub(super) fn with_hops(mut self, hops: Vec<Hop>) -> Verdict {
        self.hops = hops;
        self
    }
    /// A denial where the packet got to the destination (down, or no listener): its
    /// hop ends the path.
    pub(super) fn at_destination(self, mut hops: Vec<Hop>, destination: Hop) -> Verdict {
        hops.push(destination);
        self.with_hops(hops)
    }
    pub(super) fn allowed(explanation: String, hops: Vec<Hop>) -> Verdict {
        Verdict {
            allowed: true,
            reason: Reason::Allowed,
            explanation,
            hops,
            fix: None,
        }
    }
}
