//! Grants follow the cluster when a node is replaced, on the `local` provider, end to end
//! through the real binary (root): a laptop with a tunnel to the network's gateway and a
//! grant to a three-node cluster reaches node 1 by name (the gateway's pushed resolver)
//! with TLS verified; `isthmus cluster replace-node` gives node 1 a new address under the
//! same name; without any change to the VPN client (same version, key and grants) the
//! gateway lets the laptop reach the node at its new address and refuses the old one,
//! the name resolves to the new address, and the analyzer agrees with the real connects.
//! Kernel names use the prefix `isthm1`; the lab's guard and the laptop's guard remove
//! everything even when the test fails.

mod local_support;
mod support;
mod vpn_support;

use isthmus_driver_local::vpn::daemon;
use local_support::{eventually, node_ips, LocalLab};
use serde_json::Value;
use support::{id_of, WAIT_TIMEOUT};
use vpn_support::{in_ns, resolve_a, tls_verified, wg_quick_up, without_dns};

const PREFIX: &str = "isthm1";
const LAPTOP: &str = "internet/laptop";
const LAPTOP_WG: &str = "isthm1lap";
/// The gateway's own tunnel address: the pushed resolver.
const RESOLVER: &str = "100.64.9.1";
/// The probe engine's TLS port, granted.
const TLS_PORT: u16 = 8443;

/// Stops the laptop's wireguard-go (its namespace goes with the lab).
struct Laptop;

impl Drop for Laptop {
    fn drop(&mut self) {
        let _ = daemon::stop(LAPTOP_WG);
    }
}

/// How a TCP connect from the laptop to `ip:port` ended: bash's `/dev/tcp` under
/// `timeout 3`; `Some(true)` connected, `Some(false)` refused at once (a reset), `None`
/// anything else (a timeout).
fn connect_outcome(lab: &LocalLab, ip: &str, port: u16) -> Option<bool> {
    let script = format!("exec 3<>/dev/tcp/{ip}/{port}");
    let run = lab.lab_exec(LAPTOP, &["timeout", "3", "bash", "-c", &script]);
    match run.code {
        Some(0) => Some(true),
        _ if run.stderr.contains("Connection refused") => Some(false),
        _ => None,
    }
}

/// Whether the prefix `a.b.c.d/n` holds `ip`.
fn covers(prefix: &str, ip: std::net::Ipv4Addr) -> bool {
    let (net, len) = prefix.split_once('/').unwrap();
    let (net, len): (std::net::Ipv4Addr, u32) = (net.parse().unwrap(), len.parse().unwrap());
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(net) & mask == u32::from(ip) & mask
}

/// `reach --from vpn/alice --to CLUSTER:8443`.
fn reach(lab: &LocalLab, cluster: &str) -> Value {
    lab.cli
        .json(&format!("reach --from vpn/alice --to {cluster}:{TLS_PORT}"))
}

