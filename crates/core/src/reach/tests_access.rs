//! The access rules of issue 5 in the analyzer: public endpoints and their allow-lists,
//! private allow-lists, gateway transit and non-transitive providers, and the routes the
//! internet and lab VPCs do not have. Each denial checks its explanation and fix, and
//! that applying the fix to the snapshot turns it into an allow.

use std::collections::HashSet;

use super::tests::{c, fix, only, World};
use super::*;
use crate::lab::LabHost;
use crate::resources::*;
use crate::rules;
use crate::state::NodeStatus;

impl World {
    pub(super) fn internet_host(&mut self, name: &str, ip: &str) {
        self.snap.internet_hosts.push(LabHost {
            name: name.into(),
            ip: ip.parse().unwrap(),
        });
    }

    /// Puts lab VPC `vpc` behind lab VPC `hub` (its traffic leaves through the hub).
    fn behind(&mut self, vpc: &str, hub: &str) {
        let v = self.snap.lab_vpcs.iter_mut().find(|v| v.name == vpc);
        v.unwrap().behind = Some(hub.into());
    }

    fn cluster_mut(&mut self, cid: ClusterId) -> &mut Cluster {
        self.snap.clusters.iter_mut().find(|c| c.id == cid).unwrap()
    }

    /// Sets public access as the API would: the endpoint follows `enabled`.
    fn public_access(&mut self, cid: ClusterId, enabled: bool, allow: &[&str]) {
        let cl = self.cluster_mut(cid);
        cl.public_access = PublicAccess {
            enabled,
            allowlist: allow.iter().map(|a| entry(a)).collect(),
        };
        rules::assign_public_endpoint(cl, &HashSet::new()).unwrap();
    }

    fn private_allowlist(&mut self, cid: ClusterId, allow: &[&str]) {
        self.cluster_mut(cid).private_allowlist = allow.iter().map(|a| entry(a)).collect();
    }

    fn public_name(&self, cid: ClusterId) -> String {
        let cl = self.snap.clusters.iter().find(|c| c.id == cid).unwrap();
        let zone = cl.dns_name.strip_prefix(&format!("{cid}.")).unwrap();
        format!("public-{cid}.{zone}")
    }

    /// The access actions, as a user following the fix would apply them.
    pub(super) fn apply_access(&mut self, action: &FixAction) {
        match action {
            FixAction::AddTransitRoute { peering_id, route } => {
                let p = self.peering_mut(*peering_id);
                p.transit_routes.retain(|r| !route.contains(r));
                p.transit_routes.push(*route);
                p.allow_gateway_transit = true;
            }
            FixAction::SetGatewayTransit {
                peering_id,
                enabled,
            } => self.peering_mut(*peering_id).allow_gateway_transit = *enabled,
            FixAction::AddAllowlistEntry {
                cluster_id,
                list,
                cidr,
            } => {
                let cl = self.cluster_mut(*cluster_id);
                let entries = match list {
                    AllowlistKind::Public => &mut cl.public_access.allowlist,
                    AllowlistKind::Private => &mut cl.private_allowlist,
                };
                entries.push(entry(&cidr.to_string()));
            }
            FixAction::EnablePublicAccess { cluster_id, allow } => {
                let cl = self.cluster_mut(*cluster_id);
                cl.public_access.enabled = true;
                cl.public_access
                    .allowlist
                    .extend(allow.iter().map(|a| entry(&a.to_string())));
                rules::assign_public_endpoint(cl, &HashSet::new()).unwrap();
            }
            other => panic!("not a change to the snapshot: {other:?}"),
        }
    }

    /// Follows every action of a fix in order; returns where it says to connect instead.
    fn follow(&mut self, f: &Fix) -> Option<String> {
        let mut to = None;
        for action in &f.actions {
            match action {
                FixAction::UseDestination { to: there } => to = Some(there.clone()),
                other => self.apply(other),
            }
        }
        to
    }
}

