//! Fixes computed from the data: the peering to create, the route (or covering prefix)
//! to add, what the customer must still do, the port to use.

use std::net::Ipv4Addr;

use crate::ipam::PrefixSet;
use crate::lab::LabVpc;
use crate::planner::{cover, exclude};
use crate::resources::{Cluster, Network, Peering};
use crate::rules::MAX_ROUTES;
use crate::Cidr;

use super::analyze::list;
use super::{Fix, FixAction, ReachSnapshot};

/// The range to admit for a source: its lab VPC when known, else the address alone.
fn source_range(ip: Ipv4Addr, vpc: Option<&LabVpc>) -> Cidr {
    vpc.map_or_else(|| Cidr::containing(ip, 32), |v| v.cidr_block)
}

/// Peer the source's own VPC with its range, after releasing the range from the peerings
/// that claim part of it.
pub(super) fn create_peering(
    snap: &ReachSnapshot,
    network: &Network,
    ip: Ipv4Addr,
    vpc: Option<&LabVpc>,
    taken: Option<&PrefixSet<usize>>,
) -> Fix {
    let route = source_range(ip, vpc);
    let peer = vpc.map_or_else(|| format!("<the VPC holding {ip}>"), |v| v.name.clone());
    let mut steps = release(claimants(snap, taken, route, None), route);
    steps.summary.push(format!(
        "create a peering from network {} to {} with route {route}",
        network.name,
        vpc.map_or_else(
            || format!("the VPC holding {ip}"),
            |v| format!("lab VPC {}", v.name)
        ),
    ));
    steps.actions.push(FixAction::CreatePeering {
        network_id: network.id,
        peer_network: peer.clone(),
        routes: vec![route],
    });
    // A lab VPC's peering is complete as given (any account, named after the VPC); an
    // unknown VPC leaves its account and a name to the user.
    let name = vpc.map_or_else(|| "<name>".to_string(), |v| format!("to-{}", v.name));
    let account = match (vpc, network.provider) {
        (Some(_), crate::resources::Provider::Local) => "lab",
        _ => "<account>",
    };
    steps.commands.push(format!(
        "isthmus peering create {name} --network {} --peer-account {account} \
         --peer-network {peer} --peer-region {} --route {route}",
        network.id, network.region
    ));
    steps.into_fix()
}

/// Steps of a fix, each with its sentence; the commands of those that have one.
#[derive(Default)]
struct Steps {
    summary: Vec<String>,
    actions: Vec<FixAction>,
    commands: Vec<String>,
}

impl Steps {
    fn into_fix(mut self) -> Fix {
        let last = self.summary.pop().unwrap_or_default();
        let summary = match self.summary.is_empty() {
            true => last,
            false => format!("{}, then {last}", self.summary.join(", ")),
        };
        Fix {
            summary,
            actions: self.actions,
            commands: self.commands,
        }
    }
}

/// A range belongs to one peering of a network (the API refuses a route overlapping
/// another peering's): the steps that narrow each of `claimants` to what lies outside
/// `range`, or delete it when nothing would be left.
fn release(claimants: Vec<&Peering>, range: Cidr) -> Steps {
    let mut steps = Steps::default();
    for p in claimants {
        let routes = without(&p.routes, range);
        if routes.is_empty() {
            steps.summary.push(format!(
                "delete peering {} (its routes {} all lie inside {range})",
                p.name,
                list(&p.routes)
            ));
            steps
                .actions
                .push(FixAction::DeletePeering { peering_id: p.id });
            steps
                .commands
                .push(format!("isthmus peering delete {}", p.id));
            continue;
        }
        let transit_routes = without(&p.transit_routes, range);
        let mut command = update_routes(p, &routes);
        if transit_routes != p.transit_routes {
            match transit_routes.as_slice() {
                [] => command.push_str(" --no-transit-routes"),
                some => command.push_str(&format!(" {}", flags("--transit-route", some))),
            }
        }
        let mut step = format!(
            "narrow peering {} to {} so that it no longer claims {range}",
            p.name,
            list(&[routes.as_slice(), transit_routes.as_slice()].concat())
        );
        if routes.len().max(transit_routes.len()) > MAX_ROUTES {
            // Carving a small range out of a wide one can leave more prefixes than fit.
            step.push_str(&format!(
                " (more than the {MAX_ROUTES} a list may hold: give it fewer, wider routes \
                 that stay clear of {range})"
            ));
        }
        steps.summary.push(step);
        steps.actions.push(FixAction::NarrowRoutes {
            peering_id: p.id,
            routes,
            transit_routes,
        });
        steps.commands.push(command);
    }
    steps
}

