//! Fixes for the access rules of issue 5: gateway transit, transit routes, the two
//! allow-lists, public access, and "connect there instead". Each command is the CLI form
//! that applies it (`isthmus peering update …`, `isthmus cluster update …`).

use std::net::Ipv4Addr;

use crate::ipam::PrefixSet;
use crate::lab::LabVpc;
use crate::resources::{Cluster, Network, Peering};
use crate::rules::MAX_ROUTES;
use crate::Cidr;

use super::{AllowlistKind, Fix, FixAction, ReachSnapshot, Verdict};

pub(super) fn allow_gateway_transit(p: &Peering) -> Fix {
    Fix {
        summary: format!("allow gateway transit on peering {}", p.name),
        actions: vec![FixAction::SetGatewayTransit {
            peering_id: p.id,
            enabled: true,
        }],
        commands: vec![format!(
            "isthmus peering update {} --allow-gateway-transit true",
            p.id
        )],
    }
}

/// A source behind the peer's gateway, in neither list: add its VPC's range as a transit
/// route (the range is behind the gateway, not the peer's own) and allow transit. Where
/// the range would overlap the peering's routes, the network or another peering's, only
/// the source address is added.
pub(super) fn add_transit_route(
    snap: &ReachSnapshot,
    p: &Peering,
    network: &Network,
    ip: Ipv4Addr,
    vpc: &LabVpc,
    taken: Option<&PrefixSet<usize>>,
) -> Fix {
    let clashes = |range: &Cidr| {
        range.overlaps(&network.cidr_block)
            || p.routes.iter().any(|r| r.overlaps(range))
            || taken.is_some_and(|set| {
                set.overlapping(range)
                    .iter()
                    .any(|(_, i)| snap.peerings[**i].id != p.id)
            })
    };
    let range = if clashes(&vpc.cidr_block) {
        Cidr::containing(ip, 32)
    } else {
        vpc.cidr_block
    };
    let transit: Vec<Cidr> = p
        .transit_routes
        .iter()
        .filter(|r| !range.contains(r))
        .copied()
        .chain([range])
        .collect();
    if p.routes.len() + transit.len() > MAX_ROUTES {
        return Fix {
            summary: format!(
                "peering {} has the most routes and transit routes allowed ({MAX_ROUTES}); \
                 peer lab VPC {} directly",
                p.name, vpc.name
            ),
            actions: Vec::new(),
            commands: Vec::new(),
        };
    }
    let flags: Vec<String> = transit
        .iter()
        .map(|r| format!("--transit-route {r}"))
        .collect();
    Fix {
        summary: format!(
            "add {range} to the transit routes of peering {} and allow gateway transit: lab \
             VPC {} is behind the peer's gateway",
            p.name, vpc.name
        ),
        actions: vec![FixAction::AddTransitRoute {
            peering_id: p.id,
            route: range,
        }],
        commands: vec![format!(
            "isthmus peering update {} {} --allow-gateway-transit true",
            p.id,
            flags.join(" ")
        )],
    }
}

pub(super) fn add_allowlist_entry(cluster: &Cluster, list: AllowlistKind, ip: Ipv4Addr) -> Fix {
    let cidr = Cidr::containing(ip, 32);
    let (name, flag) = match list {
        AllowlistKind::Public => ("public", "--add-public-allow"),
        AllowlistKind::Private => ("private", "--add-private-allow"),
    };
    Fix {
        summary: format!(
            "add {cidr} to the {name} allow-list of cluster {}",
            cluster.name
        ),
        actions: vec![FixAction::AddAllowlistEntry {
            cluster_id: cluster.id,
            list,
            cidr,
        }],
        commands: vec![format!(
            "isthmus cluster update {} {flag} {cidr}",
            cluster.id
        )],
    }
}

/// Turn public access on, with an entry for the source unless the list already holds it.
pub(super) fn enable_public_access(cluster: &Cluster, ip: Ipv4Addr, listed: bool) -> Fix {
    let cidr = Cidr::containing(ip, 32);
    let (summary, allow, command) = if listed {
        (
            format!(
                "turn public access on for cluster {} ({ip} is already in its allow-list)",
                cluster.name
            ),
            None,
            format!("isthmus cluster update {} --public-access on", cluster.id),
        )
    } else {
        (
            format!(
                "turn public access on for cluster {} with an allow-list entry for {cidr}",
                cluster.name
            ),
            Some(cidr),
            format!(
                "isthmus cluster update {} --public-access on --add-public-allow {cidr}",
                cluster.id
            ),
        )
    };
    Fix {
        summary,
        actions: vec![FixAction::EnablePublicAccess {
            cluster_id: cluster.id,
            allow,
        }],
        commands: vec![command],
    }
}

/// The source has no route to what it asked for, but the same nodes answer at `to`:
/// what it takes to reach them there (the other path's own fix, if it is denied too),
/// then connecting there.
pub(super) fn then_connect(other_path: Verdict, to: &str) -> Fix {
    let connect = FixAction::UseDestination { to: to.to_string() };
    match other_path.fix.filter(|_| !other_path.allowed) {
        None => Fix {
            summary: format!("connect to {to} instead"),
            actions: vec![connect],
            commands: Vec::new(),
        },
        Some(f) => Fix {
            summary: format!("{}, then connect to {to}", f.summary),
            actions: f.actions.into_iter().chain([connect]).collect(),
            commands: f.commands,
        },
    }
}