fn entry(cidr: &str) -> AllowlistEntry {
    AllowlistEntry {
        cidr: c(cidr),
        comment: String::new(),
        expires_at: None,
    }
}

/// A local platform network with a three-node cluster, a peered lab VPC `customer`
/// (host `app` 172.16.0.10) and an internet host `laptop` (203.0.113.10).
fn world() -> (World, Network, ClusterId) {
    let mut w = World::new();
    let net = w.network(Provider::Local, "172.29.98.0/24");
    w.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.0.10")]);
    w.peering(&net, "customer", &["172.16.0.0/16"]);
    w.internet_host("laptop", "203.0.113.10");
    let cid = w.cluster(&net, Topology::ThreeNodeMultiZone);
    (w, net, cid)
}

// ---- the public path ------------------------------------------------------------------

#[test]
fn an_allowed_internet_host_reaches_every_node_through_the_public_endpoint() {
    let (mut w, _, cid) = world();
    w.public_access(cid, true, &["203.0.113.0/24"]);
    let endpoint = w.snap.clusters[0].public_endpoint.clone().unwrap();
    assert_eq!(endpoint.dns_name, w.public_name(cid));

    let r = w.reach("internet/laptop", &endpoint.dns_name, None);
    assert!(r.allowed, "{r:#?}");
    assert_eq!(r.verdicts.len(), 3, "the endpoint forwards to any node");
    let v = &r.verdicts[0];
    let node = &w.snap.clusters[0].nodes[0];
    assert_eq!(
        v.explanation,
        format!(
            "203.0.113.10 is inside entry 203.0.113.0/24 of cluster orders's public \
             allow-list; {} forwards to {} on 8443",
            endpoint.dns_name, node.dns_name
        )
    );
    assert_eq!(
        v.hops,
        [
            Hop::Source {
                ip: "203.0.113.10".parse().unwrap(),
                network: "the internet (host laptop)".into()
            },
            Hop::PublicEndpoint {
                dns_name: endpoint.dns_name.clone(),
                ip: endpoint.ip
            },
            Hop::Firewall {
                rule: format!("pub_{cid}: ip saddr @pub_{cid} (203.0.113.0/24), dnat to the nodes"),
                verdict: "accept".into()
            },
            Hop::Destination {
                cluster: cid,
                node: node.dns_name.clone(),
                ip: node.ip,
                port: 8443
            },
        ]
    );
    // The endpoint's address and a bare internet address name the same path.
    let by_ip = w.reach("203.0.113.10", &endpoint.ip.to_string(), None);
    assert_eq!(by_ip.verdicts, r.verdicts);
    assert!(w
        .reach("198.51.100.7", &format!("public-{cid}"), None)
        .verdicts[0]
        .explanation
        .starts_with("198.51.100.7 is in none of the 1 entries"));
}

#[test]
fn an_internet_host_outside_the_public_allow_list_is_dropped_and_told_the_entry_to_add() {
    let (mut w, _, cid) = world();
    w.public_access(cid, true, &["198.51.100.0/24"]);
    let to = w.public_name(cid);

    let r = w.reach("internet/laptop", &to, None);
    let v = &r.verdicts[0];
    assert!(!r.allowed);
    assert_eq!(v.reason.as_str(), "not-in-public-allowlist");
    assert_eq!(
        v.explanation,
        "203.0.113.10 is in none of the 1 entries of cluster orders's public allow-list"
    );
    assert_eq!(
        v.hops[2],
        Hop::Firewall {
            rule: format!("pub_{cid}: ip saddr != @pub_{cid} drop"),
            verdict: "drop".into()
        }
    );
    assert_eq!(
        fix(v).summary,
        "add 203.0.113.10/32 to the public allow-list of cluster orders"
    );
    assert_eq!(
        fix(v).commands,
        [format!(
            "isthmus cluster update {cid} --add-public-allow 203.0.113.10/32"
        )]
    );
    w.follow(&fix(v).clone());
    assert!(w.reach("internet/laptop", &to, None).allowed);
}

