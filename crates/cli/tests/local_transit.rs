//! Provider transit rules on the `local` data plane, Azure style: a spoke (or VPN-client
//! range) sits behind a hub lab VPC, and reaches a platform network only through the hub's
//! peering. The peering says which ranges are the hub's own (`routes`) and which are
//! behind its gateway (`transit_routes`); the latter are admitted only while
//! `allow_gateway_transit` is true. Without a transit range the peering is non-transitive.
//! Each check is a real connect from the spoke's namespace and the analyzer's answer.

mod local_support;
mod support;

use local_support::{node_ips, LocalLab};
use serde_json::Value;
use support::{id_of, WAIT_TIMEOUT};

/// The probe engine's port.
const SERVED: u16 = 8443;
const SPOKE: &str = "spoke/s1";
const HUB: &str = "hub/h1";

/// A hub with one host, a spoke behind it with one host, a network with a running
/// single-node cluster; returns (network id, node address).
fn hub_and_spoke(lab: &mut LocalLab, network_cidr: &str) -> (String, String) {
    lab.lab_vpc("hub", "10.80.0.0/16", &[("h1", "10.80.0.10")]);
    lab.lab_vpc_behind("spoke", "10.81.0.0/16", "hub", &[("s1", "10.81.0.10")]);
    let network = lab.project_and_network(network_cidr);
    let cluster = lab.cluster(&network, "single-node");
    let ip = node_ips(&cluster)[0].clone();
    (network, ip)
}

fn reach(lab: &LocalLab, from: &str, ip: &str) -> Value {
    let answer = lab
        .cli
        .json(&format!("reach --from {from} --to {ip}:{SERVED}"));
    answer["verdicts"][0].clone()
}

fn set_gateway_transit(lab: &LocalLab, peering: &str, on: bool) {
    lab.cli.ok(&format!(
        "peering update {peering} --allow-gateway-transit {on} --wait --timeout {WAIT_TIMEOUT}"
    ));
}

#[test]
fn gateway_transit_admits_the_spoke_only_while_the_flag_is_set() {
    let mut lab = LocalLab::start("isthh1");
    let (network, ip) = hub_and_spoke(&mut lab, "172.29.92.0/24");
    let peering = lab.transit_peering(&network, "hub", &["10.80.0.0/16"], &["10.81.0.0/16"], false);
    let id = id_of(&peering);
    assert_eq!(
        peering["transit_routes"],
        serde_json::json!(["10.81.0.0/16"])
    );
    assert_eq!(peering["allow_gateway_transit"], false);

    // Flag false: the hub's own hosts connect, the spoke behind its gateway does not.
    assert!(lab.connects_to(HUB, &ip, SERVED));
    assert_eq!(reach(&lab, HUB, &ip)["reason"], "allowed");
    assert!(!lab.connects_to(SPOKE, &ip, SERVED));
    let verdict = reach(&lab, SPOKE, &ip);
    assert_eq!(verdict["reason"], "gateway-transit-disabled", "{verdict:#}");
    assert_eq!(verdict["allowed"], false);

    // Flag true: the spoke connects, and the analyzer says so through the transit range.
    set_gateway_transit(&lab, &id, true);
    assert!(lab.connects_to(SPOKE, &ip, SERVED));
    let verdict = reach(&lab, SPOKE, &ip);
    assert_eq!(verdict["reason"], "allowed", "{verdict:#}");
    let hops = verdict["hops"].as_array().expect("hops");
    assert!(
        hops.iter()
            .any(|h| h["hop"] == "peering" && h["id"] == id.as_str()),
        "{verdict:#}"
    );
    assert!(
        hops.iter()
            .any(|h| h["hop"] == "transit_route_matched" && h["route"] == "10.81.0.0/16"),
        "{verdict:#}"
    );

    // And false again: the spoke is cut off, the hub is not.
    set_gateway_transit(&lab, &id, false);
    assert!(!lab.connects_to(SPOKE, &ip, SERVED));
    assert_eq!(
        reach(&lab, SPOKE, &ip)["reason"],
        "gateway-transit-disabled"
    );
    assert!(lab.connects_to(HUB, &ip, SERVED));
}

#[test]
fn without_a_transit_range_peering_is_not_transitive() {
    let mut lab = LocalLab::start("isthh2");
    let (network, ip) = hub_and_spoke(&mut lab, "172.29.91.0/24");
    // A VPC next to the others, behind nothing and peered nowhere.
    lab.lab_vpc("lone", "10.90.0.0/16", &[("l1", "10.90.0.10")]);
    // The flag alone admits nothing: no range is marked as behind the hub's gateway.
    let hub = lab.transit_peering(&network, "hub", &["10.80.0.0/16"], &[], true);
    assert!(lab.connects_to(HUB, &ip, SERVED));

    assert!(!lab.connects_to(SPOKE, &ip, SERVED));
    let verdict = reach(&lab, SPOKE, &ip);
    assert_eq!(verdict["reason"], "source-outside-routes", "{verdict:#}");
    assert!(!lab.connects_to("lone/l1", &ip, SERVED));
    assert_eq!(reach(&lab, "lone/l1", &ip)["reason"], "no-peering");

    // Peered itself, the spoke connects over its own, more specific path.
    let own = lab.peering(&network, "spoke", &["10.81.0.0/16"]);
    assert_eq!(own["status"], "active", "{own:#}");
    assert!(lab.connects_to(SPOKE, &ip, SERVED));
    let verdict = reach(&lab, SPOKE, &ip);
    assert_eq!(verdict["reason"], "allowed", "{verdict:#}");
    let hops = verdict["hops"].as_array().expect("hops");
    assert!(
        hops.iter()
            .any(|h| h["hop"] == "peering" && h["id"] == own["id"]),
        "the spoke's own peering decides, not the hub's {}: {verdict:#}",
        id_of(&hub)
    );
}
