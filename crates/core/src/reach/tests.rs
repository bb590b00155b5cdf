//! The analyzer's answers, one test per reason, each checking the fix text — and that
//! applying the fix to the snapshot turns the denial into an allow.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{TimeZone, Utc};

use super::*;
use crate::lab::LabHost;
use crate::resources::*;
use crate::rules;
use crate::state::{ClusterStatus, NetworkStatus, NodeStatus};
use crate::{Id, ProjectId};

fn id<T: From<Id>>() -> T {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let [a, b, c, d] = NEXT.fetch_add(1, Ordering::Relaxed).to_be_bytes();
    T::from(Id::from_parts(1_700_000_000, [a, b, c, d, 0, 0, 0, 9]))
}

fn project() -> ProjectId {
    ProjectId::from(Id::from_parts(1_700_000_000, [0, 0, 0, 0, 0, 0, 0, 1]))
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap()
}

pub(super) fn c(s: &str) -> Cidr {
    s.parse().unwrap()
}

/// A snapshot built step by step, with every resource up and running unless a test
/// says otherwise.
pub(super) struct World {
    pub(super) snap: ReachSnapshot,
}

/// A peer named `peer` in the tests, with ids in the format of the network's provider
/// (a lab VPC name for `local`; an AWS VPC id made from the name).
pub(super) fn cloud_peer(network: &Network, peer: &str) -> PeerSpec {
    let (account, network_id) = match network.provider {
        Provider::Aws => {
            let h = peer.bytes().fold(0x811c_9dc5_u32, |h, b| {
                (h ^ b as u32).wrapping_mul(0x0100_0193)
            });
            ("123456789012".to_string(), format!("vpc-{h:08x}"))
        }
        Provider::Gcp => ("acme-prod".to_string(), peer.to_string()),
        Provider::Azure => (
            "0b1f6471-1bf0-4dda-aec3-111122223333".to_string(),
            peer.to_string(),
        ),
        Provider::Local => ("lab".to_string(), peer.to_string()),
    };
    PeerSpec {
        account_id: account,
        network_id,
        region: network.region.clone(),
    }
}

impl World {
    pub(super) fn new() -> World {
        World {
            snap: ReachSnapshot::default(),
        }
    }

    pub(super) fn network(&mut self, provider: Provider, cidr: &str) -> Network {
        let req = NetworkCreate {
            name: "platform".into(),
            provider,
            region: match provider {
                Provider::Local => "local",
                Provider::Aws => "us-east-1",
                Provider::Gcp => "us-east1",
                Provider::Azure => "eastus",
            }
            .into(),
            cidr_block: cidr.into(),
        };
        let mut n = rules::new_network(id(), project(), &req, &[], now()).unwrap();
        n.status = NetworkStatus::Active;
        self.snap.networks.push(n.clone());
        n
    }

    pub(super) fn lab_vpc(&mut self, name: &str, cidr: &str, hosts: &[(&str, &str)]) {
        self.snap.lab_vpcs.push(LabVpc {
            behind: None,
            name: name.into(),
            cidr_block: c(cidr),
            hosts: hosts
                .iter()
                .map(|(h, ip)| LabHost {
                    name: h.to_string(),
                    ip: ip.parse().unwrap(),
                })
                .collect(),
            created_at: now(),
        });
    }

    /// A peering from `network` to the peer network (a lab VPC name for `local`).
    pub(super) fn peering(&mut self, network: &Network, peer: &str, routes: &[&str]) -> PeeringId {
        let req = PeeringCreate {
            transit_routes: Vec::new(),
            name: format!("to-{peer}"),
            network_id: network.id.to_string(),
            peer: cloud_peer(network, peer),
            routes: routes.iter().map(|r| r.to_string()).collect(),
            allow_gateway_transit: false,
        };
        // The store's rules: a route overlapping another peering's is refused.
        let beside: Vec<Peering> = self
            .snap
            .peerings
            .iter()
            .filter(|p| p.network_id == network.id && p.status.is_live())
            .cloned()
            .collect();
        let mut p = rules::new_peering(id(), project(), &req, network, &beside, now()).unwrap();
        p.status = PeeringStatus::Active;
        // The reach model finds a peer among the lab VPCs by name, whatever the cloud:
        // the request used a well-formed id, the snapshot keeps the name.
        p.peer.network_id = peer.to_string();
        let pid = p.id;
        self.snap.peerings.push(p);
        pid
    }