#[test]
fn an_empty_public_allow_list_admits_nobody_and_says_so() {
    let (mut w, _, cid) = world();
    w.public_access(cid, true, &[]);
    let to = w.public_name(cid);

    let r = w.reach("internet/laptop", &to, None);
    let v = &r.verdicts[0];
    assert_eq!(v.reason, Reason::NotInPublicAllowlist);
    assert_eq!(
        v.explanation,
        format!(
            "cluster orders's public allow-list is empty: nobody may connect to {to} until \
             an entry is added"
        )
    );
    assert_eq!(
        fix(v).actions,
        [FixAction::AddAllowlistEntry {
            cluster_id: cid,
            list: AllowlistKind::Public,
            cidr: c("203.0.113.10/32"),
        }]
    );
    w.follow(&fix(v).clone());
    assert!(w.reach("internet/laptop", &to, None).allowed);
}

#[test]
fn zero_slash_zero_admits_every_internet_address() {
    let (mut w, _, cid) = world();
    w.public_access(cid, true, &["0.0.0.0/0"]);
    let to = w.public_name(cid);
    for from in ["internet/laptop", "198.51.100.7", "8.8.8.8"] {
        let r = w.reach(from, &to, None);
        assert!(r.allowed, "{from}: {r:#?}");
        assert!(r.verdicts[0].explanation.contains("inside entry 0.0.0.0/0"));
    }
}

#[test]
fn a_disabled_public_endpoint_still_resolves_and_says_it_is_off() {
    let (mut w, _, cid) = world();
    let to = w.public_name(cid);
    assert!(w.snap.clusters[0].public_endpoint.is_none());

    let r = w.reach("internet/laptop", &to, None);
    assert_eq!(r.verdicts.len(), 3);
    let v = &r.verdicts[0];
    assert_eq!(v.reason.as_str(), "public-access-disabled");
    assert_eq!(
        v.explanation,
        format!("public access of cluster orders is off: {to} has no endpoint, so nothing answers there")
    );
    assert_eq!(v.hops.len(), 1, "no endpoint, no further hop: {:?}", v.hops);
    assert_eq!(
        fix(v).summary,
        "turn public access on for cluster orders with an allow-list entry for 203.0.113.10/32"
    );
    assert_eq!(
        fix(v).commands,
        [format!(
            "isthmus cluster update {cid} --public-access on --add-public-allow 203.0.113.10/32"
        )]
    );
    w.follow(&fix(v).clone());
    assert!(w.reach("internet/laptop", &to, None).allowed);
}

#[test]
fn switching_public_access_off_keeps_the_list_so_turning_it_on_is_enough() {
    let (mut w, _, cid) = world();
    w.public_access(cid, true, &["203.0.113.10/32"]);
    let to = w.public_name(cid);
    let ip = w.snap.clusters[0].public_endpoint.clone().unwrap().ip;
    assert!(w.reach("internet/laptop", &ip.to_string(), None).allowed);

    w.public_access(cid, false, &["203.0.113.10/32"]);
    let r = w.reach("internet/laptop", &to, None);
    let v = &r.verdicts[0];
    assert_eq!(v.reason, Reason::PublicAccessDisabled);
    assert_eq!(
        fix(v).commands,
        [format!("isthmus cluster update {cid} --public-access on")]
    );
    assert_eq!(
        fix(v).actions,
        [FixAction::EnablePublicAccess {
            cluster_id: cid,
            allow: None
        }]
    );
    // The old endpoint address no longer names anything once access is off.
    assert!(matches!(
        ReachIndex::new(&w.snap).analyze(&"203.0.113.10".parse().unwrap(), &ip.to_string(), None),
        Err(ReachError::UnknownDestination(_))
    ));
    w.follow(&fix(v).clone());
    assert!(w.reach("internet/laptop", &to, None).allowed);
}

