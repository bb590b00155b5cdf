//! `isthmus cluster move` on the simulated AWS cloud (issue 19): `--wait` follows the move
//! phase by phase and ends with the cluster in the new network under the same names; a
//! refusal or a cancel with nothing to cancel is one error line naming the cause.

mod support;

use support::{id_of, Sandbox, Server};

#[test]
fn a_cluster_moves_with_wait_showing_its_phases_and_keeps_its_names() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let cli = admin.in_project(&id_of(&admin.json("project create acme")));
    let old =
        cli.json("network create old --provider aws --region us-east-1 --cidr 10.40.0.0/16 --wait");
    let new =
        cli.json("network create new --provider aws --region us-east-1 --cidr 10.41.0.0/16 --wait");
    let cluster = cli.json(
        "cluster create orders --network old --engine nats --topology three-node-multi-zone --wait",
    );
    assert_eq!(cluster["network_id"], old["id"]);

    // The same network is refused in one line naming the field.
    let same = cli.fails("cluster move orders --network old");
    assert!(
        same.contains("network_id") && same.contains("already in network"),
        "{same}"
    );
    // Nothing to cancel yet.
    let nothing = cli.fails("cluster move orders --cancel");
    assert!(nothing.contains("not moving"), "{nothing}");

    let run = cli.run("cluster move orders --network new --drain 0 --wait -o json");
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    // Progress goes to stderr, one line per phase seen, ending with done.
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("done") && last.contains("moved to network"),
        "{}",
        run.stderr
    );
    let moved: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(moved["network_id"], new["id"]);
    assert_eq!(moved["status"], "running");
    assert_eq!(moved["dns_name"], cluster["dns_name"]);
    assert_eq!(moved["addresses"], cluster["addresses"]);
    for node in moved["nodes"].as_array().unwrap() {
        assert!(node["ip"].as_str().unwrap().starts_with("10.41."), "{node}");
    }
}
