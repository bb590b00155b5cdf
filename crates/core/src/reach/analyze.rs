//! The checks, in the order a packet meets them: the destination is up, a peering links
//! the source's network to the cluster's, that peering is active, the source is inside
//! its routes, and something listens on the port.

use std::net::Ipv4Addr;

use crate::engines;
use crate::lab::LabVpc;
use crate::resources::{Cluster, Network, Node, Peering};
use crate::state::{ClusterStatus, NetworkStatus, NodeStatus, PeeringStatus};

use super::index::NodeRef;
use super::{fix, Hop, ReachError, ReachIndex, Reachability, Reason, Source, Verdict};

/// How the source's packets reach the cluster's network, or why they cannot.
enum Path<'a> {
    Over(&'a Peering),
    /// The source's own VPC is not peered, but its address is in another VPC's peering.
    Transit(&'a Peering),
    None,
}

impl<'a> ReachIndex<'a> {
    /// Analyzes `from` → `to` on `port` (default: the engine's first port).
    pub fn analyze(
        &self,
        from: &Source,
        to: &str,
        port: Option<u16>,
    ) -> Result<Reachability, ReachError> {
        let (ip, vpc) = self.resolve_source(from)?;
        let nodes = self.resolve_destination(to)?;
        let port = port.unwrap_or_else(|| {
            nodes
                .first()
                .and_then(|(ci, _)| engines::find(&self.snap.clusters[*ci].engine))
                .and_then(|e| e.ports.first())
                .map_or(0, |p| p.number)
        });
        let verdicts: Vec<Verdict> = nodes
            .iter()
            .map(|n| self.verdict(ip, vpc, *n, port))
            .collect();
        Ok(Reachability {
            allowed: !verdicts.is_empty() && verdicts.iter().all(|v| v.allowed),
            port,
            verdicts,
        })
    }

    fn verdict(&self, ip: Ipv4Addr, vpc: Option<&LabVpc>, node: NodeRef, port: u16) -> Verdict {
        let cluster = &self.snap.clusters[node.0];
        let node = &cluster.nodes[node.1];
        let mut hops = vec![Hop::Source {
            ip,
            network: match vpc {
                Some(v) => format!("lab VPC {} ({})", v.name, v.cidr_block),
                None => "no known network".to_string(),
            },
        }];
        let destination = Hop::Destination {
            cluster: cluster.id,
            node: node.dns_name.clone(),
            ip: node.ip,
            port,
        };
        let network = self
            .networks
            .get(&cluster.network_id)
            .map(|i| &self.snap.networks[*i]);
        if let Some(denied) = destination_down(network, cluster, node) {
            hops.push(destination);
            return denied.with_hops(hops);
        }
        let network = network.expect("checked by destination_down");
        let peering = match self.path(ip, vpc, network) {
            Path::Over(p) => p,
            Path::Transit(p) => {
                let vpc = vpc.expect("transit needs a source VPC");
                return Verdict::denied(
                    Reason::TransitNotAllowed,
                    format!(
                        "{ip} is inside route {} of peering {}, but that peering is to {}, not \
                         to lab VPC {}; peering is non-transitive, so traffic relayed through \
                         another VPC is dropped",
                        route_of(p, ip).map_or_else(String::new, |r| r.to_string()),
                        p.name,
                        p.peer.network_id,
                        vpc.name
                    ),
                    Some(fix::create_peering(network, ip, Some(vpc))),
                )
                .with_hops(hops);
            }
            Path::None => {
                return Verdict::denied(
                    Reason::NoPeering,
                    format!(
                        "no peering connects {} to network {} ({})",
                        vpc.map_or_else(|| ip.to_string(), |v| format!("lab VPC {}", v.name)),
                        network.name,
                        network.id
                    ),
                    Some(fix::create_peering(network, ip, vpc)),
                )
                .with_hops(hops);
            }
        };
        hops.push(Hop::Peering {
            id: peering.id,
            name: peering.name.clone(),
            status: peering.status,
        });
        if peering.status != PeeringStatus::Active {
            return Verdict::denied(
                Reason::PeeringNotActive,
                format!(
                    "peering {} is {}, not active: its link does not carry traffic yet",
                    peering.name, peering.status
                ),
                Some(fix::activate_peering(peering)),
            )
            .with_hops(hops);
        }
        let Some(route) = route_of(peering, ip) else {
            hops.push(Hop::Firewall {
                rule: format!("peer_{}: ip saddr != @src_{} drop", peering.id, peering.id),
                verdict: "drop".into(),
            });
            let routes = self.routes.get(&network.id);
            return Verdict::denied(
                Reason::SourceOutsideRoutes,
                format!(
                    "{ip} is outside the routes of peering {} ({})",
                    peering.name,
                    list(&peering.routes)
                ),
                Some(fix::add_route(self.snap, peering, network, ip, vpc, routes)),
            )
            .with_hops(hops);
        };
        hops.push(Hop::RouteMatched { route });
        let engine = engines::find(&cluster.engine);
        let served: Vec<u16> = engine
            .map(|e| e.ports.iter().map(|p| p.number).collect())
            .unwrap_or_default();
        if !served.contains(&port) {
            hops.push(destination);
            return Verdict::denied(
                Reason::PortNotServed,
                format!(
                    "engine {} does not serve port {port} (it serves {})",
                    cluster.engine,
                    list(&served)
                ),
                Some(fix::use_port(cluster, &served)),
            )
            .with_hops(hops);
        }
        hops.push(Hop::Firewall {
            rule: format!(
                "peer_{}: ip saddr @src_{} ({route}), to the nodes, ct state new accept",
                peering.id, peering.id
            ),
            verdict: "accept".into(),
        });
        hops.push(destination);
        Verdict {
            allowed: true,
            reason: Reason::Allowed,
            explanation: format!(
                "{ip} arrives over peering {}, inside route {route}; {} listens on {port}",
                peering.name, node.dns_name
            ),
            hops,
            fix: None,
        }
    }

    fn path(&self, ip: Ipv4Addr, vpc: Option<&LabVpc>, network: &Network) -> Path<'a> {
        let snap = self.snap;
        let by_route = || {
            self.routes
                .get(&network.id)
                .and_then(|set| set.longest_match(ip))
                .map(|(_, i)| &snap.peerings[*i])
        };
        let Some(vpc) = vpc else {
            return by_route().map_or(Path::None, Path::Over);
        };
        let direct = self
            .peerings_to
            .get(&(network.id, vpc.name.as_str()))
            .map(|ids| ids.iter().map(|i| &snap.peerings[*i]).collect::<Vec<_>>())
            .unwrap_or_default();
        // Of several peerings to the same VPC, the one whose routes hold the source decides.
        if let Some(p) = direct
            .iter()
            .find(|p| route_of(p, ip).is_some())
            .or(direct.first())
        {
            return Path::Over(p);
        }
        by_route().map_or(Path::None, Path::Transit)
    }
}