    pub(super) fn peering_mut(&mut self, pid: PeeringId) -> &mut Peering {
        self.snap.peerings.iter_mut().find(|p| p.id == pid).unwrap()
    }

    pub(super) fn cluster(&mut self, network: &Network, topology: Topology) -> ClusterId {
        let req = ClusterCreate {
            private_allowlist: None,
            name: "orders".into(),
            network_id: network.id.to_string(),
            engine: "probe".into(),
            topology,
            public_access: None,
            egress_allowlist: None,
        };
        let mut cl = rules::new_cluster(
            id(),
            project(),
            &req,
            network,
            &HashSet::new(),
            "isthmus.internal",
            now(),
        )
        .unwrap();
        cl.status = ClusterStatus::Running;
        for n in &mut cl.nodes {
            n.status = NodeStatus::Running;
        }
        let cid = cl.id;
        self.snap.clusters.push(cl);
        cid
    }

    pub(super) fn reach(&self, from: &str, to: &str, port: Option<u16>) -> Reachability {
        ReachIndex::new(&self.snap)
            .analyze(&from.parse().unwrap(), to, port)
            .unwrap()
    }

    /// Applies the first action of a fix, as a user following it would.
    pub(super) fn apply(&mut self, action: &FixAction) {
        match action {
            FixAction::CreatePeering {
                network_id,
                peer_network,
                routes,
            } => {
                let network = self
                    .snap
                    .networks
                    .iter()
                    .find(|n| n.id == *network_id)
                    .unwrap()
                    .clone();
                let routes: Vec<String> = routes.iter().map(Cidr::to_string).collect();
                let routes: Vec<&str> = routes.iter().map(String::as_str).collect();
                self.peering(&network, peer_network, &routes);
            }
            FixAction::AddRoute { peering_id, route } => {
                self.peering_mut(*peering_id).routes.push(*route)
            }
            FixAction::NarrowRoutes {
                peering_id,
                routes,
                transit_routes,
            } => {
                let p = self.peering_mut(*peering_id);
                p.routes = routes.clone();
                p.transit_routes = transit_routes.clone();
            }
            FixAction::DeletePeering { peering_id } => {
                self.snap.peerings.retain(|p| p.id != *peering_id)
            }
            // The new request, accepted this time.
            FixAction::RecreatePeering { peering_id } => {
                let p = self.peering_mut(*peering_id);
                p.status = PeeringStatus::Active;
                p.status_message.clear();
            }
            FixAction::ReplaceRoutes {
                peering_id,
                remove,
                add,
            } => {
                let p = self.peering_mut(*peering_id);
                p.routes.retain(|r| !remove.contains(r));
                p.routes.push(*add);
            }
            other => self.apply_access(other),
        }
    }
}

/// One node's verdict (the tests use single-node clusters unless they say otherwise).
pub(super) fn only(r: &Reachability) -> &Verdict {
    assert_eq!(r.verdicts.len(), 1, "{r:#?}");
    &r.verdicts[0]
}

pub(super) fn fix(v: &Verdict) -> &Fix {
    v.fix.as_ref().expect("a denial carries a fix")
}

