//! The private path: from a lab VPC or a peered address to a node's private address,
//! over a peering (the source VPC's own, or its hub's). The order of the checks is at the
//! top of `analyze.rs`.

use std::net::Ipv4Addr;

use crate::lab::LabVpc;
use crate::resources::{Cluster, Network, Peering, Provider};
use crate::state::PeeringStatus;

use super::analyze::{
    deliver, destination_down, destination_hop, list, none_if_empty, source_hop, Probe,
};
use super::index::Origin;
use super::public::public_dns_name;
use super::{fix, fix_access, AllowlistKind, Fix, Hop, ReachIndex, Reason, Verdict};

/// How the source's packets reach the cluster's network, or why they cannot.
enum Path<'a> {
    Over(&'a Peering),
    /// The source VPC is behind `hub` and has no peering of its own: its packets leave
    /// through the hub's gateway and arrive over the hub's peering.
    ViaHub(&'a Peering, &'a LabVpc),
    /// The source's own VPC is not peered, but its address is in another VPC's peering.
    Transit(&'a Peering),
    None,
}

impl<'a> ReachIndex<'a> {
    /// Analyzes `from` → `to` on `port` (default: the engine's first port).
    pub(super) fn private_verdict(&self, probe: Probe<'a>) -> Verdict {
        let (ip, origin, port, node_ref) = (probe.ip, probe.origin, probe.port, probe.node);
        let (cluster, node) = self.target(node_ref);
        let mut hops = vec![source_hop(ip, origin)];
        let destination = destination_hop(cluster, node, port);
        // A public-looking address of no known host that a peering claims as the peer's
        // is the peer's (a customer VPC may use public space privately).
        let claimed = || {
            self.routes
                .get(&cluster.network_id)
                .is_some_and(|set| set.longest_match(ip).is_some())
        };
        if let Origin::Internet(host) = origin {
            if host.is_some() || !claimed() {
                let public_path = self.public_verdict(probe);
                return internet_no_route(cluster, node.ip, public_path)
                    .at_destination(hops, destination);
            }
        }
        let vpc = match origin {
            Origin::Lab(v) => Some(v),
            _ => None,
        };
        let network = self.network_of(cluster);
        if let Some(denied) = destination_down(network, cluster, node) {
            return denied.at_destination(hops, destination);
        }
        let network = network.expect("checked by destination_down");
        let (peering, hub) = match self.path(ip, vpc, network) {
            Path::Over(p) => (p, None),
            Path::ViaHub(p, hub) => {
                hops.push(Hop::Gateway {
                    network: format!("lab VPC {} ({})", hub.name, hub.cidr_block),
                });
                hops.push(peering_hop(p));
                if matches!(network.provider, Provider::Aws | Provider::Gcp) {
                    let vpc = vpc.expect("a hub is reached from a source VPC");
                    return Verdict::denied(
                        Reason::TransitNotAllowed,
                        format!(
                            "lab VPC {} reaches network {} only through lab VPC {}'s peering \
                             {}; {} peering is non-transitive, so traffic from behind the \
                             peer's gateway is dropped",
                            vpc.name,
                            network.name,
                            hub.name,
                            p.name,
                            network.provider.as_str().to_uppercase()
                        ),
                        Some(self.peer_source(network, ip, Some(vpc))),
                    )
                    .with_hops(hops);
                }
                (p, Some(hub))
            }
            Path::Transit(p) => {
                let vpc = vpc.expect("transit needs a source VPC");
                return Verdict::denied(
                    Reason::TransitNotAllowed,
                    format!(
                        "{ip} is inside route {} of peering {}, but that peering is to {}, not \
                         to lab VPC {}; peering is non-transitive, so traffic relayed through \
                         another VPC is dropped",
                        route_of(p, ip)
                            .or_else(|| transit_of(p, ip))
                            .map_or_else(String::new, |r| r.to_string()),
                        p.name,
                        p.peer.network_id,
                        vpc.name
                    ),
                    Some(self.peer_source(network, ip, Some(vpc))),
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
                    Some(self.peer_source(network, ip, vpc)),
                )
                .with_hops(hops);
            }
        };
        if hub.is_none() {
            hops.push(peering_hop(peering));
        }
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
        let (matched, admitted) = match admission(peering, ip) {
            Admission::Route(route) => {
                hops.push(Hop::RouteMatched { route });
                (route, format!("inside route {route}"))
            }
            Admission::Transit(route) => {
                hops.push(Hop::TransitRouteMatched { route });
                (
                    route,
                    format!("inside transit route {route} (gateway transit allowed)"),
                )
            }
            Admission::TransitOff(route) => {
                hops.push(Hop::TransitRouteMatched { route });
                hops.push(outside_peering(peering));
                return Verdict::denied(
                    Reason::GatewayTransitDisabled,
                    format!(
                        "{ip} is inside transit route {route} of peering {}, a range behind \
                         the peer's gateway, but the peering does not allow gateway transit",
                        peering.name
                    ),
                    Some(fix_access::allow_gateway_transit(peering)),
                )
                .with_hops(hops);
            }
            Admission::Outside => {
                hops.push(outside_peering(peering));
                return self
                    .outside_routes(ip, vpc, hub, peering, network)
                    .with_hops(hops);
            }
        };
        let private = self.private_allow(node_ref.0);
        if !private.is_empty() {
            let Some(entry) = private.longest_match(ip) else {
                hops.push(Hop::firewall(
                    format!("priv_{}: ip saddr != @priv_{} drop", cluster.id, cluster.id),
                    "drop",
                ));
                return Verdict::denied(
                    Reason::NotInPrivateAllowlist,
                    format!(
                        "{ip} is in none of the {} entries of cluster {}'s private allow-list, \
                         which narrows the peered sources that may connect",
                        cluster.private_allowlist.len(),
                        cluster.name
                    ),
                    Some(fix_access::add_allowlist_entry(
                        cluster,
                        AllowlistKind::Private,
                        ip,
                    )),
                )
                .with_hops(hops);
            };
            hops.push(Hop::firewall(
                format!(
                    "priv_{}: ip saddr @priv_{} ({entry}) accept",
                    cluster.id, cluster.id
                ),
                "accept",
            ));
        }
        let through = hub.map_or_else(String::new, |h| {
            format!(" through the gateway of lab VPC {}", h.name)
        });
        deliver(
            cluster,
            port,
            hops,
            format!(
                "peer_{}: ip saddr @src_{} ({matched}), to the nodes, ct state new accept",
                peering.id, peering.id
            ),
            destination,
            format!(
                "{ip} arrives over peering {}{through}, {admitted}; {} listens on {port}",
                peering.name, node.dns_name
            ),
        )
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
        if let Some(p) = self.peering_to(network, &vpc.name, ip) {
            return Path::Over(p);
        }
        let hub = vpc.behind.as_deref().and_then(|h| self.lab_vpc(h));
        if let Some(hub) = hub {
            if let Some(p) = self.peering_to(network, &hub.name, ip) {
                return Path::ViaHub(p, hub);
            }
        }
        by_route().map_or(Path::None, Path::Transit)
    }

    /// The live peering from `network` to the peer network `peer`; of several, the one
    /// whose routes or transit routes hold the source decides.
    fn peering_to(&self, network: &Network, peer: &str, ip: Ipv4Addr) -> Option<&'a Peering> {
        let snap = self.snap;
        let ids = self.peerings_to.get(&(network.id, peer))?;
        let mut peerings = ids.iter().map(|i| &snap.peerings[*i]);
        let first = peerings.clone().next();
        peerings
            .find(|p| !matches!(admission(p, ip), Admission::Outside))
            .or(first)
    }
}

