//! Public endpoints on real namespaces: the lab's internet reaches a cluster only through
//! its endpoint, only from its public allow-list, and only while public access is on.
//! Run as root: `cargo test -p isthmus-driver-local --test public`.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use isthmus_core::resources::{Cluster, Network};
use isthmus_driver::NodeState;
use isthmus_driver_local::probe::{self, EchoServer};
use isthmus_driver_local::{netns, LabHost, LabHostSpec, LocalDriver};

const NODE_IPS: [&str; 3] = ["172.29.97.2", "172.29.97.3", "172.29.97.4"];
const ENDPOINT: &str = "198.18.0.1";
const PORT: u16 = 2113;

/// A running three-node cluster whose nodes greet with `node-<index>` and then echo.
async fn cluster_with_servers(d: &Arc<LocalDriver>) -> (Network, Cluster, Vec<EchoServer>) {
    let net = network("172.29.97.0/24");
    let db = cluster(&net, &NODE_IPS);
    d.ensure_network(&net).await.unwrap();
    d.ensure_nodes(&net, &db).await.unwrap();
    let servers = db
        .nodes
        .iter()
        .map(|n| {
            let ns = d.node_namespace(&db, n.index);
            let greeting = format!("node-{}", n.index).into_bytes();
            EchoServer::start_with_greeting(&ns, addr(n.ip, PORT), greeting).unwrap()
        })
        .collect();
    (net, db, servers)
}

async fn internet_host(d: &LocalDriver, name: &str, ip: &str) -> LabHost {
    d.add_internet_host(&LabHostSpec {
        name: name.into(),
        ip: Some(ip.parse().unwrap()),
    })
    .await
    .unwrap()
}

fn endpoint() -> std::net::SocketAddr {
    addr(ENDPOINT.parse().unwrap(), PORT)
}

/// Opens a connection to the endpoint and reads past the greeting.
fn open(from: &LabHost) -> std::net::TcpStream {
    use std::io::Read;
    let mut stream = probe::connect(&from.namespace, endpoint(), DENIED_AFTER)
        .unwrap_or_else(|e| panic!("{} connects to the endpoint: {e:#}", from.name));
    let mut greeting = [0u8; 6];
    stream.read_exact(&mut greeting).unwrap();
    stream
}