#[test]
fn a_lab_host_inside_the_peering_routes_reaches_every_node_hop_by_hop() {
    let mut w = World::new();
    let net = w.network(Provider::Local, "172.29.98.0/24");
    w.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.0.10")]);
    let pid = w.peering(&net, "customer", &["172.16.0.0/16"]);
    let cid = w.cluster(&net, Topology::ThreeNodeMultiZone);

    let r = w.reach("customer/app", &cid.to_string(), None);
    assert!(r.allowed, "{r:#?}");
    assert_eq!(r.port, 8443, "the engine's first port by default");
    assert_eq!(r.verdicts.len(), 3, "a cluster is every node");
    let v = &r.verdicts[0];
    assert_eq!(v.reason, Reason::Allowed);
    assert!(v.fix.is_none());
    assert_eq!(
        v.hops[..3],
        [
            Hop::Source {
                ip: "172.16.0.10".parse().unwrap(),
                network: "lab VPC customer (172.16.0.0/16)".into()
            },
            Hop::Peering {
                id: pid,
                name: "to-customer".into(),
                status: PeeringStatus::Active
            },
            Hop::RouteMatched {
                route: c("172.16.0.0/16")
            },
        ]
    );
    assert!(matches!(&v.hops[3], Hop::Firewall { verdict, .. } if verdict == "accept"));
    assert!(matches!(&v.hops[4], Hop::Destination { port: 8443, .. }));
}

#[test]
fn a_node_is_named_by_dns_name_short_name_or_ip() {
    let mut w = World::new();
    let net = w.network(Provider::Local, "172.29.98.0/24");
    w.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.0.10")]);
    w.peering(&net, "customer", &["172.16.0.0/16"]);
    let cid = w.cluster(&net, Topology::ThreeNodeMultiZone);
    let node = w.snap.clusters[0].nodes[1].clone();
    for name in [
        node.dns_name.clone(),
        format!("{}.", node.dns_name),
        format!("{cid}-{}", node.index),
        node.ip.to_string(),
    ] {
        let r = w.reach("172.16.0.10", &name, Some(8443));
        let v = only(&r);
        assert!(v.allowed, "{name}");
        assert!(
            matches!(&v.hops[4], Hop::Destination { ip, .. } if *ip == node.ip),
            "{name}"
        );
    }
    let cluster_dns = w.snap.clusters[0].dns_name.clone();
    assert_eq!(w.reach("172.16.0.10", &cluster_dns, None).verdicts.len(), 3);
}

#[test]
fn unknown_names_are_errors_not_verdicts() {
    let mut w = World::new();
    let net = w.network(Provider::Local, "172.29.98.0/24");
    w.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.0.10")]);
    let cid = w.cluster(&net, Topology::SingleNode);
    let index = ReachIndex::new(&w.snap);
    let err = index
        .analyze(&"customer/web".parse().unwrap(), &cid.to_string(), None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown source: lab VPC customer has no host 'web'"
    );
    let err = index
        .analyze(&"nowhere/app".parse().unwrap(), &cid.to_string(), None)
        .unwrap_err();
    assert_eq!(err.to_string(), "unknown source: no lab VPC 'nowhere'");
    let err = index
        .analyze(&"172.16.0.10".parse().unwrap(), "db.example.com", None)
        .unwrap_err();
    assert!(matches!(err, ReachError::UnknownDestination(d) if d == "db.example.com"));
    assert!("not a source".parse::<Source>().is_err());
}

#[test]
fn no_peering_suggests_creating_one_for_the_source_vpc() {
    let mut w = World::new();
    let net = w.network(Provider::Local, "172.29.98.0/24");
    w.lab_vpc("branch", "10.70.0.0/16", &[("far", "10.70.0.10")]);
    let cid = w.cluster(&net, Topology::SingleNode);

    let r = w.reach("branch/far", &cid.to_string(), None);
    let v = only(&r);
    assert!(!v.allowed);
    assert_eq!(v.reason.as_str(), "no-peering");
    assert_eq!(
        fix(v).summary,
        "create a peering from network platform to lab VPC branch with route 10.70.0.0/16"
    );
    assert_eq!(
        fix(v).commands,
        [format!(
            "isthmus peering create to-branch --network {} --peer-account lab \
             --peer-network branch --peer-region local --route 10.70.0.0/16",
            net.id
        )]
    );
    w.apply(&fix(v).actions[0].clone());
    assert!(w.reach("branch/far", &cid.to_string(), None).allowed);
}

