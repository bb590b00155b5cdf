//! Large public allow-lists on real namespaces: a change is applied as a difference from
//! what was applied last (element additions and deletions over netlink), connections from
//! entries that stay keep going, removed entries are cut, and the record of what was
//! applied is rebuilt from the kernel after a restart or a hand edit.
//! Run as root: `cargo test -p isthmus-driver-local --test allowlist`.

mod common;

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::Arc;

use common::*;
use isthmus_core::resources::{AllowlistEntry, Cluster, Network};
use isthmus_driver::NodeState;
use isthmus_driver_local::probe::{self, EchoServer};
use isthmus_driver_local::{LabHost, LabHostSpec, LocalConfig, LocalDriver};

const ENDPOINT: &str = "198.18.0.1";
const PORT: u16 = 2113;

/// A running one-node cluster whose node greets with `node-0` and then echoes.
async fn cluster_with_server(
    d: &LocalDriver,
    cidr: &str,
    ip: &str,
) -> (Network, Cluster, EchoServer) {
    let net = network(cidr);
    let db = cluster(&net, &[ip]);
    d.ensure_network(&net).await.unwrap();
    d.ensure_nodes(&net, &db).await.unwrap();
    let ns = d.node_namespace(&db, 0);
    let server =
        EchoServer::start_with_greeting(&ns, addr(db.nodes[0].ip, PORT), b"node-0".to_vec())
            .unwrap();
    (net, db, server)
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

/// `count` disjoint /24s under `first_octet`.0.0.0/8 and up, plus `extra` entries.
fn big_list(first_octet: u8, count: u32, extra: &[&str]) -> Vec<AllowlistEntry> {
    let mut list: Vec<AllowlistEntry> = (0..count)
        .map(|i| {
            let ip = Ipv4Addr::new(first_octet + (i / 256) as u8, (i % 256) as u8, 0, 0);
            entry(&format!("{ip}/24"))
        })
        .collect();
    list.extend(extra.iter().map(|c| entry(c)));
    list
}

async fn apply(d: &LocalDriver, net: &Network, db: &Cluster) {
    let seen = d.ensure_nodes(net, db).await.unwrap();
    assert!(
        seen.iter().all(|n| n.state == NodeState::Running),
        "applied and read back as applied: {seen:?}"
    );
}

/// A full read of the kernel (what the resync does) finds the list as applied.
async fn kernel_holds_the_list(d: &LocalDriver, net: &Network, db: &Cluster) {
    let seen = d.observe_nodes(net, db).await.unwrap();
    assert!(
        seen.iter().all(|n| n.state == NodeState::Running),
        "the kernel holds exactly the list: {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replacing_8000_entries_keeps_connections_of_entries_that_stay_and_cuts_the_rest() {
    let fx = Fixture::new("isthf4");
    let d = &fx.driver;
    let (net, mut db, _server) = cluster_with_server(d, "172.29.93.0/24", "172.29.93.2").await;
    let stays = internet_host(d, "stays", "203.0.113.10").await;
    let goes = internet_host(d, "goes", "203.0.113.11").await;
    let comes = internet_host(d, "comes", "203.0.113.12").await;

    open_public(&mut db, ENDPOINT, &[]);
    db.public_access.allowlist = big_list(11, 7_998, &["203.0.113.10/32", "203.0.113.11/32"]);
    apply(d, &net, &db).await;
    let mut from_stays = open(&stays);
    let mut from_goes = open(&goes);
    assert!(!reaches_endpoint(&comes), "not on the list yet");

    // Every entry but one replaced: 7,999 deletions and 7,999 additions in one go.
    db.public_access.allowlist = big_list(41, 7_998, &["203.0.113.10/32", "203.0.113.12/32"]);
    apply(d, &net, &db).await;
    assert!(
        still_carries(&mut from_stays, b"across the replace"),
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
    assert!(reaches_endpoint(&comes), "an added entry connects");
    kernel_holds_the_list(d, &net, &db).await;

    // One entry added.
    db.public_access.allowlist.push(entry("203.0.113.11/32"));
    apply(d, &net, &db).await;
    assert!(reaches_endpoint(&goes), "the entry added back connects");
    assert!(still_carries(&mut from_stays, b"still"));

    // A /32 widened to the /30 around it (the added prefix overlaps the removed ones).
    let list = &mut db.public_access.allowlist;
    list.retain(|e| !e.cidr.to_string().starts_with("203.0.113.1"));
    list.push(entry("203.0.113.8/30"));
    list.push(entry("203.0.113.12/30"));
    apply(d, &net, &db).await;
    assert!(reaches_endpoint(&goes) && reaches_endpoint(&comes));
    assert!(
        still_carries(&mut from_stays, b"after widening"),
        "203.0.113.10 stays admitted through the wider entry"
    );
    kernel_holds_the_list(d, &net, &db).await;
}

/// Deletes one element from the cluster's public set by hand, as an operator might.
fn hand_delete(router_ns: &str, element: &str) {
    let out = Command::new("ip")
        .args([
            "netns", "exec", router_ns, "nft", "-j", "list", "sets", "inet",
        ])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let set = doc["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["set"]["name"].as_str())
        .find(|n| n.starts_with("pub_"))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("a public set in {router_ns}: {doc}"));
    let status = Command::new("ip")
        .args([
            "netns", "exec", router_ns, "nft", "delete", "element", "inet",
        ])
        .args(["isthmus", &set, &format!("{{ {element} }}")])
        .status()
        .unwrap();
    assert!(status.success(), "hand edit of {set}");
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_restart_or_a_hand_edit_the_next_change_starts_from_the_kernel() {
    let fx = Fixture::new("isthf5");
    let (net, mut db, _server) =
        cluster_with_server(&fx.driver, "172.29.92.0/24", "172.29.92.2").await;
    let stays = internet_host(&fx.driver, "stays", "203.0.113.10").await;
    let goes = internet_host(&fx.driver, "goes", "203.0.113.11").await;
    let comes = internet_host(&fx.driver, "comes", "203.0.113.12").await;
    open_public(&mut db, ENDPOINT, &[]);
    db.public_access.allowlist = big_list(11, 100, &["203.0.113.10/32", "203.0.113.11/32"]);
    apply(&fx.driver, &net, &db).await;
    let mut from_stays = open(&stays);

    // A restarted driver (nothing in memory) changes the list: it reads what is applied.
    let restarted: Arc<LocalDriver> = LocalDriver::new(LocalConfig {
        prefix: "isthf5".into(),
    })
    .unwrap();
    db.public_access.allowlist = big_list(21, 100, &["203.0.113.10/32", "203.0.113.12/32"]);
    apply(&restarted, &net, &db).await;
    assert!(still_carries(&mut from_stays, b"across the restart"));
    assert!(!reaches_endpoint(&goes), "the removed entry is refused");
    assert!(reaches_endpoint(&comes), "the added entry connects");
    kernel_holds_the_list(&restarted, &net, &db).await;

    // Someone deletes an entry by hand: the resync sees it, and the next apply puts it back.
    let router = restarted.router_namespace(&net);
    hand_delete(&router, "203.0.113.12/32");
    assert!(!reaches_endpoint(&comes));
    let seen = restarted.observe_nodes(&net, &db).await.unwrap();
    assert!(
        seen.iter().all(|n| n.state == NodeState::Starting),
        "the resync reads the kernel and reports the missing entry: {seen:?}"
    );
    apply(&restarted, &net, &db).await;
    assert!(reaches_endpoint(&comes), "repaired");

    // A hand edit between two changes: the second change does not trust its record.
    hand_delete(&router, "203.0.113.12/32");
    db.public_access.allowlist.push(entry("203.0.113.11/32"));
    apply(&restarted, &net, &db).await;
    assert!(reaches_endpoint(&goes), "the change is applied");
    assert!(
        reaches_endpoint(&comes),
        "and the hand edit is repaired with it"
    );
    assert!(still_carries(&mut from_stays, b"still"));
}
