//! `isthmus migration …` through the real binary, on the simulated AWS (no root): bad
//! requests are one-line errors naming the field and the rule; a migration there is
//! modelled without packets (placed, egress to the source only, nothing copied) and says
//! so; it goes down with its target cluster.

mod support;

use support::{id_of, Sandbox, Server, WAIT_TIMEOUT};

#[test]
fn bad_migrations_are_refused_and_a_simulated_one_says_it_copies_nothing() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let cli = admin.in_project(&id_of(&admin.json("project create moving")));
    let network = id_of(&cli.json(&format!(
        "network create prod --provider aws --region us-east-1 --cidr 10.40.0.0/24 \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let nats = id_of(&cli.json(&format!(
        "cluster create events --network {network} --engine nats --topology single-node \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let probe = id_of(&cli.json(&format!(
        "cluster create web --network {network} --engine probe --topology single-node \
         --wait --timeout {WAIT_TIMEOUT}"
    )));

    let not_nats = cli.fails(&format!(
        "migration create m --cluster {probe} --source nats://172.16.0.10:4222"
    ));
    assert!(
        not_nats.contains("target_cluster_id") && not_nats.contains("NATS"),
        "{not_nats}"
    );
    let by_name = cli.fails(&format!(
        "migration create m --cluster {nats} --source nats://source.example:4222"
    ));
    assert!(by_name.contains("source.urls[0]"), "{by_name}");
    let missing = cli
        .fails("migration create m --cluster dc7vivbhho000000002g --source nats://10.1.0.1:4222");
    assert!(missing.contains("target_cluster_id"), "{missing}");
    let partitions = cli.fails(&format!(
        "migration create m --cluster {nats} --source nats://10.1.0.1:4222 --mode partitioned --partitions 0"
    ));
    assert!(partitions.contains("mode.partitions"), "{partitions}");

    let m = cli.json(&format!(
        "migration create m --cluster {nats} --source nats://172.16.0.10:4222 \
         --source nats://172.16.0.11:4223"
    ));
    let id = id_of(&m);
    assert_eq!(m["worker_ip"], "10.40.0.254", "{m:#}");
    let egress: Vec<&str> = m["egress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cidr"].as_str().unwrap())
        .collect();
    assert_eq!(egress, ["172.16.0.10/32", "172.16.0.11/32"], "{m:#}");
    let copying = cli.poll_status("migration", &id, &["copying"]);
    let message = copying["status_message"].as_str().unwrap();
    assert!(
        message.contains("modelled without packets") && message.contains("172.16.0.10/32"),
        "{copying:#}"
    );
    let simulated = cli.fails(&format!("migration verify {id}"));
    assert!(
        simulated.contains("modelled without packets"),
        "{simulated}"
    );
    let listed = cli.ok("migration list");
    assert!(listed.contains(&id), "{listed}");

    // The migration goes down with its target cluster, when the delete says so.
    let refused = cli.fails(&format!("cluster delete {nats} --wait"));
    assert!(
        refused.contains("migrations") && refused.contains(&id),
        "{refused}"
    );
    cli.ok(&format!(
        "cluster delete {nats} --cascade --wait --timeout {WAIT_TIMEOUT}"
    ));
    let gone = cli.poll_status("migration", &id, &["deleted"]);
    assert_eq!(gone["status"], "deleted");
    let audit = cli.ok("events");
    assert!(audit.contains("migration.create"), "{audit}");
}
