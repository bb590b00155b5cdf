//! Lab endpoints and lab hosts never share an address, through the real binary: in a lab
//! VPC on the platform's very CIDR an endpoint may not take a node's address (that
//! address would be the endpoint namespace's own, and the DNAT to the node would end
//! there), and a host added after an endpoint takes none of the endpoint's addresses —
//! asked for, it is refused naming the endpoint; not asked for, it gets a free one, and
//! when none is left the VPC is full. The endpoint keeps working throughout.

mod local_support;
mod support;

use local_support::{eventually, node_ips, LocalLab};
use serde_json::Value;
use support::{id_of, WAIT_TIMEOUT};

const PORT: u16 = 8443;

/// The addresses of lab VPC `vpc`'s hosts.
fn host_ips(lab: &LocalLab, vpc: &str) -> Vec<String> {
    let list = lab.cli.json("lab vpc list");
    let found = list
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == vpc)
        .unwrap_or_else(|| panic!("no lab VPC {vpc}: {list:#}"));
    found["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["ip"].as_str().unwrap().to_string())
        .collect()
}

/// Lab endpoint `id`'s addresses: its own and its node addresses.
fn endpoint_ips(lab: &LocalLab, id: &str) -> Vec<String> {
    let list = lab.cli.json("lab endpoint list");
    let ep: &Value = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["endpoint_id"] == id)
        .unwrap_or_else(|| panic!("no lab endpoint {id}: {list:#}"));
    let mut ips = vec![ep["ip"].as_str().unwrap().to_string()];
    ips.extend(
        ep["node_ips"]
            .as_array()
            .unwrap()
            .iter()
            .map(|ip| ip.as_str().unwrap().to_string()),
    );
    ips
}

#[test]
fn endpoints_take_no_node_or_host_address_and_hosts_take_no_endpoint_address() {
    let mut lab = LocalLab::start("isthy2");
    let network = lab.project_and_network("10.87.0.0/24");
    let cluster = lab.cluster(&network, "single-node");
    let name = cluster["dns_name"].as_str().unwrap().to_string();
    let node = node_ips(&cluster)[0].clone();
    let service = lab.cli.json(&format!(
        "endpoint-service create db-pl --cluster {} --principal same --principal small \
         --no-acceptance --wait --timeout {WAIT_TIMEOUT}",
        id_of(&cluster)
    ));
    let svc = service["service_name"].as_str().unwrap().to_string();

    // The platform's own CIDR: the node's address is refused as the endpoint's, naming
    // the field and why; a free one is taken without it.
    lab.lab_vpc("same", "10.87.0.0/24", &[("app", "10.87.0.20")]);
    let refused = lab.cli.fails(&format!(
        "lab endpoint create same a --service {svc} --ip {node}"
    ));
    assert!(
        refused.contains("ip") && refused.contains("node's address"),
        "{refused}"
    );
    assert_eq!(refused.trim().lines().count(), 1, "one line: {refused}");
    let ep = lab
        .cli
        .json(&format!("lab endpoint create same a --service {svc}"));
    assert_ne!(ep["ip"], node.as_str(), "{ep:#}");
    eventually("the same-CIDR host connects through the endpoint", || {
        lab.connects_to("same/app", &name, PORT)
    });
    let held = endpoint_ips(&lab, "same/a");
    assert!(!held.contains(&node), "{held:?} holds the node's {node}");

    // A /29 holds five hosts' worth: .2 is a host, the endpoint takes .6 and, once
    // available, its node address .5.
    lab.lab_vpc("small", "172.31.20.0/29", &[("h1", "172.31.20.2")]);
    lab.cli
        .ok(&format!("lab endpoint create small c --service {svc}"));
    eventually("the endpoint in the small VPC is available", || {
        let list = lab.cli.json("lab endpoint list");
        list.as_array()
            .unwrap()
            .iter()
            .any(|e| e["endpoint_id"] == "small/c" && e["status"] == "available")
    });
    let held = endpoint_ips(&lab, "small/c");
    assert_eq!(held.len(), 2, "{held:?}");
    for ip in &held {
        let refused = lab
            .cli
            .fails(&format!("lab host add small taker --ip {ip}"));
        assert!(refused.contains("lab endpoint small/c"), "{refused}");
    }
    // Without an address: the free ones, never the endpoint's, until none is left.
    lab.cli.ok("lab host add small h2");
    lab.cli.ok("lab host add small h3");
    let full = lab.cli.fails("lab host add small h4");
    assert!(full.contains("no free address"), "{full}");
    let hosts = host_ips(&lab, "small");
    assert_eq!(hosts.len(), 3, "{hosts:?}");
    for ip in &hosts {
        assert!(!held.contains(ip), "host at {ip} collides with {held:?}");
    }
    for host in ["h1", "h2", "h3"] {
        assert!(
            lab.connects_to(&format!("small/{host}"), &name, PORT),
            "small/{host} through the endpoint"
        );
    }
}