#[test]
fn a_replaced_node_is_reached_at_its_new_address_without_touching_the_vpn_client() {
    let mut lab = LocalLab::start(PREFIX);
    let _laptop = Laptop;
    let network = lab.project_and_network("172.29.141.0/24");
    let cluster = lab.cluster(&network, "three-node-multi-zone");
    let cluster_id = id_of(&cluster);
    let ips = node_ips(&cluster);
    let old_ip = ips[1].clone();
    let name = cluster["nodes"][1]["dns_name"]
        .as_str()
        .unwrap()
        .to_string();
    lab.internet_host("laptop", "203.0.113.71");
    let laptop_ns = lab.namespace_of(LAPTOP);
    let ca = lab.sandbox.home.path().join("isthmus-ca.pem");
    lab.cli.ok(&format!("ca get -f {}", ca.display()));
    let ca = ca.display().to_string();

    // The gateway, a client granted the cluster's TLS port, the tunnel up with the
    // downloaded config.
    let gateway = lab.cli.json(&format!(
        "vpn gateway create laptops --network {network} --client-cidr 100.64.9.0/24 \
         --dns push --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(gateway["status"], "ready", "{gateway:#}");
    let client = lab.cli.json(&format!(
        "vpn client add {} alice --grant {cluster_id}:{TLS_PORT}",
        id_of(&gateway)
    ));
    let client_id = id_of(&client);
    let key_file = lab.sandbox.home.path().join("alice.key");
    std::fs::write(&key_file, client["private_key"].as_str().unwrap()).unwrap();
    let config = lab.cli.ok(&format!(
        "vpn client config {client_id} --private-key-file {}",
        key_file.display()
    ));
    wg_quick_up(&lab, &laptop_ns, LAPTOP_WG, &without_dns(&config));

    // Node 1 by name, through the tunnel's resolver, with TLS verified for that name.
    let mut answer = None;
    eventually("the tunnel's resolver names node 1", || {
        answer = resolve_a(&laptop_ns, RESOLVER, &name);
        answer.is_some()
    });
    assert_eq!(answer, Some(vec![old_ip.parse().unwrap()]));
    eventually("the laptop reaches node 1 through the tunnel", || {
        connect_outcome(&lab, &old_ip, TLS_PORT) == Some(true)
    });
    tls_verified(&lab, LAPTOP, &ca, &old_ip, TLS_PORT, &name).expect("TLS to node 1");
    assert_eq!(reach(&lab, &cluster_id)["allowed"], true);
    let before = lab.cli.json(&format!("vpn client get {client_id}"));

    // The replacement: same index, zone and name; a new address in the network.
    let replaced = lab.cli.json(&format!(
        "cluster replace-node {cluster_id} 1 --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(replaced["status"], "running", "{replaced:#}");
    let new_ip = node_ips(&replaced)[1].clone();
    assert_ne!(new_ip, old_ip);
    assert!(!ips.contains(&new_ip), "{new_ip} was another node's");
    assert!(new_ip.starts_with("172.29.141."), "{new_ip}");
    assert_eq!(replaced["nodes"][1]["dns_name"], name.as_str());
    assert_eq!(replaced["nodes"][1]["zone"], cluster["nodes"][1]["zone"]);
    assert_eq!(node_ips(&replaced)[0], ips[0], "node 0 stays where it was");
    assert_eq!(node_ips(&replaced)[2], ips[2], "node 2 stays where it was");
    let node_ns = lab.names.node_ns(&cluster_id, 1);
    let addresses = in_ns(&node_ns, &["ip", "-4", "-o", "addr", "show"]);
    let addresses = String::from_utf8_lossy(&addresses.stdout).to_string();
    assert!(
        addresses.contains(&format!("{new_ip}/24")) && !addresses.contains(&format!("{old_ip}/")),
        "the node's namespace holds the new address only: {addresses}"
    );

    // The router forgot the old address: its egress map sends only the new one to the
    // cluster's chain (a node given the old address later inherits nothing).
    let router_ns = lab.names.router_ns(&network);
    let map = in_ns(
        &router_ns,
        &["nft", "list", "map", "inet", "isthmus", "egress_from"],
    );
    let map = String::from_utf8_lossy(&map.stdout).to_string();
    assert!(
        map.contains(&format!("{new_ip} :")) && !map.contains(&format!("{old_ip} :")),
        "{map}"
    );

    // The VPN client was not touched: same spec (generation), key, address and grants
    // (its version moves with the controller's status saves).
    let after = lab.cli.json(&format!("vpn client get {client_id}"));
    for field in ["generation", "public_key", "grants", "address"] {
        assert_eq!(after[field], before[field], "{field}");
    }

    // The name moves to the new address (the tunnel's resolver says so).
    eventually("node 1's name resolves to its new address", || {
        resolve_a(&laptop_ns, RESOLVER, &name) == Some(vec![new_ip.parse().unwrap()])
    });

    // The gateway refuses the old address at once (no grant names it any more: a reset),
    // and no node holds it: the old address gets nothing.
    eventually("the gateway refuses the old address", || {
        connect_outcome(&lab, &old_ip, TLS_PORT) == Some(false)
    });

    // The config the laptop downloaded routes only the addresses the grants had then
    // (AllowedIPs is the exact cover of the granted nodes, not the network): the laptop
    // takes the new route with the same key by downloading its config again. The client
    // itself stays as it was.
    let fresh = lab.cli.ok(&format!(
        "vpn client config {client_id} --private-key-file {}",
        key_file.display()
    ));
    let allowed = fresh
        .lines()
        .find_map(|l| l.strip_prefix("AllowedIPs = "))
        .expect("AllowedIPs");
    let old: std::net::Ipv4Addr = old_ip.parse().unwrap();
    assert!(!allowed.split(", ").any(|a| covers(a, old)), "{allowed}");
    assert!(
        allowed
            .split(", ")
            .any(|a| covers(a, new_ip.parse().unwrap())),
        "{allowed}"
    );
    let path = lab.sandbox.home.path().join(format!("{LAPTOP_WG}.conf"));
    in_ns(
        &laptop_ns,
        &[
            "env",
            "WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go",
            "wg-quick",
            "down",
            path.to_str().unwrap(),
        ],
    );
    wg_quick_up(&lab, &laptop_ns, LAPTOP_WG, &without_dns(&fresh));
    let routed = in_ns(&laptop_ns, &["ip", "route", "get", &new_ip]);
    assert!(
        String::from_utf8_lossy(&routed.stdout).contains(LAPTOP_WG),
        "the new address goes into the tunnel"
    );

    // The grant reaches the node at its new address, by name, TLS verified (the new
    // node's certificate names it as before).
    eventually("the laptop reaches node 1 at its new address", || {
        connect_outcome(&lab, &new_ip, TLS_PORT) == Some(true)
    });
    tls_verified(&lab, LAPTOP, &ca, &new_ip, TLS_PORT, &name).expect("TLS to the new node 1");
    // The fresh config no longer routes the old address into the tunnel, and nothing
    // else leads there: it gets nothing.
    assert_ne!(
        connect_outcome(&lab, &old_ip, TLS_PORT),
        Some(true),
        "the old address answers"
    );
    let unchanged = lab.cli.json(&format!("vpn client get {client_id}"));
    assert_eq!(unchanged["generation"], before["generation"]);
    assert_eq!(unchanged["public_key"], before["public_key"]);

    // The analyzer agrees with the real connect: allowed, through the node's new address.
    let verdict = reach(&lab, &cluster_id);
    assert_eq!(verdict["allowed"], true, "{verdict:#}");
    let to_node_1 = verdict["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| {
            v["hops"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h["node"] == name.as_str())
        })
        .unwrap_or_else(|| panic!("no verdict for node 1: {verdict:#}"));
    assert_eq!(to_node_1["allowed"], true, "{to_node_1:#}");
    let destination = to_node_1["hops"].as_array().unwrap().last().unwrap();
    assert_eq!(destination["ip"], new_ip.as_str(), "{to_node_1:#}");
    assert!(
        !verdict.to_string().contains(&format!("\"{old_ip}\"")),
        "{verdict:#}"
    );

    println!("node 1: {old_ip} -> {new_ip}; AllowedIPs after: {allowed}");
    // The change is in the audit log.
    let events = lab.cli.ok("events -o json");
    assert!(
        events.contains("cluster.replace_node"),
        "no replace_node event"
    );
}
