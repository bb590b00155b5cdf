//! Differential test of the analyzer's endpoint path against real connects: lab VPCs in
//! every position toward one cluster (an available endpoint on the platform's very CIDR, a
//! pending one, a rejected one, an allowed VPC without an endpoint, a VPC that is not an
//! allowed principal, a peered VPC), and every destination a client may dial (the cluster
//! name, each node's name, each node's address). For every pair, `isthmus reach` must say
//! what a real TCP connect from the lab host does.

mod local_support;
mod support;

use local_support::{eventually, node_ips, LocalLab};
use support::{id_of, WAIT_TIMEOUT};

const PORT: u16 = 8443;

#[test]
fn the_analyzer_agrees_with_real_connects_through_endpoints_on_every_pair() {
    let mut lab = LocalLab::start("isthe8");
    let network = lab.project_and_network("10.85.0.0/24");
    let cluster = lab.cluster(&network, "three-node-multi-zone");
    let cluster_id = id_of(&cluster);
    let service = lab.cli.json(&format!(
        "endpoint-service create db-pl --cluster {cluster_id} --principal avail \
         --principal pend --principal rej --principal bare --wait --timeout {WAIT_TIMEOUT}"
    ));
    let (sid, svc) = (
        id_of(&service),
        service["service_name"].as_str().unwrap().to_string(),
    );
    let vpcs = [
        ("avail", "10.85.0.0/24", "10.85.0.30"),
        ("pend", "172.30.40.0/24", "172.30.40.10"),
        ("rej", "172.30.41.0/24", "172.30.41.10"),
        ("bare", "172.30.42.0/24", "172.30.42.10"),
        ("stranger", "172.30.43.0/24", "172.30.43.10"),
        ("peered", "172.30.44.0/24", "172.30.44.10"),
    ];
    for (vpc, cidr, ip) in vpcs {
        lab.lab_vpc(vpc, cidr, &[("app", ip)]);
    }
    for vpc in ["avail", "pend", "rej"] {
        lab.cli
            .ok(&format!("lab endpoint create {vpc} db --service {svc}"));
    }
    let decide = |vpc: &str, verb: &str| {
        let mut cid = String::new();
        eventually(&format!("{vpc}'s connection shows"), || {
            let list = lab.cli.json(&format!("endpoint-service connections {sid}"));
            let found = list
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["endpoint_id"] == format!("{vpc}/db"))
                .map(|c| c["id"].as_str().unwrap().to_string());
            cid = found.unwrap_or_default();
            !cid.is_empty()
        });
        lab.cli.ok(&format!("endpoint-service {verb} {sid} {cid}"));
    };
    decide("avail", "accept");
    decide("rej", "reject");
    let peering = lab.peering(&network, "peered", &["172.30.44.0/24"]);
    assert_eq!(peering["status"], "active", "{peering:#}");
    eventually("the decisions are carried out", || {
        let list = lab.cli.json(&format!("endpoint-service connections {sid}"));
        let status = |vpc: &str| {
            list.as_array()
                .unwrap()
                .iter()
                .find(|c| c["endpoint_id"] == format!("{vpc}/db"))
                .map(|c| c["status"].clone())
        };
        status("avail") == Some("available".into()) && status("rej") == Some("rejected".into())
    });

    let mut destinations = vec![cluster["dns_name"].as_str().unwrap().to_string()];
    for node in cluster["nodes"].as_array().unwrap() {
        destinations.push(node["dns_name"].as_str().unwrap().to_string());
    }
    destinations.extend(node_ips(&cluster));
    // Names take a moment to reach the VPC's resolver after the accept.
    eventually("avail resolves the cluster to its endpoint", || {
        lab.connects_to("avail/app", &destinations[0], PORT)
    });

    let (mut pairs, mut allowed, mut disagreements) = (0, 0, vec![]);
    for (vpc, _, _) in vpcs {
        let from = format!("{vpc}/app");
        for to in &destinations {
            let answer = lab
                .cli
                .json(&format!("reach --from {from} --to {to}:{PORT}"));
            let said = answer["allowed"] == true;
            let real = lab.connects_to(&from, to, PORT);
            pairs += 1;
            allowed += usize::from(real);
            if said != real {
                disagreements.push(format!(
                    "{from} → {to}: reach says {} ({}), the connect {}",
                    said,
                    answer["verdicts"][0]["reason"],
                    if real { "succeeds" } else { "fails" }
                ));
            }
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    eprintln!("endpoint differential: {pairs} pairs, {allowed} allowed, all agree");
    assert_eq!(pairs, 6 * 7);
    // From avail: the cluster name and the three node names (its nodes' own addresses are
    // the overlap trap); from peered: all seven.
    assert_eq!(allowed, 4 + 7);
}
