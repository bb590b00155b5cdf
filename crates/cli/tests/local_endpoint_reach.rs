//! `isthmus reach` follows the private endpoint path, and each fix it suggests, run as
//! given, moves the real connection on until it succeeds: the lab VPC is not an allowed
//! principal → the operator adds it; no endpoint → the customer creates one; pending →
//! the operator accepts it; then allowed, and a real connect by name succeeds; rejected →
//! a new endpoint under a new name, accepted, succeeds again. Dialling a
//! node's own address from a VPC on the platform's CIDR is the overlap trap: denied, and
//! really refused.

mod local_support;
mod support;

use local_support::{eventually, node_ips, LocalLab};
use serde_json::Value;
use support::{id_of, WAIT_TIMEOUT};

const PORT: u16 = 8443;

/// `isthmus reach` from the lab host to `to`: the first verdict.
fn verdict(lab: &LocalLab, to: &str) -> Value {
    let answer = lab
        .cli
        .json(&format!("reach --from customer/app --to {to}:{PORT}"));
    answer["verdicts"][0].clone()
}

/// Whether the verdict is `endpoint-pending` with the connection's id in its fix: the
/// endpoint exists a moment before the service records its connection, and until then the
/// fix can only name `<connection>` (seen in CI), so a user asks again.
fn pending_with_its_id(lab: &LocalLab, to: &str) -> bool {
    let v = verdict(lab, to);
    v["reason"] == "endpoint-pending"
        && v["fix"]["commands"][0]
            .as_str()
            .is_some_and(|c| !c.contains("<connection>"))
}

/// Runs the fix's commands as given (they are isthmus commands).
fn follow(lab: &LocalLab, verdict: &Value, reason: &str) {
    assert_eq!(verdict["reason"], reason, "{verdict:#}");
    for command in verdict["fix"]["commands"].as_array().expect("commands") {
        let command = command.as_str().unwrap();
        let line = command
            .strip_prefix("isthmus ")
            .unwrap_or_else(|| panic!("an isthmus command: {command}"));
        lab.cli.ok(line);
    }
}

#[test]
fn each_endpoint_fix_followed_for_real_makes_the_connection_succeed() {
    let mut lab = LocalLab::start("isthe7");
    let network = lab.project_and_network("10.84.0.0/24");
    let cluster = lab.cluster(&network, "single-node");
    let cluster_id = id_of(&cluster);
    let name = cluster["dns_name"].as_str().unwrap().to_string();
    let node_ip = node_ips(&cluster)[0].clone();
    lab.lab_vpc("customer", "10.84.0.0/24", &[("app", "10.84.0.20")]);
    let service = lab.cli.json(&format!(
        "endpoint-service create db-pl --cluster {cluster_id} --principal partner \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    let sid = id_of(&service);

    let v = verdict(&lab, &cluster_id);
    assert!(!lab.connects_to("customer/app", &name, PORT));
    follow(&lab, &v, "principal-not-allowed");

    let v = verdict(&lab, &cluster_id);
    follow(&lab, &v, "no-endpoint");
    let ep = lab.cli.json("lab endpoint list")[0].clone();
    let ip = ep["ip"].as_str().unwrap().to_string();

    eventually("the connection is pending", || {
        pending_with_its_id(&lab, &cluster_id)
    });
    assert!(!lab.connects_to("customer/app", &ip, PORT), "pending");
    follow(&lab, &verdict(&lab, &cluster_id), "endpoint-pending");

    eventually("the analyzer allows it", || {
        verdict(&lab, &cluster_id)["allowed"] == true
    });
    let v = verdict(&lab, &cluster_id);
    assert!(
        v["hops"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["hop"] == "endpoint"),
        "{v:#}"
    );
    eventually("the lab host connects by name", || {
        lab.connects_to("customer/app", &name, PORT)
    });

    // The overlap trap: the node's own address is one of the VPC's.
    let v = verdict(&lab, &node_ip);
    assert_eq!(v["reason"], "overlap-trap", "{v:#}");
    assert!(!lab.connects_to("customer/app", &node_ip, PORT));
    let to = v["fix"]["actions"][0]["to"].as_str().unwrap();
    assert!(lab.connects_to("customer/app", to, PORT), "the fix's name");

    // Rejected: endpoint-refused. Its fix (delete it, create one under a new name: the
    // old name keeps the refused connection), then the accept, reaches again for real.
    let old = ep["endpoint_id"].as_str().unwrap().to_string();
    let connections = lab.cli.json(&format!("endpoint-service connections {sid}"));
    let cid = connections
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["endpoint_id"] == old.as_str())
        .map(|c| c["id"].as_str().unwrap().to_string())
        .expect("the connection");
    lab.cli.ok(&format!("endpoint-service reject {sid} {cid}"));
    eventually("the connection is refused", || {
        verdict(&lab, &cluster_id)["reason"] == "endpoint-refused"
    });
    assert!(!lab.connects_to("customer/app", &ip, PORT), "rejected");
    let v = verdict(&lab, &cluster_id);
    let reuse = format!(
        "lab endpoint create customer {} --service {}",
        ep["name"].as_str().unwrap(),
        service["service_name"].as_str().unwrap()
    );
    follow(&lab, &v, "endpoint-refused");
    let refused = lab.cli.fails(&reuse);
    assert!(refused.contains("new name"), "{refused}");
    eventually("the new endpoint is pending", || {
        pending_with_its_id(&lab, &cluster_id)
    });
    follow(&lab, &verdict(&lab, &cluster_id), "endpoint-pending");
    eventually("the analyzer allows it again", || {
        verdict(&lab, &cluster_id)["allowed"] == true
    });
    eventually("the lab host connects by name again", || {
        lab.connects_to("customer/app", &name, PORT)
    });

    lab.cli.ok(&format!(
        "endpoint-service delete {sid} --wait --timeout {WAIT_TIMEOUT}"
    ));
}