#[test]
fn a_pending_peering_says_what_the_customer_must_still_do() {
    let mut w = World::new();
    let net = w.network(Provider::Aws, "10.20.0.0/16");
    let pid = w.peering(&net, "vpc-0abc", &["172.31.0.0/16"]);
    let p = w.peering_mut(pid);
    p.status = PeeringStatus::PendingAcceptance;
    p.status_message = "waiting for the customer to accept".into();
    let actions = p.customer_actions.clone();
    let cid = w.cluster(&net, Topology::SingleNode);

    let r = w.reach("172.31.5.9", &cid.to_string(), None);
    let v = only(&r);
    assert_eq!(v.reason, Reason::PeeringNotActive);
    assert_eq!(
        v.explanation,
        "peering to-vpc-0abc is pending_acceptance, not active: its link does not carry traffic yet"
    );
    // Each description loses its full stop inside the one sentence (no `).; Route`).
    let descriptions: Vec<&str> = actions
        .iter()
        .map(|a| a.description.trim_end_matches('.'))
        .collect();
    assert_eq!(
        fix(v).summary,
        format!(
            "peering to-vpc-0abc is pending_acceptance (waiting for the customer to accept); \
             the customer must still: {}",
            descriptions.join("; ")
        )
    );
    assert!(fix(v)
        .summary
        .contains("Accept the peering connection in account 123456789012"));
    assert_eq!(
        fix(v).commands,
        actions
            .iter()
            .map(|a| a.command.clone())
            .collect::<Vec<_>>()
    );
    // The customer accepts: the peering goes active and the source gets in.
    w.peering_mut(pid).status = PeeringStatus::Active;
    assert!(w.reach("172.31.5.9", &cid.to_string(), None).allowed);
}

#[test]
fn a_source_outside_the_routes_is_dropped_and_told_the_route_to_add() {
    let mut w = World::new();
    let net = w.network(Provider::Local, "172.29.98.0/24");
    w.lab_vpc("customer", "192.168.0.0/16", &[("app", "192.168.7.7")]);
    let pid = w.peering(&net, "customer", &["10.1.0.0/16"]);
    let cid = w.cluster(&net, Topology::SingleNode);

    let r = w.reach("customer/app", &cid.to_string(), None);
    let v = only(&r);
    assert_eq!(v.reason.as_str(), "source-outside-routes");
    assert_eq!(
        v.explanation,
        "192.168.7.7 is outside the routes of peering to-customer (10.1.0.0/16)"
    );
    assert!(matches!(&v.hops[2], Hop::Firewall { verdict, .. } if verdict == "drop"));
    // Far from the existing route: no covering prefix, it would admit twice too much.
    assert_eq!(
        fix(v).summary,
        "add route 192.168.0.0/16 to peering to-customer"
    );
    assert_eq!(
        fix(v).commands,
        [format!(
            "isthmus peering update {pid} --route 10.1.0.0/16 --route 192.168.0.0/16"
        )]
    );
    w.apply(&fix(v).actions[0].clone());
    assert!(w.reach("customer/app", &cid.to_string(), None).allowed);
}

#[test]
fn the_gke_pod_range_case_suggests_the_covering_slash_15() {
    // GKE: the peering was set up for the pods (172.30.0.0/16); the services range
    // 172.31.128.0/17 was left out. Adding it works; so does the /15 covering both.
    let mut w = World::new();
    let net = w.network(Provider::Local, "10.0.0.0/24");
    w.lab_vpc(
        "gke-services",
        "172.31.128.0/17",
        &[("svc", "172.31.128.10")],
    );
    let pid = w.peering(&net, "gke-services", &["172.30.0.0/16"]);
    let cid = w.cluster(&net, Topology::SingleNode);

    let r = w.reach("gke-services/svc", &cid.to_string(), None);
    let v = only(&r);
    assert_eq!(v.reason, Reason::SourceOutsideRoutes);
    assert_eq!(
        fix(v).summary,
        "add route 172.31.128.0/17 to peering to-gke-services, \
         or replace 172.30.0.0/16 by the covering prefix 172.30.0.0/15"
    );
    assert_eq!(
        fix(v).actions[1],
        FixAction::ReplaceRoutes {
            peering_id: pid,
            remove: vec![c("172.30.0.0/16")],
            add: c("172.30.0.0/15"),
        }
    );
    assert_eq!(
        fix(v).commands[1],
        format!("isthmus peering update {pid} --route 172.30.0.0/15")
    );
    w.apply(&fix(v).actions[1].clone());
    assert_eq!(w.snap.peerings[0].routes, [c("172.30.0.0/15")]);
    assert!(w.reach("gke-services/svc", &cid.to_string(), None).allowed);
}

