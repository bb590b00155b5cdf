//! The README walkthrough, end to end through the real binary and a real server:
//! project → network → peering to a customer VPC → the customer accepts → cluster → audit log.

mod support;

use support::{id_of, Sandbox, Server, WAIT_TIMEOUT};

#[test]
fn a_cluster_becomes_reachable_over_an_accepted_aws_peering() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());

    let project = admin.json("project create walkthrough");
    assert_eq!(project["name"], "walkthrough");
    let cli = admin.in_project(&id_of(&project));

    // The network is provisioned by the controller; --wait returns once it is active.
    let network = cli.json(&format!(
        "network create prod --provider aws --region us-east-1 --cidr 10.20.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(network["status"], "active", "{network:#}");
    let network_id = id_of(&network);

    // The customer's VPC in the simulated AWS, then a peering request to it.
    cli.ok(
        "sim vpc create --cloud aws --account 111122223333 --network vpc-0c0ffee0 \
            --region us-east-1 --cidr 192.168.0.0/16",
    );
    let created = cli.run(&format!(
        "peering create to-customer --network {network_id} --peer-account 111122223333 \
         --peer-network vpc-0c0ffee0 --peer-region us-east-1 --route 192.168.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(
        created.code,
        Some(0),
        "{}{}",
        created.stdout,
        created.stderr
    );
    // Waiting on the customer is where Isthmus stops: it says so and what they must run.
    assert!(
        created.stdout.contains("pending_acceptance"),
        "{}",
        created.stdout
    );
    assert!(
        created
            .stdout
            .contains("aws ec2 accept-vpc-peering-connection"),
        "the accept command is printed:\n{}",
        created.stdout
    );
    let peering_id = created
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("id:"))
        .map(|id| id.trim().to_string())
        .expect("the peering view starts with its id");

    let actions = cli.ok(&format!("peering actions {peering_id}"));
    assert!(
        actions.contains("accept-vpc-peering-connection"),
        "{actions}"
    );

    // The customer accepts on their side; the peering follows.
    cli.ok(&format!("sim accept {peering_id}"));
    let peering = cli.poll_status("peering", &peering_id, &["active"]);
    assert_eq!(peering["routes"], serde_json::json!(["192.168.0.0/16"]));

    // Routes stay editable; --wait returns once the controller has applied the change.
    let updated = cli.json(&format!(
        "peering update {peering_id} --route 192.168.0.0/17 --route 192.168.128.0/17 \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(
        updated["routes"],
        serde_json::json!(["192.168.0.0/17", "192.168.128.0/17"])
    );
    assert_eq!(updated["observed_generation"], updated["generation"]);
    assert_eq!(updated["status"], "active", "{updated:#}");

    let cluster = cli.json(&format!(
        "cluster create orders --network {network_id} --engine probe \
         --topology three-node-multi-zone --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(cluster["status"], "running", "{cluster:#}");
    let nodes = cluster["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3);
    for node in nodes {
        let ip = node["ip"].as_str().expect("node ip");
        assert!(
            ip.starts_with("10.20."),
            "node IP {ip} comes from the network CIDR"
        );
    }

    // The `get` view shows what a person needs to connect.
    let view = cli.ok(&format!("cluster get {}", id_of(&cluster)));
    for key in [
        "status_message:",
        "nodes:",
        "addresses:",
        "dns_name:",
        "conditions",
    ] {
        assert!(view.contains(key), "cluster view lacks {key}:\n{view}");
    }

    // Lists are aligned tables with the documented columns.
    let networks = cli.ok("network list");
    let header: Vec<&str> = networks
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["ID", "NAME", "PROVIDER", "REGION", "CIDR", "STATUS", "CREATED"]
    );
    assert!(
        networks.contains("10.20.0.0/16") && networks.contains("active"),
        "{networks}"
    );
    let peerings = cli.ok("peering list");
    // The list names the peer network (the account is in `peering get`: lists stay narrow).
    assert!(peerings.contains("  vpc-0c0ffee0  "), "{peerings}");

    // Every step is in the audit log.
    let events = cli.ok("events list");
    let header: Vec<&str> = events.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["SEQ", "TIME", "ACTOR", "ACTION", "RESOURCE"]);
    for action in ["network.create", "peering.create", "cluster.create"] {
        assert!(
            events.contains(action),
            "the audit log lacks {action}:\n{events}"
        );
    }
}
