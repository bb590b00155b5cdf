//! The migration egress: may a migration's replicator (at its `worker_ip` in the target
//! cluster's network) open a TCP connection to an address and port outside the platform —
//! its source — and if not, why. It models what the `local` data plane enforces for a
//! replicator (see `driver-local/src/migration.rs` and `firewall/mod.rs`), in this order:
//! 1. the replicator is placed: its namespace and its egress chain exist only once the
//!    migration left `provisioning`, and only until it is deleted;
//! 2. its egress chain (`egress_<m>`) accepts exactly the source URLs' addresses and
//!    ports; the router's forward chain drops everything else from its address;
//! 3. the router forwards to the internet nothing that nodes or replicators open, so the
//!    destination must be inside the routes or transit routes of one of the network's
//!    peerings (a link exists only while the peering is `active`);
//! 4. the replies come back over that peering and pass its source guard: the routes,
//!    plus the transit routes only while gateway transit is allowed.
//!
//! Whether a server listens at the destination is not modelled: the lab's hosts run what
//! their owner starts there.

use std::net::Ipv4Addr;

use crate::kinds::migration::{Migration, MigrationStatus};
use crate::resources::{Network, Peering};
use crate::state::PeeringStatus;
use crate::Cidr;

use super::{Fix, FixAction, Hop, ReachSnapshot, Reason, Verdict};

/// One destination the replicator may try, with the answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct EgressCheck {
    #[schema(value_type = String)]
    pub to: Ipv4Addr,
    pub port: u16,
    pub verdict: Verdict,
}

/// The answer for a migration: one check per destination; `allowed` when every one is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct MigrationReach {
    pub allowed: bool,
    pub checks: Vec<EgressCheck>,
}

/// Each of the source URLs' address and port (those the egress was opened for).
pub fn source_destinations(m: &Migration) -> Vec<(Ipv4Addr, u16)> {
    m.egress
        .iter()
        .flat_map(|rule| rule.ports.iter().map(|port| (rule.cidr.start(), *port)))
        .map(|(ip, port)| (Ipv4Addr::from(ip), port))
        .collect()
}

/// Analyzes the replicator of `m` → `to`:`port` in `snap` (the project's networks and
/// peerings, the lab VPCs).
pub fn migration_egress(
    snap: &ReachSnapshot,
    m: &Migration,
    to: Ipv4Addr,
    port: u16,
) -> EgressCheck {
    EgressCheck {
        to,
        port,
        verdict: verdict(snap, m, to, port),
    }
}

