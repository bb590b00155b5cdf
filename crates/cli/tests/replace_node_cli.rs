//! `isthmus cluster replace-node` through the real binary on the simulated AWS: the node
//! keeps its name and gets a new address, `--wait` answers the running cluster, a node
//! the cluster has not is a one-line error, an index that is not a number is refused
//! before any request. The data plane side is `local_vpn_replace.rs` (root).

mod support;

use support::{id_of, Sandbox, Server, WAIT_TIMEOUT};

#[test]
fn replace_node_moves_a_node_to_a_new_address_under_its_name() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let cli = admin.in_project(&id_of(&admin.json("project create nodes")));
    let network = id_of(&cli.json(&format!(
        "network create prod --provider aws --region us-east-1 --cidr 10.42.0.0/24 \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let cluster = cli.json(&format!(
        "cluster create orders --network {network} --engine probe \
         --topology three-node-multi-zone --wait --timeout {WAIT_TIMEOUT}"
    ));

    let replaced = cli.json(&format!(
        "cluster replace-node orders 2 --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(replaced["status"], "running", "{replaced:#}");
    assert_eq!(
        replaced["nodes"][2]["dns_name"],
        cluster["nodes"][2]["dns_name"]
    );
    assert_ne!(replaced["nodes"][2]["ip"], cluster["nodes"][2]["ip"]);
    assert_eq!(replaced["nodes"][0], cluster["nodes"][0]);

    let missing = cli.fails("cluster replace-node orders 5");
    assert!(missing.contains("node"), "{missing}");
    // A non-number is refused by the argument parser, before any request.
    let run = cli.run("cluster replace-node orders two");
    assert_ne!(run.code, Some(0));
    assert!(
        run.stderr.contains("INDEX") || run.stderr.contains("index"),
        "{}",
        run.stderr
    );

    let events = cli.ok("events -o json");
    assert!(events.contains("cluster.replace_node"), "not audited");
}