#[test]
fn the_covering_prefix_is_not_offered_over_another_peerings_routes() {
    let mut w = World::new();
    let net = w.network(Provider::Local, "10.0.0.0/24");
    w.lab_vpc(
        "gke-services",
        "172.31.128.0/17",
        &[("svc", "172.31.128.10")],
    );
    w.peering(&net, "gke-services", &["172.30.0.0/16"]);
    w.peering(&net, "other", &["172.31.0.0/24"]);
    let cid = w.cluster(&net, Topology::SingleNode);
    let r = w.reach("gke-services/svc", &cid.to_string(), None);
    let f = fix(only(&r));
    assert_eq!(
        f.summary,
        "add route 172.31.128.0/17 to peering to-gke-services"
    );
    assert_eq!(f.actions.len(), 1);
}

#[test]
fn a_route_nested_in_the_source_vpc_is_replaced_by_the_vpc_range() {
    let mut w = World::new();
    let net = w.network(Provider::Local, "172.29.98.0/24");
    w.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.9.9")]);
    let pid = w.peering(&net, "customer", &["172.16.0.0/24"]);
    let cid = w.cluster(&net, Topology::SingleNode);
    let r = w.reach("customer/app", &cid.to_string(), None);
    let f = fix(only(&r));
    assert_eq!(
        f.summary,
        "replace 172.16.0.0/24 by 172.16.0.0/16 in peering to-customer"
    );
    assert_eq!(
        f.commands,
        [format!(
            "isthmus peering update {pid} --route 172.16.0.0/16"
        )]
    );
    w.apply(&f.actions[0].clone());
    assert!(w.reach("customer/app", &cid.to_string(), None).allowed);
}

#[test]
fn a_vpc_relayed_through_a_peered_vpc_gets_no_transit() {
    let mut w = World::new();
    let net = w.network(Provider::Local, "172.29.98.0/24");
    w.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.0.10")]);
    w.lab_vpc("branch", "10.70.0.0/16", &[("far", "10.70.0.10")]);
    w.peering(&net, "customer", &["172.16.0.0/16", "10.70.0.0/16"]);
    let cid = w.cluster(&net, Topology::SingleNode);

    let r = w.reach("branch/far", &cid.to_string(), None);
    let v = only(&r);
    assert_eq!(v.reason.as_str(), "transit-not-allowed");
    assert_eq!(
        v.explanation,
        "10.70.0.10 is inside route 10.70.0.0/16 of peering to-customer, but that peering is \
         to customer, not to lab VPC branch; peering is non-transitive, so traffic relayed \
         through another VPC is dropped"
    );
    // The route is branch's range, not customer's: it moves to a peering of branch's own.
    let f = fix(v).clone();
    assert_eq!(
        f.summary,
        "narrow peering to-customer to 172.16.0.0/16 so that it no longer claims \
         10.70.0.0/16, then create a peering from network platform to lab VPC branch with \
         route 10.70.0.0/16"
    );
    let customer = w.snap.peerings[0].id;
    assert_eq!(
        f.commands[0],
        format!("isthmus peering update {customer} --route 172.16.0.0/16")
    );
    assert!(f.commands[1].starts_with("isthmus peering create to-branch --network "));
    // The customer's own host is admitted all the same, before and after.
    assert!(w.reach("customer/app", &cid.to_string(), None).allowed);
    for action in &f.actions {
        w.apply(action);
    }
    assert!(w.reach("branch/far", &cid.to_string(), None).allowed);
    assert!(w.reach("customer/app", &cid.to_string(), None).allowed);
}