fn destination_down(network: Option<&Network>, cluster: &Cluster, node: &Node) -> Option<Verdict> {
    let running = |what: &str, name: String, status: String, message: &str| {
        let detail = if message.is_empty() {
            String::new()
        } else {
            format!(": {message}")
        };
        (
            format!("{what} {name} is {status}, not running{detail}"),
            fix::wait_for(what, &name, &status),
        )
    };
    let (reason, (explanation, fix)) = match network {
        None => (
            Reason::NetworkNotRunning,
            running(
                "network",
                cluster.network_id.to_string(),
                "deleted".into(),
                "",
            ),
        ),
        Some(n) if n.status != NetworkStatus::Active => (
            Reason::NetworkNotRunning,
            running(
                "network",
                n.name.clone(),
                n.status.to_string(),
                &n.status_message,
            ),
        ),
        _ if !matches!(
            cluster.status,
            ClusterStatus::Running | ClusterStatus::Updating
        ) =>
        {
            (
                Reason::ClusterNotRunning,
                running(
                    "cluster",
                    cluster.name.clone(),
                    cluster.status.to_string(),
                    &cluster.status_message,
                ),
            )
        }
        _ if node.status != NodeStatus::Running => (
            Reason::NodeNotRunning,
            running("node", node.dns_name.clone(), node.status.to_string(), ""),
        ),
        _ => return None,
    };
    Some(Verdict::denied(reason, explanation, Some(fix)))
}

fn route_of(p: &Peering, ip: Ipv4Addr) -> Option<crate::Cidr> {
    p.routes.iter().find(|r| r.contains_addr(ip)).copied()
}

pub(super) fn list<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Verdict {
    fn denied(reason: Reason, explanation: String, fix: Option<super::Fix>) -> Verdict {
        Verdict {
            allowed: false,
            reason,
            explanation,
            hops: Vec::new(),
            fix,
        }
    }
    fn with_hops(mut self, hops: Vec<Hop>) -> Verdict {
        self.hops = hops;
        self
    }
}
