//! The VPN path: from a VPN client (`vpn/NAME` or `vpn/ID`) through its gateway's tunnel
//! to the nodes of its network, as the gateway enforces it (`driver-local/src/vpn/nft.rs`):
//! 1. the client is live: not revoked (`vpn-client-revoked`), not expired
//!    (`vpn-client-expired`);
//! 2. its gateway serves (`vpn-gateway-not-ready`);
//! 3. the destination is on the gateway's network and a private address: the tunnel leads
//!    nowhere else (`no-route`);
//! 4. the destination is up (as on every path);
//! 5. something listens on the port (`port-not-served`);
//! 6. a grant names the cluster and the port (`vpn-not-granted`, fixed by adding the grant).

use crate::engines;
use crate::kinds::vpn_client::{VpnClient, VpnClientStatus};
use crate::kinds::vpn_gateway::{VpnGateway, VpnGatewayStatus};

use super::analyze::{destination_down, destination_hop, port_not_served};
use super::index::NodeRef;
use super::{Fix, FixAction, Hop, ReachError, ReachIndex, Reachability, Reason, Verdict};

impl<'a> ReachIndex<'a> {
    /// Whether `name` (a name or an id) is a VPN client of the snapshot.
    pub(super) fn has_vpn_client(&self, name: &str) -> bool {
        self.snap
            .vpn_clients
            .iter()
            .any(|c| c.name == name || c.id.to_string() == name)
    }

    /// Analyzes VPN client `name` (its name, else its id) → `to` on `port`.
    pub(super) fn analyze_vpn(
        &self,
        name: &str,
        to: &str,
        port: Option<u16>,
    ) -> Result<Reachability, ReachError> {
        let clients = &self.snap.vpn_clients;
        // A live client of that name first; a revoked one still answers (and says so).
        let client = clients
            .iter()
            .filter(|c| c.name == name || c.id.to_string() == name)
            .max_by_key(|c| (c.status.is_live(), c.created_at))
            .ok_or_else(|| ReachError::UnknownSource(format!("no VPN client '{name}'")))?;
        let gateway = self
            .snap
            .vpn_gateways
            .iter()
            .find(|g| g.id == client.gateway_id);
        let target = self.resolve_destination(to)?;
        let port = port.unwrap_or_else(|| {
            target
                .nodes
                .first()
                .and_then(|(ci, _)| engines::find(&self.snap.clusters[*ci].engine))
                .and_then(|e| e.ports.first())
                .map_or(0, |p| p.number)
        });
        let verdicts: Vec<Verdict> = target
            .nodes
            .iter()
            .map(|n| self.vpn_verdict(client, gateway, *n, port, target.public))
            .collect();
        Ok(Reachability {
            allowed: !verdicts.is_empty() && verdicts.iter().all(|v| v.allowed),
            port,
            verdicts,
        })
    }