#[test]
fn the_public_endpoint_gives_one_verdict_per_node() {
    let (mut w, _, cid) = world();
    w.public_access(cid, true, &["203.0.113.10/32"]);
    w.snap.clusters[0].nodes[2].status = NodeStatus::Provisioning;
    let r = w.reach("internet/laptop", &w.public_name(cid), None);
    let reasons: Vec<&str> = r.verdicts.iter().map(|v| v.reason.as_str()).collect();
    assert_eq!(reasons, ["allowed", "allowed", "node-not-running"]);
    assert!(!r.allowed);
}

// ---- routes that do not exist ---------------------------------------------------------

#[test]
fn the_internet_has_no_route_to_a_private_node_address() {
    let (mut w, _, cid) = world();
    let node = w.snap.clusters[0].nodes[0].clone();
    let public = w.public_name(cid);

    let r = w.reach("internet/laptop", &node.ip.to_string(), None);
    let v = only(&r);
    assert_eq!(v.reason.as_str(), "no-route");
    assert_eq!(
        v.explanation,
        format!(
            "the internet has no route to {}, a private address of cluster orders: from the \
             internet it is reached only at its public endpoint {public}",
            node.ip
        )
    );
    // Public access is off: the fix turns it on for the source, then connects there.
    assert_eq!(
        fix(v).summary,
        format!(
            "turn public access on for cluster orders with an allow-list entry for \
             203.0.113.10/32, then connect to {public}"
        )
    );
    assert_eq!(
        fix(v).commands,
        [format!(
            "isthmus cluster update {cid} --public-access on --add-public-allow 203.0.113.10/32"
        )]
    );
    let to = w.follow(&fix(v).clone()).expect("a destination to use");
    assert_eq!(to, public);
    assert!(w.reach("internet/laptop", &to, None).allowed);
    // Still no route to the node's own address, and now the fix is only where to connect.
    let r = w.reach("internet/laptop", &node.dns_name, None);
    assert_eq!(
        fix(only(&r)).actions,
        [FixAction::UseDestination { to: public.clone() }]
    );
    assert_eq!(
        fix(only(&r)).summary,
        format!("connect to {public} instead")
    );
}

#[test]
fn a_lab_vpc_has_no_route_to_a_public_endpoint() {
    let (mut w, _, cid) = world();
    w.public_access(cid, true, &["0.0.0.0/0"]);
    let public = w.public_name(cid);
    let cluster_dns = w.snap.clusters[0].dns_name.clone();

    let r = w.reach("customer/app", &public, None);
    let v = &r.verdicts[0];
    assert!(!r.allowed);
    assert_eq!(v.reason, Reason::NoRoute);
    assert_eq!(
        v.explanation,
        format!(
            "lab VPC customer has no route to the public endpoint {public}: public endpoints \
             answer the internet only; from a peered network the cluster is reached at its \
             private addresses"
        )
    );
    assert_eq!(fix(v).summary, format!("connect to {cluster_dns} instead"));
    let to = w.follow(&fix(v).clone()).unwrap();
    assert!(w.reach("customer/app", &to, None).allowed);
}

#[test]
fn a_lab_vpc_without_a_peering_is_told_to_peer_then_use_the_private_name() {
    let (mut w, _, cid) = world();
    w.public_access(cid, true, &["0.0.0.0/0"]);
    w.lab_vpc("branch", "10.70.0.0/16", &[("far", "10.70.0.10")]);
    let cluster_dns = w.snap.clusters[0].dns_name.clone();

    let r = w.reach("branch/far", &w.public_name(cid), None);
    let f = fix(&r.verdicts[0]).clone();
    assert_eq!(
        f.summary,
        format!(
            "create a peering from network platform to lab VPC branch with route \
             10.70.0.0/16, then connect to {cluster_dns}"
        )
    );
    let to = w.follow(&f).unwrap();
    assert!(w.reach("branch/far", &to, None).allowed);
}