/// The live peerings of the network whose routes or transit routes overlap `range`, in
/// snapshot order (deterministic), each once; `except` is left out.
fn claimants<'a>(
    snap: &'a ReachSnapshot,
    taken: Option<&PrefixSet<usize>>,
    range: Cidr,
    except: Option<&Peering>,
) -> Vec<&'a Peering> {
    let mut found: Vec<usize> = taken.map_or_else(Vec::new, |set| {
        set.overlapping(&range)
            .into_iter()
            .map(|(_, i)| *i)
            .collect()
    });
    found.sort_unstable();
    found.dedup();
    found
        .into_iter()
        .map(|i| &snap.peerings[i])
        .filter(|p| except.is_none_or(|e| e.id != p.id))
        .collect()
}

/// `routes` with the addresses of `range` cut out.
fn without(routes: &[Cidr], range: Cidr) -> Vec<Cidr> {
    routes.iter().flat_map(|r| exclude(*r, range)).collect()
}

/// The command that gives peering `p` exactly `routes`.
fn update_routes(p: &Peering, routes: &[Cidr]) -> String {
    format!(
        "isthmus peering update {} {}",
        p.id,
        flags("--route", routes)
    )
}

/// `--flag a --flag b …`.
fn flags(flag: &str, values: &[Cidr]) -> String {
    values
        .iter()
        .map(|v| format!("{flag} {v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn activate_peering(p: &Peering) -> Fix {
    use crate::state::PeeringStatus::*;
    let mut summary = format!("peering {} is {}", p.name, p.status);
    if !p.status_message.is_empty() {
        summary.push_str(&format!(" ({})", p.status_message));
    }
    // A refused, rejected or removed request cannot be revived on the cloud's side (AWS
    // does not accept a rejected connection): only a new request links the networks.
    if matches!(
        p.status,
        RejectedByPeer | DeletedByPeer | InvalidSpecification
    ) {
        summary.push_str(&format!(
            "; no action on the customer's side can revive it: delete it and create it again{}",
            match p.status {
                InvalidSpecification => " with the peer account, network and region corrected",
                _ => "",
            }
        ));
        return Fix {
            summary,
            actions: vec![FixAction::RecreatePeering { peering_id: p.id }],
            commands: recreate_peering(p),
        };
    }
    let waiting = crate::customer_actions::awaits_customer(p.status);
    if !waiting || p.customer_actions.is_empty() {
        summary.push_str("; wait for it to become active");
        // In error the controller retries at its next resync; a refresh retries now.
        let command = match p.status {
            Error => format!("isthmus peering refresh {} --wait", p.id),
            _ => format!("isthmus peering wait {}", p.id),
        };
        return Fix {
            summary,
            actions: vec![FixAction::Wait {
                resource: format!("peering {}", p.id),
                status: "active".into(),
            }],
            commands: vec![command],
        };
    }
    // Each description is a sentence of its own; joined into this one, its full stop goes.
    let steps: Vec<&str> = p
        .customer_actions
        .iter()
        .map(|a| a.description.trim_end_matches('.'))
        .collect();
    summary.push_str(&format!("; the customer must still: {}", steps.join("; ")));
    Fix {
        summary,
        actions: p
            .customer_actions
            .iter()
            .cloned()
            .map(FixAction::Customer)
            .collect(),
        commands: p
            .customer_actions
            .iter()
            .map(|a| a.command.clone())
            .collect(),
    }
}

/// The two commands that replace peering `p` by a new request with the same fields: its
/// delete (waited for, so its routes are free again) and its create.
fn recreate_peering(p: &Peering) -> Vec<String> {
    let q = |v: &str| {
        shlex::try_quote(v)
            .map(|q| q.into_owned())
            .unwrap_or_else(|_| "''".into())
    };
    let mut create = format!(
        "isthmus peering create {} --network {} --peer-account {} --peer-network {} \
         --peer-region {} {}",
        q(&p.name),
        p.network_id,
        q(&p.peer.account_id),
        q(&p.peer.network_id),
        q(&p.peer.region),
        flags("--route", &p.routes)
    );
    if !p.transit_routes.is_empty() {
        create.push_str(&format!(" {}", flags("--transit-route", &p.transit_routes)));
    }
    if p.allow_gateway_transit {
        create.push_str(" --allow-gateway-transit");
    }
    vec![
        format!("isthmus peering delete {} --yes --wait", p.id),
        create,
    ]
}

/// Admit the source's range: add it as a route — or, when the routes are full or the
/// range sits next to one of them, replace that route by the prefix covering both (the
/// GKE case: 172.30.0.0/16 plus 172.31.128.0/17 is 172.30.0.0/15). Where other peerings
/// claim part of the range, they are narrowed first.
pub(super) fn add_route(
    snap: &ReachSnapshot,
    p: &Peering,
    network: &Network,
    ip: Ipv4Addr,
    vpc: Option<&LabVpc>,
    taken: Option<&PrefixSet<usize>>,
) -> Fix {
    let missing = source_range(ip, vpc);
    // Routes nested in the missing range are replaced by it (routes may not overlap).
    let nested: Vec<Cidr> = p
        .routes
        .iter()
        .filter(|r| missing.contains(r))
        .copied()
        .collect();
    // Another peering claims part of the range: release it first; the steps then run in
    // order, with no covering alternative (it would have to clear those peerings too).
    let others = claimants(snap, taken, missing, Some(p));
    if !others.is_empty() {
        let mut steps = release(others, missing);
        let routes = with(&p.routes, &nested, missing);
        if routes.len() > MAX_ROUTES {
            steps.summary.push(format!(
                "peering {} has the most routes allowed ({MAX_ROUTES})",
                p.name
            ));
        } else {
            steps
                .summary
                .push(format!("give peering {} route {missing}", p.name));
            steps.actions.push(match nested.is_empty() {
                true => FixAction::AddRoute {
                    peering_id: p.id,
                    route: missing,
                },
                false => FixAction::ReplaceRoutes {
                    peering_id: p.id,
                    remove: nested,
                    add: missing,
                },
            });
            steps.commands.push(update_routes(p, &routes));
        }
        return steps.into_fix();
    }
    let mut actions = Vec::new();
    let mut commands = Vec::new();
    let mut summary;
    if nested.is_empty() && p.routes.len() < MAX_ROUTES {
        summary = format!("add route {missing} to peering {}", p.name);
        actions.push(FixAction::AddRoute {
            peering_id: p.id,
            route: missing,
        });
        commands.push(update_routes(p, &with(&p.routes, &[], missing)));
    } else if !nested.is_empty() {
        summary = format!(
            "replace {} by {missing} in peering {}",
            list(&nested),
            p.name
        );
        actions.push(FixAction::ReplaceRoutes {
            peering_id: p.id,
            remove: nested.clone(),
            add: missing,
        });
        commands.push(update_routes(p, &with(&p.routes, &nested, missing)));
    } else {
        summary = format!(
            "peering {} has the most routes allowed ({MAX_ROUTES})",
            p.name
        );
    }
    if nested.is_empty() {
        if let Some((absorbed, covering)) = covering_alternative(snap, p, network, missing, taken) {
            summary.push_str(&format!(
                "{}replace {} by the covering prefix {covering}",
                if actions.is_empty() { "; " } else { ", or " },
                list(&absorbed)
            ));
            actions.push(FixAction::ReplaceRoutes {
                peering_id: p.id,
                remove: absorbed.clone(),
                add: covering,
            });
            commands.push(update_routes(p, &with(&p.routes, &absorbed, covering)));
        }
    }
    Fix {
        summary,
        actions,
        commands,
    }
}

/// The routes of `routes` without `remove`, plus `add`.
fn with(routes: &[Cidr], remove: &[Cidr], add: Cidr) -> Vec<Cidr> {
    let mut out: Vec<Cidr> = routes
        .iter()
        .filter(|r| !remove.contains(r))
        .copied()
        .collect();
    out.push(add);
    out
}

/// The smallest prefix covering `missing` and one of the peering's routes, with the
/// routes it absorbs — offered when it wastes no more addresses than it admits (or the
/// routes are full), and only if it stays clear of the network and other peerings.
fn covering_alternative(
    snap: &ReachSnapshot,
    p: &Peering,
    network: &Network,
    missing: Cidr,
    taken: Option<&PrefixSet<usize>>,
) -> Option<(Vec<Cidr>, Cidr)> {
    let covering = p
        .routes
        .iter()
        .filter_map(|r| cover(&[*r, missing]))
        .min_by_key(|c| (c.size(), *c))?;
    if covering.overlaps(&network.cidr_block) {
        return None;
    }
    let others = taken.is_some_and(|set| {
        set.overlapping(&covering)
            .iter()
            .any(|(_, i)| snap.peerings[**i].id != p.id)
    });
    if others {
        return None;
    }
    let absorbed: Vec<Cidr> = p
        .routes
        .iter()
        .filter(|r| covering.contains(r))
        .copied()
        .collect();
    let admitted: u64 = absorbed.iter().map(Cidr::size).sum::<u64>() + missing.size();
    let full = p.routes.len() >= MAX_ROUTES;
    (full || covering.size() <= 2 * admitted).then_some((absorbed, covering))
}

pub(super) fn use_port(cluster: &Cluster, served: &[u16]) -> Fix {
    Fix {
        summary: format!(
            "connect to a port engine {} serves: {}",
            cluster.engine,
            list(served)
        ),
        actions: vec![FixAction::UsePort {
            ports: served.to_vec(),
        }],
        commands: Vec::new(),
    }
}

pub(super) fn wait_for(what: &str, name: &str, status: &str) -> Fix {
    let target = if what == "network" {
        "active"
    } else {
        "running"
    };
    Fix {
        summary: format!("wait until {what} {name} is {target} (it is {status})"),
        actions: vec![FixAction::Wait {
            resource: format!("{what} {name}"),
            status: target.into(),
        }],
        commands: Vec::new(),
    }
}