fn verdict(snap: &ReachSnapshot, m: &Migration, to: Ipv4Addr, port: u16) -> Verdict {
    let network = snap.networks.iter().find(|n| n.id == m.network_id);
    let mut hops = vec![Hop::Source {
        ip: m.worker_ip,
        network: match network {
            Some(n) => format!(
                "network {} ({}), replicator of migration {}",
                n.name, n.cidr_block, m.id
            ),
            None => format!("replicator of migration {}", m.id),
        },
    }];
    let destination = Hop::Server {
        ip: to,
        port,
        network: lab_vpc_of(snap, to).map_or_else(
            || "no known network".into(),
            |(name, cidr)| format!("lab VPC {name} ({cidr})"),
        ),
    };
    if matches!(
        m.status,
        MigrationStatus::Provisioning | MigrationStatus::Deleting | MigrationStatus::Deleted
    ) {
        let fix =
            (m.status == MigrationStatus::Provisioning).then(|| wait(&m.id.to_string(), "copying"));
        return Verdict::denied(
            Reason::ReplicatorNotPlaced,
            format!(
                "migration {} is {}: its replicator and its egress exist only while it runs",
                m.id, m.status
            ),
            fix,
        )
        .with_hops(hops);
    }
    let Some(network) = network.filter(|n| n.status.is_live()) else {
        return Verdict::denied(
            Reason::NetworkNotRunning,
            format!("network {} is not running", m.network_id),
            None,
        )
        .with_hops(hops);
    };
    let rule = m
        .egress
        .iter()
        .find(|r| r.cidr.contains_addr(to) && (r.ports.is_empty() || r.ports.contains(&port)));
    let Some(rule) = rule else {
        hops.push(Hop::Firewall {
            rule: format!("egress of migration {}: {}", m.id, egress_text(m)),
            verdict: "drop".into(),
        });
        return Verdict::denied(
            Reason::NotInEgress,
            format!(
                "the replicator's egress admits only its source ({}); {to}:{port} is not a \
                 source URL, so the router drops the connection",
                egress_text(m)
            ),
            Some(Fix {
                summary: format!(
                    "give nats://{to}:{port} as a source URL (create the migration again \
                     with it): the egress opens to the source URLs only"
                ),
                actions: Vec::new(),
                commands: Vec::new(),
            }),
        )
        .with_hops(hops);
    };
    hops.push(Hop::Firewall {
        rule: format!(
            "egress of migration {}: accept {} tcp {}",
            m.id,
            rule.cidr,
            rule.ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
        verdict: "accept".into(),
    });
    let routed = |p: &&Peering| {
        p.routes
            .iter()
            .chain(&p.transit_routes)
            .any(|r| r.contains_addr(to))
    };
    // An active peering that routes the address wins over one still waiting.
    let peering = snap
        .peerings
        .iter()
        .filter(|p| p.network_id == network.id && p.status.is_live())
        .filter(routed)
        .max_by_key(|p| p.status == PeeringStatus::Active);
    let Some(peering) = peering else {
        return no_route(snap, network, to, hops, destination);
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
                "{to} is routed over peering {}, which is {}: its link exists only once it is active",
                peering.name, peering.status
            ),
            Some(wait(&peering.id.to_string(), "active")),
        )
        .with_hops(hops);
    }
    if let Some(route) = peering.routes.iter().find(|r| r.contains_addr(to)) {
        hops.push(Hop::RouteMatched { route: *route });
    } else {
        let route = *peering
            .transit_routes
            .iter()
            .find(|r| r.contains_addr(to))
            .expect("routed by a route or a transit route");
        hops.push(Hop::TransitRouteMatched { route });
        if !peering.allow_gateway_transit {
            return Verdict::denied(
                Reason::GatewayTransitDisabled,
                format!(
                    "{to} is in transit route {route} of peering {}: packets go out, but its \
                     replies are dropped while gateway transit is off",
                    peering.name
                ),
                Some(Fix {
                    summary: format!("allow gateway transit on peering {}", peering.name),
                    actions: vec![FixAction::SetGatewayTransit {
                        peering_id: peering.id,
                        enabled: true,
                    }],
                    commands: vec![format!(
                        "isthmus peering update {} --allow-gateway-transit true",
                        peering.id
                    )],
                }),
            )
            .with_hops(hops);
        }
    }
    hops.push(destination);
    Verdict::allowed(
        format!(
            "the replicator's egress admits {to}:{port} and peering {} routes it",
            peering.name
        ),
        hops,
    )
}

/// No live peering of the network routes `to`: the router would send it to the
/// internet, where nothing a replicator opens may go.
fn no_route(
    snap: &ReachSnapshot,
    network: &Network,
    to: Ipv4Addr,
    hops: Vec<Hop>,
    destination: Hop,
) -> Verdict {
    let vpc = lab_vpc_of(snap, to);
    let fix = vpc.map(|(name, cidr)| Fix {
        summary: format!("peer network {} with lab VPC {name} ({cidr})", network.name),
        actions: vec![FixAction::CreatePeering {
            network_id: network.id,
            peer_network: name.to_string(),
            routes: vec![cidr],
        }],
        commands: vec![format!(
            "isthmus peering create to-{name} --network {} --peer-account lab \
             --peer-network {name} --peer-region {} --route {cidr}",
            network.id, network.region
        )],
    });
    let mut hops = hops;
    hops.push(destination);
    Verdict::denied(
        Reason::NoPeering,
        format!(
            "no active peering of network {} routes {to}{}; the router forwards nothing a \
             replicator opens to the internet",
            network.name,
            vpc.map_or_else(String::new, |(name, _)| format!(" (lab VPC {name})"))
        ),
        fix,
    )
    .with_hops(hops)
}

fn lab_vpc_of(snap: &ReachSnapshot, ip: Ipv4Addr) -> Option<(&str, Cidr)> {
    snap.lab_vpcs
        .iter()
        .filter(|v| v.cidr_block.contains_addr(ip))
        .max_by_key(|v| v.cidr_block.prefix_len())
        .map(|v| (v.name.as_str(), v.cidr_block))
}

fn egress_text(m: &Migration) -> String {
    let rules: Vec<String> = m
        .egress
        .iter()
        .map(|r| {
            let ports: Vec<String> = r.ports.iter().map(u16::to_string).collect();
            format!("{} tcp {}", r.cidr, ports.join(","))
        })
        .collect();
    rules.join("; ")
}

fn wait(resource: &str, status: &str) -> Fix {
    Fix {
        summary: format!("wait until {resource} is {status}"),
        actions: vec![FixAction::Wait {
            resource: resource.to_string(),
            status: status.to_string(),
        }],
        commands: Vec::new(),
    }
}