/// The internet has no route to private node addresses; the fix is the public path's.
fn internet_no_route(cluster: &Cluster, node_ip: Ipv4Addr, public_path: Verdict) -> Verdict {
    let public = public_dns_name(cluster);
    Verdict::denied(
        Reason::NoRoute,
        format!(
            "the internet has no route to {node_ip}, a private address of cluster {}: from the \
             internet it is reached only at its public endpoint {public}",
            cluster.name
        ),
        Some(fix_access::then_connect(public_path, &public)),
    )
}

impl<'a> ReachIndex<'a> {
    /// The fix that peers the source's own VPC (narrowing peerings that claim its range).
    fn peer_source(&self, network: &Network, ip: Ipv4Addr, vpc: Option<&LabVpc>) -> Fix {
        fix::create_peering(self.snap, network, ip, vpc, self.routes.get(&network.id))
    }

    /// The source is in neither list of the peering it arrives over: behind a hub, add
    /// its range as a transit route; otherwise as a route (or the covering prefix).
    fn outside_routes(
        &self,
        ip: Ipv4Addr,
        vpc: Option<&LabVpc>,
        hub: Option<&LabVpc>,
        peering: &Peering,
        network: &Network,
    ) -> Verdict {
        let routes = self.routes.get(&network.id);
        let (explanation, fix) = match (hub, vpc) {
            (Some(hub), Some(vpc)) => (
                format!(
                    "{ip} (lab VPC {}, behind {}) arrives over peering {} through the gateway \
                     of lab VPC {}, but is outside its routes ({}) and its transit routes ({})",
                    vpc.name,
                    hub.name,
                    peering.name,
                    hub.name,
                    list(&peering.routes),
                    none_if_empty(&peering.transit_routes)
                ),
                fix_access::add_transit_route(self.snap, peering, network, ip, vpc, routes),
            ),
            _ => (
                format!(
                    "{ip} is outside the routes of peering {} ({})",
                    peering.name,
                    list(&peering.routes)
                ),
                fix::add_route(self.snap, peering, network, ip, vpc, routes),
            ),
        };
        Verdict::denied(Reason::SourceOutsideRoutes, explanation, Some(fix))
    }
}

/// Whether a peering's firewall chain admits a source, and by which range.
enum Admission {
    Route(crate::Cidr),
    Transit(crate::Cidr),
    /// Inside a transit route while gateway transit is off.
    TransitOff(crate::Cidr),
    Outside,
}

fn admission(p: &Peering, ip: Ipv4Addr) -> Admission {
    if let Some(r) = route_of(p, ip) {
        return Admission::Route(r);
    }
    match transit_of(p, ip) {
        Some(r) if p.allow_gateway_transit => Admission::Transit(r),
        Some(r) => Admission::TransitOff(r),
        None => Admission::Outside,
    }
}

/// The peering's chain drops a source outside what it admits.
fn outside_peering(p: &Peering) -> Hop {
    Hop::firewall(
        format!("peer_{}: ip saddr != @src_{} drop", p.id, p.id),
        "drop",
    )
}

fn peering_hop(p: &Peering) -> Hop {
    Hop::Peering {
        id: p.id,
        name: p.name.clone(),
        status: p.status,
    }
}

fn route_of(p: &Peering, ip: Ipv4Addr) -> Option<crate::Cidr> {
    p.routes.iter().find(|r| r.contains_addr(ip)).copied()
}

fn transit_of(p: &Peering, ip: Ipv4Addr) -> Option<crate::Cidr> {
    p.transit_routes
        .iter()
        .find(|r| r.contains_addr(ip))
        .copied()
}