#[test]
fn a_route_wider_than_the_relayed_vpc_is_narrowed_around_it() {
    let mut w = World::new();
    let net = w.network(Provider::Local, "172.29.98.0/24");
    w.lab_vpc("customer", "10.64.0.0/16", &[("app", "10.64.0.10")]);
    w.lab_vpc("branch", "10.70.0.0/16", &[("far", "10.70.0.10")]);
    let pid = w.peering(&net, "customer", &["10.64.0.0/12"]);
    let cid = w.cluster(&net, Topology::SingleNode).to_string();

    let r = w.reach("branch/far", &cid, None);
    assert_eq!(only(&r).reason, Reason::TransitNotAllowed);
    let f = fix(only(&r)).clone();
    let kept = [
        "10.64.0.0/14",
        "10.68.0.0/15",
        "10.71.0.0/16",
        "10.72.0.0/13",
    ];
    assert_eq!(
        f.actions[0],
        FixAction::NarrowRoutes {
            peering_id: pid,
            routes: kept.map(c).to_vec(),
            transit_routes: vec![],
        }
    );
    assert_eq!(
        f.commands[0],
        format!(
            "isthmus peering update {pid} --route 10.64.0.0/14 --route 10.68.0.0/15 \
             --route 10.71.0.0/16 --route 10.72.0.0/13"
        )
    );
    for action in &f.actions {
        w.apply(action);
    }
    assert!(w.reach("branch/far", &cid, None).allowed);
    assert!(w.reach("customer/app", &cid, None).allowed);
}

#[test]
fn widening_a_route_over_a_range_another_peering_claims_narrows_that_peering_first() {
    let mut w = World::new();
    let net = w.network(Provider::Local, "172.29.98.0/24");
    w.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.200.10")]);
    w.lab_vpc("other", "10.90.0.0/16", &[("o1", "10.90.0.10")]);
    let customer = w.peering(&net, "customer", &["172.16.0.0/24"]);
    let other = w.peering(&net, "other", &["10.90.0.0/16", "172.16.200.0/24"]);
    let cid = w.cluster(&net, Topology::SingleNode).to_string();

    let r = w.reach("customer/app", &cid, None);
    assert_eq!(only(&r).reason, Reason::SourceOutsideRoutes, "{r:#?}");
    let f = fix(only(&r)).clone();
    assert_eq!(
        f.summary,
        "narrow peering to-other to 10.90.0.0/16 so that it no longer claims 172.16.0.0/16, \
         then give peering to-customer route 172.16.0.0/16"
    );
    assert_eq!(
        f.commands,
        [
            format!("isthmus peering update {other} --route 10.90.0.0/16"),
            format!("isthmus peering update {customer} --route 172.16.0.0/16"),
        ]
    );
    for action in &f.actions {
        w.apply(action);
    }
    assert!(w.reach("customer/app", &cid, None).allowed);
    assert!(w.reach("other/o1", &cid, None).allowed);
}

#[test]
fn a_narrowing_that_leaves_too_many_routes_says_so() {
    let mut w = World::new();
    let net = w.network(Provider::Local, "172.29.98.0/24");
    w.lab_vpc("branch", "10.70.0.0/16", &[("far", "10.70.0.10")]);
    // 49 routes of the customer's, one of them 10.0.0.0/8 holding branch's /16:
    // 10.0.0.0/8 without 10.70.0.0/16 is 8 prefixes, 56 routes in all.
    let mut routes: Vec<String> = (0..48).map(|i| format!("100.{i}.0.0/16")).collect();
    routes.push("10.0.0.0/8".into());
    let routes: Vec<&str> = routes.iter().map(String::as_str).collect();
    w.peering(&net, "customer", &routes);
    let cid = w.cluster(&net, Topology::SingleNode).to_string();

    let r = w.reach("branch/far", &cid, None);
    let f = fix(only(&r));
    let FixAction::NarrowRoutes { routes, .. } = &f.actions[0] else {
        panic!("narrow first: {f:#?}")
    };
    assert_eq!(routes.len(), 48 + 8);
    assert!(
        f.summary.contains(
            "(more than the 50 a list may hold: give it fewer, wider routes \
             that stay clear of 10.70.0.0/16)"
        ),
        "{}",
        f.summary
    );
}