fn reaches_endpoint(from: &LabHost) -> bool {
    greeting_from(&from.namespace, endpoint(), 6).is_some()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allowed_internet_host_reaches_every_node_in_turn_and_others_never_do() {
    let fx = Fixture::new("isthp1");
    let d = &fx.driver;
    let (net, mut db, _servers) = cluster_with_servers(d).await;
    let allowed = internet_host(d, "allowed", "203.0.113.10").await;
    let stranger = internet_host(d, "stranger", "203.0.113.11").await;
    assert!(
        !reaches_endpoint(&allowed),
        "no endpoint before public access is on"
    );

    open_public(&mut db, ENDPOINT, &["203.0.113.10/32"]);
    let nodes = d.ensure_nodes(&net, &db).await.unwrap();
    assert!(
        nodes.iter().all(|n| n.state == NodeState::Running),
        "{nodes:?}"
    );

    let answered: BTreeSet<String> = (0..3)
        .map(|_| greeting_from(&allowed.namespace, endpoint(), 6).expect("allowed host connects"))
        .collect();
    assert_eq!(
        answered,
        BTreeSet::from(["node-0".into(), "node-1".into(), "node-2".into()]),
        "three connections go to the three nodes in turn, on the same port"
    );
    assert!(
        !reaches_endpoint(&stranger),
        "a host outside the allow-list is dropped"
    );
    assert!(
        !can_connect(&allowed.namespace, addr(db.nodes[0].ip, PORT)),
        "the internet has no route to private node addresses"
    );
    let node_ns = d.node_namespace(&db, 0);
    let outside = EchoServer::start(&allowed.namespace, addr(allowed.ip, 8080)).unwrap();
    assert!(
        !can_connect(&node_ns, outside.addr),
        "nodes open no connection to the internet"
    );

    let mut open_conn = open(&allowed);
    close_public(&mut db);
    let nodes = d.ensure_nodes(&net, &db).await.unwrap();
    assert!(
        nodes.iter().all(|n| n.state == NodeState::Running),
        "{nodes:?}"
    );
    assert!(
        !reaches_endpoint(&allowed),
        "public access off: the endpoint is gone"
    );
    assert!(
        !still_carries(&mut open_conn, b"after close"),
        "public access off: open connections stop too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replacing_the_allow_list_keeps_connections_from_entries_that_stay() {
    let fx = Fixture::new("isthp2");
    let d = &fx.driver;
    let (net, mut db, _servers) = cluster_with_servers(d).await;
    let stays = internet_host(d, "stays", "203.0.113.10").await;
    let goes = internet_host(d, "goes", "203.0.113.11").await;
    let widened = internet_host(d, "widened", "192.0.2.200").await;
    open_public(
        &mut db,
        ENDPOINT,
        &["203.0.113.10/32", "203.0.113.11/32", "192.0.2.0/25"],
    );
    let seen = d.ensure_nodes(&net, &db).await.unwrap();
    assert!(
        seen.iter().all(|n| n.state == NodeState::Running),
        "adjacent entries read back as applied: {seen:?}"
    );
    let mut from_stays = open(&stays);
    let mut from_goes = open(&goes);
    assert!(
        !reaches_endpoint(&widened),
        "192.0.2.200 is outside 192.0.2.0/25"
    );

    // 192.0.2.0/24 replaces the /25 it contains: the whole set is swapped in one
    // transaction, since nft cannot hold both intervals at once.
    open_public(&mut db, ENDPOINT, &["203.0.113.10/32", "192.0.2.0/24"]);
    d.ensure_nodes(&net, &db).await.unwrap();
    assert!(
        still_carries(&mut from_stays, b"across the change"),
        "a connection from an entry that stays keeps carrying bytes"
    );
    assert!(
        !still_carries(&mut from_goes, b"cut"),
        "a connection from a removed entry stops"
    );
    assert!(
        !reaches_endpoint(&goes),
        "a removed entry cannot connect anew"
    );
    assert!(
        reaches_endpoint(&widened),
        "the widened entry admits 192.0.2.200"
    );

    // Adding one entry back is an element change.
    open_public(
        &mut db,
        ENDPOINT,
        &["203.0.113.10/32", "192.0.2.0/24", "203.0.113.11/32"],
    );
    d.ensure_nodes(&net, &db).await.unwrap();
    assert!(reaches_endpoint(&goes), "an added entry connects");
    assert!(still_carries(&mut from_stays, b"still"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_list_admits_nobody_and_everywhere_admits_anyone() {
    let fx = Fixture::new("isthp3");
    let d = &fx.driver;
    let (net, mut db, _servers) = cluster_with_servers(d).await;
    let a = internet_host(d, "a", "203.0.113.10").await;
    let b = internet_host(d, "b", "198.51.100.7").await;

    open_public(&mut db, ENDPOINT, &[]);
    d.ensure_nodes(&net, &db).await.unwrap();
    assert!(
        !reaches_endpoint(&a) && !reaches_endpoint(&b),
        "empty list: nobody"
    );

    open_public(&mut db, ENDPOINT, &["0.0.0.0/0"]);
    d.ensure_nodes(&net, &db).await.unwrap();
    assert!(
        reaches_endpoint(&a) && reaches_endpoint(&b),
        "0.0.0.0/0: anyone"
    );

    // Overlapping entries are fine: the wider one decides.
    open_public(&mut db, ENDPOINT, &["198.51.100.0/24", "198.51.100.7/32"]);
    d.ensure_nodes(&net, &db).await.unwrap();
    assert!(reaches_endpoint(&b) && !reaches_endpoint(&a));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_endpoint_route_is_reported_and_repaired() {
    let fx = Fixture::new("isthp4");
    let d = &fx.driver;
    let (net, mut db, _servers) = cluster_with_servers(d).await;
    let a = internet_host(d, "a", "203.0.113.10").await;
    open_public(&mut db, ENDPOINT, &["203.0.113.0/24"]);
    d.ensure_nodes(&net, &db).await.unwrap();
    assert!(reaches_endpoint(&a));

    // Someone removes the internet's route to the endpoint by hand.
    let inet = d.internet_namespace();
    let removed = netns::netlink_in(Some(&inet), |h| async move {
        let routes = isthmus_driver_local::nl::routes(&h).await?;
        let route = routes
            .into_iter()
            .find(|r| r.destination == cidr(&format!("{ENDPOINT}/32")))
            .expect("the endpoint is routed");
        isthmus_driver_local::nl::delete_route(&h, &route).await
    });
    removed.unwrap();
    assert!(!reaches_endpoint(&a));

    let seen = d.observe_nodes(&net, &db).await.unwrap();
    assert!(
        seen.iter()
            .all(|n| n.state == NodeState::Starting && n.message.contains(ENDPOINT)),
        "observe names the missing route: {seen:?}"
    );
    let seen = d.ensure_nodes(&net, &db).await.unwrap();
    assert!(
        seen.iter().all(|n| n.state == NodeState::Running),
        "{seen:?}"
    );
    assert!(reaches_endpoint(&a), "ensure puts the route back");

    // And the router's way back: its default route over the uplink.
    let router = d.router_namespace(&net);
    netns::netlink_in(Some(&router), |h| async move {
        let routes = isthmus_driver_local::nl::routes(&h).await?;
        let default = routes
            .into_iter()
            .find(|r| r.destination.prefix_len() == 0)
            .expect("the router has a default route over its uplink");
        isthmus_driver_local::nl::delete_route(&h, &default).await
    })
    .unwrap();
    assert!(!reaches_endpoint(&a), "replies have no way back");
    let seen = d.observe_nodes(&net, &db).await.unwrap();
    assert!(
        seen.iter()
            .all(|n| n.state == NodeState::Starting && n.message.contains("default route")),
        "{seen:?}"
    );
    d.ensure_nodes(&net, &db).await.unwrap();
    assert!(reaches_endpoint(&a), "ensure puts the default route back");
}

#[tokio::test(flavor = "multi_thread")]
async fn internet_hosts_are_namespaces_with_their_address_and_run_commands() {
    let fx = Fixture::new("isthp5");
    let d = &fx.driver;
    d.ensure_internet().await.unwrap();
    let host = d
        .add_internet_host(&LabHostSpec {
            name: "web".into(),
            ip: None,
        })
        .await
        .unwrap();
    assert_eq!(host.ip.to_string(), "203.0.113.10", "first default address");
    assert_eq!(d.internet_hosts(), vec![host.clone()]);
    let argv: Vec<String> = ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]
        .map(String::from)
        .to_vec();
    let out = d.lab_exec("internet", "web", &argv).await.unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("203.0.113.10/32"));

    let (ns, resolver) = d.internet_resolver();
    let dns = EchoServer::start(&ns, addr(resolver, 53)).unwrap();
    assert!(
        can_connect(&host.namespace, dns.addr),
        "a resolver bound in the internet namespace is reachable from its hosts"
    );

    d.delete_internet_host("web").await.unwrap();
    assert!(d.internet_hosts().is_empty());
    assert!(!fx.namespaces().contains(&host.namespace));
    assert!(d.lab_exec("internet", "web", &argv).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_internet_goes_with_the_last_host_and_the_last_network_using_it() {
    let fx = Fixture::new("isthp6");
    let d = &fx.driver;
    let (net, mut db, _servers) = cluster_with_servers(d).await;
    open_public(&mut db, ENDPOINT, &["203.0.113.10/32"]);
    d.ensure_nodes(&net, &db).await.unwrap();
    internet_host(d, "laptop", "203.0.113.10").await;
    let inet = d.internet_namespace();

    d.delete_internet_host("laptop").await.unwrap();
    assert!(
        netns::exists(&inet),
        "the network's uplink still uses the internet"
    );
    d.delete_nodes(&net, &db).await.unwrap();
    d.delete_network(&net).await.unwrap();
    assert!(
        !netns::exists(&inet),
        "nothing uses {inet} any more, so it is gone"
    );
    assert!(d.internet_hosts().is_empty());
}
