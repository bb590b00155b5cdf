//! The temporary link of a cluster's move, on real namespaces (issue 19): an old node in
//! the source network and a new node in the target reach each other on the engine's
//! cluster port once the link is up (and only there: their egress says so), not before,
//! and not after the link is deleted. Run as root:
//! `cargo test -p isthmus-driver-local --test move_link`.

mod common;

use std::net::Ipv4Addr;

use common::*;
use isthmus_core::resources::{Cluster, EgressRule};
use isthmus_driver_local::probe::EchoServer;

const OLD: &str = "172.29.120.10";
const NEW: &str = "172.29.121.10";
const CLUSTER_PORT: u16 = 6222;
const CLIENT_PORT: u16 = 4222;

/// The cluster's egress widened for the move: the engine's cluster port on `to`.
fn egress_to(c: &mut Cluster, to: &str) {
    c.egress_allowlist = vec![EgressRule {
        cidr: cidr(&format!("{to}/32")),
        ports: vec![CLUSTER_PORT],
        comment: "move".into(),
    }];
}

#[tokio::test]
async fn old_and_new_nodes_reach_each_other_on_the_cluster_port_only_while_the_link_is_up() {
    let f = Fixture::new("isthmo");
    let d = &f.driver;
    let (source, target) = (network("172.29.120.0/24"), network("172.29.121.0/24"));
    d.ensure_network(&source).await.unwrap();
    d.ensure_network(&target).await.unwrap();
    // One cluster: its old node (index 0) in the source, its new node (index 1) in the
    // target, as the controller places them during a move.
    let mut old = cluster(&source, &[OLD]);
    egress_to(&mut old, NEW);
    let mut new = cluster(&target, &[NEW]);
    new.id = old.id;
    new.nodes[0].index = 1;
    egress_to(&mut new, OLD);
    d.ensure_nodes(&source, &old).await.unwrap();
    d.ensure_nodes(&target, &new).await.unwrap();
    let (old_ns, new_ns) = (d.node_namespace(&old, 0), d.node_namespace(&new, 1));
    let (old_ip, new_ip): (Ipv4Addr, Ipv4Addr) = (OLD.parse().unwrap(), NEW.parse().unwrap());
    let _servers = [
        EchoServer::start(&old_ns, addr(old_ip, CLUSTER_PORT)).unwrap(),
        EchoServer::start(&new_ns, addr(new_ip, CLUSTER_PORT)).unwrap(),
        EchoServer::start(&new_ns, addr(new_ip, CLIENT_PORT)).unwrap(),
    ];
    assert!(
        !can_connect(&old_ns, addr(new_ip, CLUSTER_PORT)),
        "two networks do not reach each other without the link"
    );

    let id = old.id.to_string();
    d.ensure_move_link(&source, &target, &id, &[old_ip], &[new_ip])
        .await
        .unwrap();
    // Again: nothing changes, nothing fails.
    d.ensure_move_link(&source, &target, &id, &[old_ip], &[new_ip])
        .await
        .unwrap();
    assert!(
        can_connect(&old_ns, addr(new_ip, CLUSTER_PORT)),
        "old → new"
    );
    assert!(
        can_connect(&new_ns, addr(old_ip, CLUSTER_PORT)),
        "new → old"
    );
    assert!(
        !can_connect(&old_ns, addr(new_ip, CLIENT_PORT)),
        "only the cluster port: the nodes' egress allows nothing else"
    );

    d.delete_move_link(&source, &target, &id).await.unwrap();
    assert!(
        !can_connect(&old_ns, addr(new_ip, CLUSTER_PORT)),
        "the link is gone"
    );
    assert!(!can_connect(&new_ns, addr(old_ip, CLUSTER_PORT)));
    // Deleting again is fine (teardown is idempotent).
    d.delete_move_link(&source, &target, &id).await.unwrap();
    d.delete_nodes(&source, &old).await.unwrap();
    d.delete_nodes(&target, &new).await.unwrap();
    d.delete_network(&source).await.unwrap();
    d.delete_network(&target).await.unwrap();
}