#[test]
fn a_transit_route_holding_the_relayed_vpc_is_narrowed_too() {
    let mut w = World::new();
    let net = w.network(Provider::Local, "172.29.98.0/24");
    w.lab_vpc("hub", "10.80.0.0/16", &[("h1", "10.80.0.10")]);
    w.lab_vpc("branch", "10.70.0.0/16", &[("far", "10.70.0.10")]);
    let pid = w.peering(&net, "hub", &["10.80.0.0/16"]);
    w.peering_mut(pid).transit_routes = vec![c("10.70.0.0/15")];
    w.peering_mut(pid).allow_gateway_transit = true;
    let cid = w.cluster(&net, Topology::SingleNode).to_string();

    let r = w.reach("branch/far", &cid, None);
    assert_eq!(only(&r).reason, Reason::TransitNotAllowed, "{r:#?}");
    let f = fix(only(&r)).clone();
    assert_eq!(
        f.commands[0],
        format!("isthmus peering update {pid} --route 10.80.0.0/16 --transit-route 10.71.0.0/16")
    );
    for action in &f.actions {
        w.apply(action);
    }
    assert!(w.reach("branch/far", &cid, None).allowed);
    assert!(w.reach("hub/h1", &cid, None).allowed);
}

#[test]
fn a_peering_whose_routes_all_belong_to_the_relayed_vpc_is_deleted_first() {
    let mut w = World::new();
    let net = w.network(Provider::Local, "172.29.98.0/24");
    w.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.0.10")]);
    w.lab_vpc("branch", "10.70.0.0/16", &[("far", "10.70.0.10")]);
    let pid = w.peering(&net, "customer", &["10.70.0.0/17", "10.70.128.0/17"]);
    let cid = w.cluster(&net, Topology::SingleNode).to_string();

    let r = w.reach("branch/far", &cid, None);
    let f = fix(only(&r)).clone();
    assert!(
        f.summary.starts_with(
            "delete peering to-customer (its routes 10.70.0.0/17, 10.70.128.0/17 all lie \
             inside 10.70.0.0/16), then create"
        ),
        "{}",
        f.summary
    );
    assert_eq!(f.actions[0], FixAction::DeletePeering { peering_id: pid });
    assert_eq!(f.commands[0], format!("isthmus peering delete {pid}"));
    for action in &f.actions {
        w.apply(action);
    }
    assert!(w.reach("branch/far", &cid, None).allowed);
}

#[test]
fn a_port_the_engine_does_not_serve_is_refused_with_the_ports_it_does() {
    let mut w = World::new();
    let net = w.network(Provider::Local, "172.29.98.0/24");
    w.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.0.10")]);
    w.peering(&net, "customer", &["172.16.0.0/16"]);
    let cid = w.cluster(&net, Topology::SingleNode);

    let r = w.reach("customer/app", &cid.to_string(), Some(5432));
    let v = only(&r);
    assert_eq!(v.reason.as_str(), "port-not-served");
    assert_eq!(
        v.explanation,
        "engine probe does not serve port 5432 (it serves 8443)"
    );
    assert_eq!(
        fix(v).summary,
        "connect to a port engine probe serves: 8443"
    );
    assert_eq!(fix(v).actions, [FixAction::UsePort { ports: vec![8443] }]);
}

#[test]
fn a_destination_that_is_not_running_is_reported_before_the_path() {
    let mut w = World::new();
    let net = w.network(Provider::Local, "172.29.98.0/24");
    w.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.0.10")]);
    w.peering(&net, "customer", &["172.16.0.0/16"]);
    let cid = w.cluster(&net, Topology::SingleNode);
    let to = cid.to_string();

    w.snap.clusters[0].nodes[0].status = NodeStatus::Provisioning;
    let r = w.reach("customer/app", &to, None);
    assert_eq!(only(&r).reason.as_str(), "node-not-running");

    w.snap.clusters[0].status = ClusterStatus::Provisioning;
    w.snap.clusters[0].status_message = "waiting for the network and nodes".into();
    let r = w.reach("customer/app", &to, None);
    let v = only(&r);
    assert_eq!(v.reason.as_str(), "cluster-not-running");
    assert_eq!(
        v.explanation,
        "cluster orders is provisioning, not running: waiting for the network and nodes"
    );
    assert_eq!(
        fix(v).summary,
        "wait until cluster orders is running (it is provisioning)"
    );

    w.snap.networks[0].status = NetworkStatus::Error;
    w.snap.networks[0].status_message = String::new();
    let r = w.reach("customer/app", &to, None);
    let v = only(&r);
    assert_eq!(v.reason.as_str(), "network-not-running");
    assert_eq!(
        fix(v).summary,
        "wait until network platform is active (it is error)"
    );
}