#[test]
fn bare_addresses_are_placed_in_a_lab_vpc_or_the_internet() {
    let (mut w, net, cid) = world();
    w.public_access(cid, true, &["0.0.0.0/0"]);
    let public = w.public_name(cid);
    let source = |r: &Reachability| match &r.verdicts[0].hops[0] {
        Hop::Source { network, .. } => network.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        source(&w.reach("203.0.113.10", &public, None)),
        "the internet (host laptop)"
    );
    assert_eq!(source(&w.reach("8.8.8.8", &public, None)), "the internet");
    assert_eq!(
        source(&w.reach("172.16.0.99", &public, None)),
        "lab VPC customer (172.16.0.0/16)"
    );
    let r = w.reach("10.99.0.1", &public, None);
    assert_eq!(source(&r), "no known network");
    assert_eq!(r.verdicts[0].reason, Reason::NoRoute);
    // A public-looking address a peering claims as the peer's own is the peer's.
    w.peering(&net, "vpc-public", &["11.0.0.0/16"]);
    assert!(w.reach("11.0.0.5", &cid.to_string(), None).allowed);
    assert_eq!(
        w.reach("8.8.8.8", &cid.to_string(), None).verdicts[0].reason,
        Reason::NoRoute
    );
}

#[test]
fn an_unknown_internet_host_is_an_error() {
    let (w, _, cid) = world();
    let err = ReachIndex::new(&w.snap)
        .analyze(&"internet/ghost".parse().unwrap(), &cid.to_string(), None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown source: the internet has no host 'ghost'"
    );
}

// ---- the private allow-list -----------------------------------------------------------

#[test]
fn a_private_allow_list_narrows_the_peered_sources() {
    let (mut w, _, cid) = world();
    w.snap.lab_vpcs[0].hosts.push(LabHost {
        name: "batch".into(),
        ip: "172.16.9.9".parse().unwrap(),
    });
    w.private_allowlist(cid, &["172.16.0.0/24"]);
    // The public list plays no part on the private path.
    w.public_access(cid, true, &["172.16.9.9/32"]);
    let to = cid.to_string();

    let r = w.reach("customer/app", &to, None);
    assert!(r.allowed);
    assert!(r.verdicts[0].hops.contains(&Hop::Firewall {
        rule: format!("priv_{cid}: ip saddr @priv_{cid} (172.16.0.0/24) accept"),
        verdict: "accept".into()
    }));

    let r = w.reach("customer/batch", &to, None);
    let v = &r.verdicts[0];
    assert_eq!(v.reason.as_str(), "not-in-private-allowlist");
    assert_eq!(
        v.explanation,
        "172.16.9.9 is in none of the 1 entries of cluster orders's private allow-list, \
         which narrows the peered sources that may connect"
    );
    assert_eq!(
        fix(v).summary,
        "add 172.16.9.9/32 to the private allow-list of cluster orders"
    );
    assert_eq!(
        fix(v).commands,
        [format!(
            "isthmus cluster update {cid} --add-private-allow 172.16.9.9/32"
        )]
    );
    w.follow(&fix(v).clone());
    assert!(w.reach("customer/batch", &to, None).allowed);
    // Clearing the list admits every peered source again.
    w.private_allowlist(cid, &[]);
    assert!(w.reach("172.16.200.1", &to, None).allowed);
}

// ---- gateway transit ------------------------------------------------------------------

/// A `provider` network peered with lab VPC `hub`; VPN clients in lab VPC `vpn`
/// (10.9.0.0/24, host `client` 10.9.0.10) sit behind the hub.
fn hub_and_spoke(provider: Provider) -> (World, Network, PeeringId, ClusterId) {
    let mut w = World::new();
    let net = w.network(provider, "172.29.98.0/24");
    w.lab_vpc("hub", "172.16.0.0/16", &[("gw", "172.16.0.10")]);
    w.lab_vpc("vpn", "10.9.0.0/24", &[("client", "10.9.0.10")]);
    w.behind("vpn", "hub");
    let pid = w.peering(&net, "hub", &["172.16.0.0/16"]);
    let cid = w.cluster(&net, Topology::SingleNode);
    (w, net, pid, cid)
}

