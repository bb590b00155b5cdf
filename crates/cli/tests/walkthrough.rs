//! The README walkthrough, end to end through the real binary and a real server, step by
//! step as the README writes it, by names (no id is copied from one command to the next):
//! project → network → peering to a customer VPC → the customer accepts → route change →
//! cluster → field selection → audit log.

mod support;

use support::{Sandbox, Server, WAIT_TIMEOUT};

#[test]
fn the_readme_walkthrough_runs_by_names() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());

    let project = admin.json("project create acme");
    assert_eq!(project["name"], "acme");
    // export ISTHMUS_PROJECT=acme
    let cli = admin.in_project("acme");

    let host_bits =
        cli.fails("network create prod --provider aws --region us-east-1 --cidr 172.29.98.7/24");
    assert!(
        host_bits.contains("did you mean 172.29.98.0/24?"),
        "{host_bits}"
    );
    let network = cli.json(&format!(
        "network create prod --provider aws --region us-east-1 --cidr 172.29.98.0/24 \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(network["status"], "active", "{network:#}");
    // Names are unique per kind in a project.
    let again =
        cli.fails("network create prod --provider aws --region us-east-1 --cidr 172.29.99.0/24");
    assert!(again.contains("already exists"), "{again}");

    cli.ok(
        "sim vpc create --cloud aws --account 123456789012 --network vpc-0c0ffee0 \
         --region us-east-1 --cidr 10.20.0.0/16",
    );
    let created = cli.run(&format!(
        "peering create to-app --network prod --peer-account 123456789012 \
         --peer-network vpc-0c0ffee0 --peer-region us-east-1 --route 10.20.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(
        created.code,
        Some(0),
        "{}{}",
        created.stdout,
        created.stderr
    );
    assert!(
        created.stdout.contains("pending_acceptance"),
        "{}",
        created.stdout
    );
    assert!(
        created
            .stderr
            .contains("aws ec2 accept-vpc-peering-connection"),
        "the customer's command is printed:\n{}",
        created.stderr
    );
    let actions = cli.ok("peering actions to-app");
    assert!(
        actions.contains("accept-vpc-peering-connection"),
        "{actions}"
    );

    cli.ok(&format!(
        "sim accept to-app --wait --timeout {WAIT_TIMEOUT}"
    ));
    let peering = cli.json("peering get to-app");
    assert_eq!(peering["status"], "active", "{peering:#}");

    let updated = cli.json(&format!(
        "peering update to-app --route 10.20.0.0/16 --route 10.30.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(
        updated["routes"],
        serde_json::json!(["10.20.0.0/16", "10.30.0.0/16"])
    );
    assert_eq!(updated["observed_generation"], updated["generation"]);
    assert_eq!(updated["status"], "active", "{updated:#}");

    let cluster = cli.json(&format!(
        "cluster create orders --network prod --engine probe \
         --topology three-node-multi-zone --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(cluster["status"], "running", "{cluster:#}");
    let view = cli.ok("cluster get orders");
    for key in [
        "status_message:",
        "nodes:",
        "addresses:",
        "dns_name:",
        "conditions",
    ] {
        assert!(view.contains(key), "cluster view lacks {key}:\n{view}");
    }
    let ips = cli.ok("cluster get orders -o jsonpath={.nodes[*].ip}");
    let ips: Vec<&str> = ips.split_whitespace().collect();
    assert_eq!(ips.len(), 3, "{ips:?}");
    assert!(ips.iter().all(|ip| ip.starts_with("172.29.98.")), "{ips:?}");

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
    let peerings = cli.ok("peering list");
    assert!(peerings.contains("  vpc-0c0ffee0  "), "{peerings}");

    let events = cli.ok("events");
    let header: Vec<&str> = events.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["SEQ", "TIME", "ACTOR", "ACTION", "RESOURCE"]);
    for action in ["network.create", "peering.create", "cluster.create"] {
        assert!(
            events.contains(action),
            "the audit log lacks {action}:\n{events}"
        );
    }
    let peering_events = cli.ok("events --kind peering --since 10m");
    assert!(
        peering_events.contains("peering.create"),
        "{peering_events}"
    );
    assert!(
        !peering_events.contains("network.create"),
        "{peering_events}"
    );
}