    fn vpn_verdict(
        &self,
        client: &VpnClient,
        gateway: Option<&VpnGateway>,
        node_ref: NodeRef,
        port: u16,
        public: bool,
    ) -> Verdict {
        let (cluster, node) = self.target(node_ref);
        let gateway_name =
            gateway.map_or_else(|| client.gateway_id.to_string(), |g| g.name.clone());
        let hops = vec![Hop::Source {
            ip: client.address,
            network: format!("VPN client {} of gateway {gateway_name}", client.name),
        }];
        let destination = destination_hop(cluster, node, port);
        let add_client = || Fix {
            summary: format!(
                "add a new client to gateway {gateway_name} with the grant (a revoked or \
                 expired key never comes back)"
            ),
            actions: vec![],
            commands: vec![format!(
                "isthmus vpn client add {} {} --grant {}:{port}",
                client.gateway_id, client.name, cluster.id
            )],
        };
        match client.status {
            VpnClientStatus::Deleting | VpnClientStatus::Deleted => {
                return Verdict::denied(
                    Reason::VpnClientRevoked,
                    format!(
                        "VPN client {} is revoked: the gateway no longer accepts its key",
                        client.name
                    ),
                    Some(add_client()),
                )
                .with_hops(hops);
            }
            VpnClientStatus::Expired => {
                return Verdict::denied(
                    Reason::VpnClientExpired,
                    format!(
                        "VPN client {} expired at {}: the gateway removed its key",
                        client.name,
                        client.expires_at.to_rfc3339()
                    ),
                    Some(add_client()),
                )
                .with_hops(hops);
            }
            _ => {}
        }
        let Some(gateway) = gateway.filter(|g| g.status == VpnGatewayStatus::Ready) else {
            let status = gateway.map_or("deleted".to_string(), |g| g.status.to_string());
            return Verdict::denied(
                Reason::VpnGatewayNotReady,
                format!("VPN gateway {gateway_name} is {status}, not serving"),
                Some(Fix {
                    summary: format!("wait until VPN gateway {gateway_name} is ready"),
                    actions: vec![FixAction::Wait {
                        resource: format!("vpn_gateway {gateway_name}"),
                        status: "ready".into(),
                    }],
                    commands: vec![format!("isthmus vpn gateway wait {}", client.gateway_id)],
                }),
            )
            .with_hops(hops);
        };
        let mut hops = hops;
        hops.push(Hop::Gateway {
            network: format!(
                "VPN gateway {} ({})",
                gateway.name,
                gateway.endpoint.as_deref().unwrap_or("no endpoint yet")
            ),
        });
        if public || cluster.network_id != gateway.network_id {
            let why = if public {
                "a public endpoint is not behind the tunnel: use the cluster's private name"
                    .to_string()
            } else {
                format!(
                    "gateway {} leads only into its own network; cluster {} is in another",
                    gateway.name, cluster.name
                )
            };
            return Verdict::denied(Reason::NoRoute, why, None).with_hops(hops);
        }
        if let Some(denied) = destination_down(self.network_of(cluster), cluster, node) {
            return denied.at_destination(hops, destination);
        }
        if let Some(denied) = port_not_served(cluster, port) {
            return denied.at_destination(hops, destination);
        }
        let granted = client
            .grants
            .iter()
            .any(|g| g.cluster_id == cluster.id && g.ports.contains(&port));
        let rule = format!("client {}'s grants", client.address);
        if !granted {
            let mut grants: Vec<String> = client
                .grants
                .iter()
                .map(|g| {
                    let ports: Vec<String> = g.ports.iter().map(u16::to_string).collect();
                    format!("--grant {}:{}", g.cluster_id, ports.join(","))
                })
                .collect();
            grants.push(format!("--grant {}:{port}", cluster.id));
            hops.push(Hop::Firewall {
                rule,
                verdict: "reject (tcp reset)".into(),
            });
            return Verdict::denied(
                Reason::VpnNotGranted,
                format!(
                    "VPN client {} holds no grant for cluster {} port {port}: the gateway \
                     refuses it at once (a widened AllowedIPs on the laptop changes nothing)",
                    client.name, cluster.name
                ),
                Some(Fix {
                    summary: format!(
                        "grant client {} cluster {} port {port}",
                        client.name, cluster.name
                    ),
                    actions: vec![FixAction::AddVpnGrant {
                        client_id: client.id,
                        cluster_id: cluster.id,
                        port,
                    }],
                    commands: vec![format!(
                        "isthmus vpn client update {} {}",
                        client.id,
                        grants.join(" ")
                    )],
                }),
            )
            .with_hops(hops);
        }
        hops.push(Hop::Firewall {
            rule,
            verdict: "accept".into(),
        });
        hops.push(destination);
        Verdict::allowed(
            format!(
                "VPN client {} is granted cluster {} port {port}; the node sees {}",
                client.name, cluster.name, client.address
            ),
            hops,
        )
    }
}
