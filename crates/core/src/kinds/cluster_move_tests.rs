//! The rules of a cluster move: where it may go, what it refuses, and the names it keeps.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{TimeZone, Utc};

use super::*;
use crate::resources::*;
use crate::rules;
use crate::{Id, ProjectId};

fn id<T: From<Id>>() -> T {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let [a, b, c, d] = NEXT.fetch_add(1, Ordering::Relaxed).to_be_bytes();
    T::from(Id::from_parts(1_700_000_000, [a, b, c, d, 0, 0, 0, 9]))
}

fn project(n: u8) -> ProjectId {
    ProjectId::from(Id::from_parts(1_700_000_000, [0, 0, 0, 0, 0, 0, 0, n]))
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
}

fn network_in(p: ProjectId, cidr: &str, region: &str) -> Network {
    let req = NetworkCreate {
        name: format!("net-{}", cidr.replace(['.', '/'], "-")),
        provider: Provider::Aws,
        region: region.into(),
        cidr_block: cidr.into(),
    };
    rules::new_network(id(), p, &req, &[], now()).unwrap()
}

fn network(cidr: &str) -> Network {
    network_in(project(1), cidr, "us-east-1")
}

fn running_cluster(network: &Network) -> Cluster {
    let req = ClusterCreate {
        private_allowlist: None,
        name: "orders".into(),
        network_id: network.id.to_string(),
        engine: "probe".into(),
        topology: Topology::ThreeNodeMultiZone,
        public_access: None,
        egress_allowlist: None,
    };
    let mut c = rules::new_cluster(
        id(),
        project(1),
        &req,
        network,
        &HashSet::new(),
        "isthmus.internal",
        now(),
    )
    .unwrap();
    c.status = ClusterStatus::Running;
    c
}

fn active_peering(network: &Network, name: &str, routes: &[&str]) -> Peering {
    let req = PeeringCreate {
        name: name.into(),
        network_id: network.id.to_string(),
        peer: PeerSpec {
            account_id: "123456789012".into(),
            network_id: "vpc-0abc1234".into(),
            region: "us-east-1".into(),
        },
        routes: routes.iter().map(|r| r.to_string()).collect(),
        transit_routes: Vec::new(),
        allow_gateway_transit: false,
    };
    let mut p = rules::new_peering(id(), project(1), &req, network, &[], now()).unwrap();
    p.status = PeeringStatus::Active;
    p
}

fn request(target: &Network) -> ClusterMoveRequest {
    ClusterMoveRequest {
        network_id: target.id.to_string(),
        allow_lost_access: false,
        drain_seconds: None,
    }
}

fn no_access() -> AccessContext<'static> {
    AccessContext {
        source_peerings: &[],
        target_peerings: &[],
        vpn_clients: &[],
        endpoint_services: &[],
    }
}

fn field_rule(e: CoreError) -> (Option<String>, String) {
    match e {
        CoreError::Invalid(errors) => (Some(errors[0].field.clone()), errors[0].rule.clone()),
        CoreError::Conflict { field, rule, .. } => (field, rule),
        other => panic!("expected a 422 or 409, got {other:?}"),
    }
}

#[test]
fn a_move_keeps_every_name_and_gives_new_nodes_addresses_in_the_target() {
    let (source, target) = (network("10.0.0.0/24"), network("10.1.0.0/24"));
    let cluster = running_cluster(&source);
    let moved = start_move(
        &cluster,
        &source,
        &target,
        &request(&target),
        &no_access(),
        &HashSet::new(),
        now(),
    )
    .unwrap();
    let m = moved.network_move.as_ref().unwrap();
    assert_eq!(m.phase, MovePhase::ProvisioningNodes);
    assert_eq!(m.drain_seconds, DEFAULT_DRAIN_SECONDS);
    assert_eq!(
        (m.source_network_id, m.target_network_id),
        (source.id, target.id)
    );
    // The cluster stays where it is until the switch; its names do not change at all.
    assert_eq!(moved.network_id, source.id);
    assert_eq!(moved.nodes, cluster.nodes);
    assert_eq!(moved.dns_name, cluster.dns_name);
    assert_eq!(moved.addresses, cluster.addresses);
    assert_eq!(moved.generation, cluster.generation + 1);
    let names = |nodes: &[Node]| nodes.iter().map(|n| n.dns_name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&m.nodes), names(&cluster.nodes));
    let indices: Vec<u32> = m.nodes.iter().map(|n| n.index).collect();
    assert_eq!(indices, [3, 4, 5], "new nodes are new provider identities");
    assert!(m
        .nodes
        .iter()
        .all(|n| target.cidr_block.contains_addr(n.ip)));
    // The new addresses are claimed in the target network, so no other cluster gets them.
    let claims = move_node_claims(&moved);
    assert_eq!(claims.len(), 3);
    assert!(claims
        .iter()
        .all(|c| c.index == MOVE_NODE_IP && c.scope == target.id.to_string()));
}

