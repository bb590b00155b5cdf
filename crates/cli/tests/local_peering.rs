//! The `local` provider end to end, as a person would drive it: `isthmus serve` as root,
//! lab VPCs standing in for customer VPCs, and TCP connections from lab hosts (through
//! `isthmus lab exec`) to listeners inside the cluster's node namespaces. A node is
//! reachable exactly while a peering that covers the source is active.

mod local_support;
mod support;

use local_support::{node_ips, LocalLab};
use support::{id_of, WAIT_TIMEOUT};

#[test]
fn a_three_node_cluster_is_reachable_from_the_peered_lab_host_only_while_the_peering_is_active() {
    let mut lab = LocalLab::start("isthl1");
    lab.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.0.10")]);
    lab.lab_vpc("stranger", "10.60.0.0/16", &[("box", "10.60.0.10")]);
    let network = lab.project_and_network("172.29.98.0/24");
    let cluster = lab.cluster(&network, "three-node-multi-zone");
    let cluster_id = id_of(&cluster);
    let ips = node_ips(&cluster);
    assert_eq!(ips.len(), 3);
    let _listeners: Vec<_> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| lab.listen_in_node(&cluster_id, i as u32, ip.parse().unwrap()))
        .collect();

    for ip in &ips {
        assert!(!lab.connects("customer/app", ip), "{ip} before the peering");
        assert!(!lab.connects("stranger/box", ip), "{ip} from the stranger");
    }

    let peering = lab.peering(&network, "customer", &["172.16.0.0/16"]);
    assert_eq!(peering["status"], "active", "{peering:#}");
    for ip in &ips {
        assert!(lab.connects("customer/app", ip), "{ip} while peered");
        assert!(
            !lab.connects("stranger/box", ip),
            "{ip} from the unpeered stranger while the customer is peered"
        );
    }

    lab.cli.ok(&format!(
        "peering delete {} --wait --timeout {WAIT_TIMEOUT}",
        id_of(&peering)
    ));
    for ip in &ips {
        assert!(!lab.connects("customer/app", ip), "{ip} after the delete");
        assert!(!lab.connects("stranger/box", ip), "{ip} from the stranger");
    }

    // Taking everything down through the API leaves no namespace behind.
    drop(_listeners);
    lab.cli.ok(&format!(
        "cluster delete {cluster_id} --wait --timeout {WAIT_TIMEOUT}"
    ));
    lab.cli.ok(&format!(
        "network delete {network} --wait --timeout {WAIT_TIMEOUT}"
    ));
    lab.cli.ok("lab vpc delete customer");
    lab.cli.ok("lab vpc delete stranger");
    assert_eq!(lab.namespaces(), Vec::<String>::new());
}

#[test]
fn a_route_update_admits_the_new_range_in_place_and_keeps_open_connections() {
    let mut lab = LocalLab::start("isthl2");
    // One lab VPC spanning both ranges: a host in each.
    lab.lab_vpc(
        "customer",
        "172.30.0.0/15",
        &[("old", "172.30.0.10"), ("new", "172.31.128.10")],
    );
    let network = lab.project_and_network("172.29.98.0/24");
    let cluster = lab.cluster(&network, "single-node");
    let ip = node_ips(&cluster)[0].clone();
    let _listener = lab.listen_in_node(&id_of(&cluster), 0, ip.parse().unwrap());

    let peering = lab.peering(&network, "customer", &["172.30.0.0/16"]);
    assert_eq!(peering["status"], "active", "{peering:#}");
    assert!(lab.connects("customer/old", &ip));
    assert!(
        !lab.connects("customer/new", &ip),
        "172.31.128.0/17 is not in the peering's routes yet"
    );

    // A connection from the unchanged range, open across the update.
    let old_ns = lab.names.lab_host_ns("customer", "old");
    let addr = std::net::SocketAddr::new(ip.parse().unwrap(), local_support::PORT);
    let mut open =
        isthmus_driver_local::probe::connect(&old_ns, addr, std::time::Duration::from_secs(5))
            .expect("open a connection from 172.30.0.10");
    let link = lab.names.peering_link(&id_of(&peering));
    let link_index_before = link_index(&lab.names.router_ns(&network), &link);

    let id = id_of(&peering);
    lab.cli.ok(&format!(
        "peering update {id} --route 172.30.0.0/16 --route 172.31.128.0/17"
    ));
    local_support::eventually("the route update is applied", || {
        let p = lab.cli.json(&format!("peering get {id}"));
        p["status"] == "active" && p["observed_generation"] == p["generation"]
    });
    assert!(lab.connects("customer/new", &ip), "after the PATCH");
    assert!(lab.connects("customer/old", &ip));
    let echoed = isthmus_driver_local::probe::round_trip(&mut open, b"still here")
        .expect("the connection opened before the update still works");
    assert_eq!(echoed, b"still here");
    assert_eq!(
        link_index(&lab.names.router_ns(&network), &link),
        link_index_before,
        "the peering link was updated in place, not recreated"
    );
}

/// The interface index of `link` inside namespace `ns` (a recreated link gets a new one).
fn link_index(ns: &str, link: &str) -> String {
    let out = std::process::Command::new("ip")
        .args(["-n", ns, "-o", "link", "show", "dev", link])
        .output()
        .expect("run ip link show");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "no link {link} in {ns}: {text}");
    text.split(':').next().unwrap_or_default().to_string()
}

#[test]
fn a_peering_to_a_lab_vpc_that_overlaps_the_network_is_an_invalid_specification() {
    let mut lab = LocalLab::start("isthl3");
    lab.lab_vpc("clash", "172.29.0.0/16", &[("h", "172.29.200.10")]);
    let network = lab.project_and_network("172.29.98.0/24");
    let run = lab.cli.run(&format!(
        "peering create to-clash --network {network} --peer-account lab --peer-network clash \
         --peer-region host --route 10.1.0.0/16 --wait --timeout {WAIT_TIMEOUT} -o json"
    ));
    assert_ne!(run.code, Some(0), "--wait fails on invalid_specification");
    let peerings = lab.cli.json("peering list");
    let peering = &peerings.as_array().expect("list")[0];
    assert_eq!(peering["status"], "invalid_specification", "{peering:#}");
    assert!(
        peering["status_message"]
            .as_str()
            .unwrap_or_default()
            .contains("overlaps"),
        "{peering:#}"
    );
}

#[test]
fn the_lab_api_refuses_non_superusers_and_unknown_hosts() {
    let mut lab = LocalLab::start("isthl4");
    lab.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.0.10")]);
    let network = lab.project_and_network("172.29.98.0/24");
    let _ = network;
    let project = lab.cli.project.clone().expect("project");
    let secret = lab.cli.json("token create ops --role admin")["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let admin = lab.cli.with_token(&secret);
    let err = admin.fails("lab vpc create other --cidr 10.1.0.0/16");
    assert!(err.contains("superuser"), "{err}");
    let run = admin
        .in_project(&project)
        .run("lab exec customer/app -- true");
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("superuser"), "{}", run.stderr);
    let err = lab.cli.fails("lab exec customer/nobody -- true");
    assert!(err.contains("nobody"), "{err}");
    // What the command prints and its exit code come through.
    let run = lab.lab_exec(
        "customer/app",
        &["sh", "-c", "echo hello; echo oops >&2; exit 3"],
    );
    assert_eq!(run.code, Some(3));
    assert_eq!(run.stdout, "hello\n");
    assert_eq!(run.stderr, "oops\n");
}