#[test]
fn a_rejected_or_removed_peering_is_fixed_by_recreating_it_not_by_accepting_it() {
    let mut w = World::new();
    let net = w.network(Provider::Aws, "10.20.0.0/16");
    let pid = w.peering(&net, "vpc-0abc", &["172.31.0.0/16", "172.30.1.0/24"]);
    let cid = w.cluster(&net, Topology::SingleNode);
    for status in [
        PeeringStatus::RejectedByPeer,
        PeeringStatus::DeletedByPeer,
        PeeringStatus::InvalidSpecification,
    ] {
        let p = w.peering_mut(pid);
        p.status = status;
        // Whatever list was stored, an accept is no fix for these.
        let r = w.reach("172.31.5.9", &cid.to_string(), None);
        let f = fix(only(&r)).clone();
        assert!(f.summary.contains("delete it and create it again"), "{f:?}");
        assert!(!f.summary.contains("must still"), "{f:?}");
        assert_eq!(f.actions, [FixAction::RecreatePeering { peering_id: pid }]);
        assert_eq!(
            f.commands,
            [
                format!("isthmus peering delete {pid} --yes --wait"),
                format!(
                    "isthmus peering create to-vpc-0abc --network {} --peer-account \
                     123456789012 --peer-network vpc-0abc --peer-region us-east-1 \
                     --route 172.31.0.0/16 --route 172.30.1.0/24",
                    net.id
                )
            ],
            "{status}"
        );
    }
    w.apply(&FixAction::RecreatePeering { peering_id: pid });
    assert!(w.reach("172.31.5.9", &cid.to_string(), None).allowed);
}

/// Every fix's sentence reads as one: no full stop before a `;` or `,`, none doubled.
#[test]
fn fix_summaries_have_no_stray_full_stops() {
    for provider in [Provider::Aws, Provider::Gcp, Provider::Azure] {
        for status in PeeringStatus::ALL {
            let mut w = World::new();
            let net = w.network(provider, "10.20.0.0/16");
            let pid = w.peering(&net, "vpc-0abc", &["172.31.0.0/16"]);
            let p = w.peering_mut(pid);
            p.customer_actions = crate::customer_actions::for_peering(&net, &{
                let mut q = p.clone();
                q.status = PeeringStatus::PendingAcceptance;
                q
            });
            p.status = *status;
            p.status_message = "the cloud said so".into();
            let cid = w.cluster(&net, Topology::SingleNode);
            let r = w.reach("172.31.5.9", &cid.to_string(), None);
            let Some(f) = only(&r).fix.as_ref() else {
                continue;
            };
            for glitch in [".;", ".,", "..", " ;", ";;"] {
                assert!(!f.summary.contains(glitch), "{status}: {}", f.summary);
            }
        }
    }
}

#[test]
fn reason_codes_are_the_same_in_json_and_text() {
    for reason in [
        Reason::Allowed,
        Reason::NoPeering,
        Reason::PeeringNotActive,
        Reason::SourceOutsideRoutes,
        Reason::TransitNotAllowed,
        Reason::PortNotServed,
        Reason::NetworkNotRunning,
        Reason::ClusterNotRunning,
        Reason::NodeNotRunning,
        Reason::GatewayTransitDisabled,
        Reason::NotInPrivateAllowlist,
        Reason::PublicAccessDisabled,
        Reason::NotInPublicAllowlist,
        Reason::NoRoute,
    ] {
        assert_eq!(
            serde_json::to_value(reason).unwrap(),
            serde_json::json!(reason.as_str())
        );
    }
}
