//! Lab verbs and `--wait` return when what they made is usable (issue 17, defect 4): a
//! new internet host or lab host resolves names at once, and after `cluster update
//! --public-access on --wait` the public name resolves at once, with no retry.
//! Root: the `local` provider's namespaces, under the kernel-name prefix `isthq`.

mod local_support;
mod support;

use local_support::{public_name, LocalLab};
use support::{id_of, WAIT_TIMEOUT};

#[test]
fn new_lab_hosts_and_a_waited_public_name_resolve_at_once() {
    let mut lab = LocalLab::start("isthq1");
    let network = lab.project_and_network("172.29.91.0/24");
    let cluster = lab.cluster(&network, "single-node");
    let id = id_of(&cluster);
    let private = cluster["dns_name"].as_str().unwrap().to_string();
    let node_ip = cluster["nodes"][0]["ip"].as_str().unwrap().to_string();

    // `lab internet host add` returns once the host's resolver answers.
    lab.internet_host("office", "203.0.113.30");
    assert_eq!(
        lab.resolve_on("internet/office", &private),
        Some(vec![node_ip.clone()]),
        "right after `lab internet host add`"
    );

    // So do `lab vpc create` and `lab host add`.
    lab.lab_vpc("customer", "10.91.0.0/16", &[("app", "10.91.0.10")]);
    assert_eq!(
        lab.resolve_on("customer/app", &private),
        Some(vec![node_ip.clone()]),
        "right after `lab vpc create` and `lab host add`"
    );

    // `--wait` covers the public name: it resolves the moment the update returns.
    let updated = lab.cli.json(&format!(
        "cluster update {id} --public-access on --add-public-allow 203.0.113.30 \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    let name = public_name(&updated);
    let ip = updated["public_endpoint"]["ip"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        lab.resolve_on("internet/office", &name),
        Some(vec![ip]),
        "right after `cluster update --public-access on --wait`"
    );
}