#[test]
fn a_target_without_room_another_project_or_the_same_network_is_refused() {
    let source = network("10.0.0.0/24");
    let cluster = running_cluster(&source);
    // AWS reserves 5 of a /28's 16 addresses; 9 of the other 11 are taken: room for 2.
    let tiny = network("10.2.0.0/28");
    let taken: HashSet<std::net::Ipv4Addr> = (4..13)
        .map(|i| std::net::Ipv4Addr::new(10, 2, 0, i))
        .collect();
    let full = start_move(
        &cluster,
        &source,
        &tiny,
        &request(&tiny),
        &no_access(),
        &taken,
        now(),
    )
    .unwrap_err();
    assert_eq!(
        field_rule(full),
        (Some("network_id".into()), "network-full".into())
    );
    let theirs = network_in(project(2), "10.3.0.0/24", "us-east-1");
    let other = start_move(
        &cluster,
        &source,
        &theirs,
        &request(&theirs),
        &no_access(),
        &HashSet::new(),
        now(),
    )
    .unwrap_err();
    assert_eq!(
        field_rule(other),
        (Some("network_id".into()), "same-project".into())
    );
    let same = start_move(
        &cluster,
        &source,
        &source,
        &request(&source),
        &no_access(),
        &HashSet::new(),
        now(),
    )
    .unwrap_err();
    assert_eq!(
        field_rule(same),
        (Some("network_id".into()), "different-network".into())
    );
}

#[test]
fn a_peered_range_the_target_does_not_route_is_named_and_needs_the_flag() {
    let (source, target) = (network("10.0.0.0/24"), network("10.1.0.0/24"));
    let cluster = running_cluster(&source);
    let old = [
        active_peering(&source, "office", &["192.168.0.0/24", "192.168.9.0/24"]),
        active_peering(&source, "dc", &["172.20.0.0/16"]),
    ];
    let new = [active_peering(&target, "office-new", &["192.168.0.0/16"])];
    let access = AccessContext {
        source_peerings: &old,
        target_peerings: &new,
        vpn_clients: &[],
        endpoint_services: &[],
    };
    let err = start_move(
        &cluster,
        &source,
        &target,
        &request(&target),
        &access,
        &HashSet::new(),
        now(),
    )
    .unwrap_err();
    let message = err.to_string();
    assert_eq!(
        field_rule(err),
        (Some("network_id".into()), "keeps-access".into())
    );
    // The office's ranges are covered by the target's peering; the data centre's are not.
    assert!(
        message.contains("peering dc") && message.contains("172.20.0.0/16"),
        "{message}"
    );
    assert!(!message.contains("peering office "), "{message}");

    let allowed = ClusterMoveRequest {
        allow_lost_access: true,
        ..request(&target)
    };
    let moved = start_move(
        &cluster,
        &source,
        &target,
        &allowed,
        &access,
        &HashSet::new(),
        now(),
    )
    .unwrap();
    let lost = &moved.network_move.unwrap().lost_access;
    assert_eq!(lost.len(), 1);
    assert!(lost[0].starts_with("peering dc"), "{lost:?}");
}

#[test]
fn a_range_outside_the_private_allowlist_never_reached_the_cluster_and_is_not_lost() {
    let (source, target) = (network("10.0.0.0/24"), network("10.1.0.0/24"));
    let mut cluster = running_cluster(&source);
    cluster.private_allowlist = vec![AllowlistEntry {
        cidr: "192.168.0.0/24".parse().unwrap(),
        comment: String::new(),
        expires_at: None,
    }];
    let old = [active_peering(&source, "dc", &["172.20.0.0/16"])];
    let access = AccessContext {
        source_peerings: &old,
        ..no_access()
    };
    assert!(lost_access(&cluster, &target, &access, now()).is_empty());
}

#[test]
fn another_region_is_allowed_with_a_latency_and_cost_warning() {
    let source = network("10.0.0.0/24");
    let target = network_in(project(1), "10.1.0.0/24", "eu-west-1");
    let cluster = running_cluster(&source);
    let moved = start_move(
        &cluster,
        &source,
        &target,
        &request(&target),
        &no_access(),
        &HashSet::new(),
        now(),
    )
    .unwrap();
    let m = moved.network_move.unwrap();
    assert!(m.warnings[0].contains("latency"), "{:?}", m.warnings);
    assert_eq!(m.nodes[0].zone, "eu-west-1a");
}

#[test]
fn a_move_cancels_only_before_the_switch() {
    let (source, target) = (network("10.0.0.0/24"), network("10.1.0.0/24"));
    let cluster = running_cluster(&source);
    let moving = start_move(
        &cluster,
        &source,
        &target,
        &request(&target),
        &no_access(),
        &HashSet::new(),
        now(),
    )
    .unwrap();
    // Moving twice at once is a conflict.
    let twice = start_move(
        &moving,
        &source,
        &target,
        &request(&target),
        &no_access(),
        &HashSet::new(),
        now(),
    )
    .unwrap_err();
    assert_eq!(field_rule(twice).1, "cluster-moving");

    let cancelled = cancel_move(&moving, now()).unwrap();
    assert_eq!(
        cancelled.network_move.as_ref().unwrap().phase,
        MovePhase::Cancelling
    );
    let mut switched = moving.clone();
    switched.network_move.as_mut().unwrap().phase = MovePhase::NamesSwitched;
    assert_eq!(
        field_rule(cancel_move(&switched, now()).unwrap_err()).1,
        "move-past-switch"
    );
    assert_eq!(
        field_rule(cancel_move(&cluster, now()).unwrap_err()).1,
        "no-move"
    );
}

#[test]
fn a_cluster_moves_from_running_and_back_to_running() {
    assert!(ClusterStatus::Running
        .transition(ClusterStatus::Moving)
        .is_ok());
    assert!(ClusterStatus::Moving
        .transition(ClusterStatus::Running)
        .is_ok());
    assert!(ClusterStatus::Provisioning
        .transition(ClusterStatus::Moving)
        .is_err());
}