#[test]
fn a_vpn_client_inside_the_transit_routes_needs_gateway_transit() {
    for provider in [Provider::Local, Provider::Azure] {
        let (mut w, _, pid, cid) = hub_and_spoke(provider);
        w.peering_mut(pid).transit_routes = vec![c("10.9.0.0/24")];
        let to = cid.to_string();

        let r = w.reach("vpn/client", &to, None);
        let v = only(&r);
        assert_eq!(v.reason.as_str(), "gateway-transit-disabled", "{provider}");
        assert_eq!(
            v.explanation,
            "10.9.0.10 is inside transit route 10.9.0.0/24 of peering to-hub, a range behind \
             the peer's gateway, but the peering does not allow gateway transit"
        );
        assert_eq!(fix(v).summary, "allow gateway transit on peering to-hub");
        assert_eq!(
            fix(v).commands,
            [format!(
                "isthmus peering update {pid} --allow-gateway-transit true"
            )]
        );
        w.follow(&fix(v).clone());
        let r = w.reach("vpn/client", &to, None);
        let v = only(&r);
        assert!(v.allowed, "{provider}: {v:#?}");
        assert_eq!(
            v.hops[1..4],
            [
                Hop::Gateway {
                    network: "lab VPC hub (172.16.0.0/16)".into()
                },
                Hop::Peering {
                    id: pid,
                    name: "to-hub".into(),
                    status: PeeringStatus::Active
                },
                Hop::TransitRouteMatched {
                    route: c("10.9.0.0/24")
                },
            ]
        );
        assert_eq!(
            v.explanation,
            format!(
                "10.9.0.10 arrives over peering to-hub through the gateway of lab VPC hub, \
                 inside transit route 10.9.0.0/24 (gateway transit allowed); {} listens on 8443",
                w.snap.clusters[0].nodes[0].dns_name
            )
        );
    }
}

#[test]
fn a_vpn_client_in_neither_list_is_told_to_add_a_transit_route() {
    let (mut w, _, pid, cid) = hub_and_spoke(Provider::Local);
    let to = cid.to_string();
    let r = w.reach("vpn/client", &to, None);
    let v = only(&r);
    assert_eq!(v.reason, Reason::SourceOutsideRoutes);
    assert_eq!(
        v.explanation,
        "10.9.0.10 (lab VPC vpn, behind hub) arrives over peering to-hub through the gateway \
         of lab VPC hub, but is outside its routes (172.16.0.0/16) and its transit routes (none)"
    );
    assert_eq!(
        fix(v).summary,
        "add 10.9.0.0/24 to the transit routes of peering to-hub and allow gateway transit: \
         lab VPC vpn is behind the peer's gateway"
    );
    assert_eq!(
        fix(v).commands,
        [format!(
            "isthmus peering update {pid} --transit-route 10.9.0.0/24 --allow-gateway-transit true"
        )]
    );
    w.follow(&fix(v).clone());
    assert!(w.reach("vpn/client", &to, None).allowed);
    // The hub's own hosts are admitted by the routes all along.
    assert!(w.reach("hub/gw", &to, None).allowed);
}

#[test]
fn on_azure_an_address_behind_the_peer_vnets_gateway_follows_the_flag() {
    // No lab VPCs: a VPN client of the customer's VNet, given by address.
    let mut w = World::new();
    let net = w.network(Provider::Azure, "10.20.0.0/16");
    let pid = w.peering(&net, "vnet-hub", &["10.1.0.0/16"]);
    w.peering_mut(pid).transit_routes = vec![c("172.20.0.0/24")];
    let to = w.cluster(&net, Topology::SingleNode).to_string();

    let r = w.reach("172.20.0.5", &to, None);
    assert_eq!(only(&r).reason, Reason::GatewayTransitDisabled);
    w.peering_mut(pid).allow_gateway_transit = true;
    assert!(w.reach("172.20.0.5", &to, None).allowed);
    assert!(
        w.reach("10.1.2.3", &to, None).allowed,
        "the VNet's own range"
    );
    assert_eq!(
        only(&w.reach("172.21.0.5", &to, None)).reason,
        Reason::NoPeering,
        "in neither list of any peering"
    );
}

