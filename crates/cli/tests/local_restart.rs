//! The `local` provider survives crashes and repairs drift: a server killed with SIGKILL
//! in the middle of creating a network, a cluster and a peering converges after a restart,
//! and keeps no kernel object under its prefix that the store does not own; a peering
//! link deleted by hand comes back at the next resync.

mod local_support;
mod support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use local_support::{eventually, node_ips, LocalLab};
use support::id_of;

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn links_in(ns: &str) -> String {
    let out = Command::new("ip")
        .args(["-n", ns, "-o", "link"])
        .output()
        .expect("run ip link");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_server_killed_mid_creation_converges_after_restart_and_keeps_only_what_it_owns() {
    let mut lab = LocalLab::start("isthr1");
    lab.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.0.10")]);
    let project = lab.cli.json("project create e2e");
    lab.cli = lab.cli.in_project(&id_of(&project));

    // Killed right after the network is asked for, before the controller is done.
    let network = id_of(
        &lab.cli
            .json("network create lab --provider local --region host --cidr 172.29.98.0/24"),
    );
    lab.crash();
    lab.restart();
    // Killed while the cluster's nodes are being made (the network may still be too).
    let cluster = id_of(&lab.cli.json(&format!(
        "cluster create db --network {network} --engine probe --topology three-node-multi-zone"
    )));
    std::thread::sleep(Duration::from_millis(300));
    lab.crash();
    lab.restart();
    // Killed while the peering link is being made.
    let peering = id_of(&lab.cli.json(&format!(
        "peering create to-customer --network {network} --peer-account lab \
         --peer-network customer --peer-region host --route 172.16.0.0/16"
    )));
    std::thread::sleep(Duration::from_millis(100));
    lab.crash();

    // Once more, after the network is back, to plant orphans a crash could have left:
    // a namespace and a peering link that nobody owns.
    lab.restart();
    lab.cli.poll_status("network", &network, &["active"]);
    lab.crash();
    let stray_ns = format!("{}-r-deadbeef", lab.prefix);
    ip(&["netns", "add", &stray_ns]);
    let router = lab.names.router_ns(&network);
    let stray_link = lab.names.peering_link("no-such-peering");
    let stray_peer = lab.names.peering_peer_link("no-such-peering");
    ip(&[
        "-n",
        &router,
        "link",
        "add",
        &stray_link,
        "type",
        "veth",
        "peer",
        "name",
        &stray_peer,
    ]);

    lab.restart();
    lab.cli.poll_status("network", &network, &["active"]);
    let cluster_json = lab.cli.poll_status("cluster", &cluster, &["running"]);
    lab.cli.poll_status("peering", &peering, &["active"]);

    let owned: BTreeSet<String> = [
        router.clone(),
        lab.names.node_ns(&cluster, 0),
        lab.names.node_ns(&cluster, 1),
        lab.names.node_ns(&cluster, 2),
        lab.names.lab_router_ns("customer"),
        lab.names.lab_host_ns("customer", "app"),
    ]
    .into();
    let present: BTreeSet<String> = lab.namespaces().into_iter().collect();
    assert_eq!(
        present, owned,
        "namespaces under the prefix after the restart"
    );
    assert!(
        !links_in(&router).contains(&stray_link),
        "the orphan link was swept:\n{}",
        links_in(&router)
    );
    let root_links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&root_links.stdout).contains(&lab.prefix),
        "nothing of ours in the root namespace"
    );
    let tables = Command::new("ip")
        .args(["netns", "exec", &router, "nft", "list", "tables"])
        .output()
        .expect("run nft");
    assert_eq!(
        String::from_utf8_lossy(&tables.stdout).trim(),
        "table inet isthmus",
        "one firewall table per router namespace"
    );

    let ips = node_ips(&cluster_json);
    let _listeners: Vec<_> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| lab.listen_in_node(&cluster, i as u32, ip.parse().unwrap()))
        .collect();
    lab.eventually_connects("customer/app", &ips);
}

#[test]
fn a_peering_link_deleted_by_hand_is_restored_by_the_next_resync() {
    let mut lab = LocalLab::start("isthr2");
    lab.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.0.10")]);
    let network = lab.project_and_network("172.29.98.0/24");
    let cluster = lab.cluster(&network, "single-node");
    let ip = node_ips(&cluster)[0].clone();
    let _listener = lab.listen_in_node(&id_of(&cluster), 0, ip.parse().unwrap());
    let peering = lab.peering(&network, "customer", &["172.16.0.0/16"]);
    assert_eq!(peering["status"], "active", "{peering:#}");
    assert!(lab.connects("customer/app", &ip));

    let router = lab.names.router_ns(&network);
    let link = lab.names.peering_link(&id_of(&peering));
    ip_del_link(&router, &link);
    assert!(!links_in(&router).contains(&link), "the link is gone");

    // The server runs with --resync-seconds 1: the next resync finds and repairs it.
    eventually("the peering link is back", || {
        links_in(&router).contains(&link)
    });
    lab.eventually_connects("customer/app", std::slice::from_ref(&ip));
    let after = lab
        .cli
        .poll_status("peering", &id_of(&peering), &["active"]);
    assert_eq!(after["status"], "active");
}

fn ip_del_link(ns: &str, link: &str) {
    ip(&["-n", ns, "link", "del", link]);
}