#[test]
fn aws_peering_never_carries_traffic_from_behind_the_peers_gateway() {
    for provider in [Provider::Aws, Provider::Gcp] {
        let (mut w, _, _, cid) = hub_and_spoke(provider);
        let to = cid.to_string();
        let r = w.reach("vpn/client", &to, None);
        let v = only(&r);
        assert_eq!(v.reason.as_str(), "transit-not-allowed", "{provider}");
        assert_eq!(
            v.explanation,
            format!(
                "lab VPC vpn reaches network platform only through lab VPC hub's peering \
                 to-hub; {} peering is non-transitive, so traffic from behind the peer's \
                 gateway is dropped",
                provider.as_str().to_uppercase()
            )
        );
        assert!(
            fix(v)
                .summary
                .starts_with("create a peering from network platform to lab VPC vpn"),
            "{}",
            fix(v).summary
        );
        w.follow(&fix(v).clone());
        let r = w.reach("vpn/client", &to, None);
        assert!(r.allowed, "{provider}: its own peering wins: {r:#?}");
        assert!(!only(&r)
            .hops
            .iter()
            .any(|h| matches!(h, Hop::Gateway { .. })));
    }
}

// ---- the JSON the API returns ---------------------------------------------------------

#[test]
fn new_hops_and_fix_actions_have_a_stable_json_shape() {
    let (w, _, cid) = world();
    let pid = w.snap.peerings[0].id;
    fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
        serde_json::to_value(v).unwrap()
    }
    assert_eq!(
        json(&Hop::PublicEndpoint {
            dns_name: "public-x.isthmus.internal".into(),
            ip: "198.18.0.1".parse().unwrap()
        }),
        serde_json::json!({"hop": "public_endpoint", "dns_name": "public-x.isthmus.internal", "ip": "198.18.0.1"})
    );
    assert_eq!(
        json(&Hop::Gateway {
            network: "lab VPC hub (172.16.0.0/16)".into()
        }),
        serde_json::json!({"hop": "gateway", "network": "lab VPC hub (172.16.0.0/16)"})
    );
    assert_eq!(
        json(&Hop::TransitRouteMatched {
            route: c("10.9.0.0/24")
        }),
        serde_json::json!({"hop": "transit_route_matched", "route": "10.9.0.0/24"})
    );
    assert_eq!(
        json(&FixAction::AddTransitRoute {
            peering_id: pid,
            route: c("10.9.0.0/24")
        }),
        serde_json::json!({"action": "add_transit_route", "peering_id": pid.to_string(), "route": "10.9.0.0/24"})
    );
    assert_eq!(
        json(&FixAction::SetGatewayTransit {
            peering_id: pid,
            enabled: true
        }),
        serde_json::json!({"action": "set_gateway_transit", "peering_id": pid.to_string(), "enabled": true})
    );
    assert_eq!(
        json(&FixAction::AddAllowlistEntry {
            cluster_id: cid,
            list: AllowlistKind::Private,
            cidr: c("172.16.9.9/32")
        }),
        serde_json::json!({"action": "add_allowlist_entry", "cluster_id": cid.to_string(), "list": "private", "cidr": "172.16.9.9/32"})
    );
    assert_eq!(
        json(&FixAction::EnablePublicAccess {
            cluster_id: cid,
            allow: Some(c("203.0.113.10/32"))
        }),
        serde_json::json!({"action": "enable_public_access", "cluster_id": cid.to_string(), "allow": "203.0.113.10/32"})
    );
    assert_eq!(
        json(&FixAction::UseDestination {
            to: "public-x.isthmus.internal".into()
        }),
        serde_json::json!({"action": "use_destination", "to": "public-x.isthmus.internal"})
    );
}
