//! `isthmus migration reach` agrees with real packets on the `local` provider: from the
//! replicator's namespace, each destination's TCP connect succeeds exactly when the
//! analyzer says `allowed` — before the peering exists (no-peering), after it (the source
//! allowed; another host or another port of the source `not-in-egress`; a lab VPC no
//! peering routes still `no-peering`), and after the migration is deleted (no replicator).

mod lab_host;
mod local_support;
mod migration_support;
mod support;

use isthmus_driver_local::netns;
use isthmus_driver_local::probe::EchoServer;
use local_support::{eventually, LocalLab, PORT};
use migration_support::{connects_from, OTHER_IP, SOURCE_IP};
use serde_json::Value;
use support::{id_of, WAIT_TIMEOUT};

const FAR_IP: &str = "172.18.0.10";

#[test]
fn migration_reach_agrees_with_packets_from_the_replicator() {
    let mut lab = LocalLab::start("isthj1");
    lab.lab_vpc(
        "customer",
        "172.16.0.0/16",
        &[("src", SOURCE_IP), ("other", OTHER_IP)],
    );
    lab.lab_vpc("island", "172.18.0.0/16", &[("far", FAR_IP)]);
    let network = lab.project_and_network("172.29.97.0/24");
    let cluster = lab.cli.json(&format!(
        "cluster create events --network {network} --engine nats --topology single-node \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    let cluster_id = id_of(&cluster);
    // Listeners at every destination asked about, so a refused connect is the network's.
    let listen = |vpc: &str, host: &str, ip: &str, port: u16| {
        EchoServer::start(
            &lab.names.lab_host_ns(vpc, host),
            format!("{ip}:{port}").parse().unwrap(),
        )
        .unwrap()
    };
    let _listeners = [
        listen("customer", "src", SOURCE_IP, 4222),
        listen("customer", "src", SOURCE_IP, PORT),
        listen("customer", "other", OTHER_IP, 4222),
        listen("island", "far", FAR_IP, 4222),
    ];
    let m = lab.cli.json(&format!(
        "migration create move --cluster {cluster_id} --source nats://{SOURCE_IP}:4222 \
         --source nats://{FAR_IP}:4222"
    ));
    let id = id_of(&m);
    let worker_ns = lab.names.migration_ns(&id);
    eventually("the replicator is placed", || {
        let m = lab.cli.json(&format!("migration get {id}"));
        m["status"] != "provisioning" && netns::exists(&worker_ns)
    });
    let destinations = [
        (SOURCE_IP, 4222),
        (SOURCE_IP, PORT),
        (OTHER_IP, 4222),
        (FAR_IP, 4222),
    ];
    let agree = |when: &str, expected: &[&str]| {
        for ((ip, port), reason) in destinations.iter().zip(expected) {
            let answer: Value = lab
                .cli
                .json(&format!("migration reach {id} --to {ip} --port {port}"));
            let verdict = &answer["checks"][0]["verdict"];
            let packets = connects_from(&worker_ns, format!("{ip}:{port}").parse().unwrap());
            eprintln!(
                "{when}: {ip}:{port} analyzer {} packets {packets}",
                verdict["reason"]
            );
            assert_eq!(
                verdict["reason"], *reason,
                "{when}, {ip}:{port}: {answer:#}"
            );
            assert_eq!(
                verdict["allowed"].as_bool(),
                Some(packets),
                "{when}, {ip}:{port}: the analyzer says {answer:#}, a connect says {packets}"
            );
        }
    };
    agree(
        "before the peering",
        &["no-peering", "not-in-egress", "not-in-egress", "no-peering"],
    );
    let peering = lab.peering(&network, "customer", &["172.16.0.0/16"]);
    assert_eq!(peering["status"], "active", "{peering:#}");
    agree(
        "with the peering",
        &["allowed", "not-in-egress", "not-in-egress", "no-peering"],
    );
    // Without `--to`: the source URLs, as the migration's egress has them.
    let sources = lab.cli.json(&format!("migration reach {id}"));
    assert_eq!(sources["allowed"], false, "{sources:#}");
    assert_eq!(
        sources["checks"].as_array().unwrap().len(),
        2,
        "{sources:#}"
    );
    let table = lab.cli.ok(&format!("migration reach {id}"));
    assert!(
        table.contains(&format!("{SOURCE_IP} port 4222: allowed"))
            && table.contains("no-peering")
            && table.contains("isthmus peering create to-island"),
        "{table}"
    );

    lab.cli.ok(&format!(
        "migration delete {id} --wait --timeout {WAIT_TIMEOUT}"
    ));
    let gone = lab
        .cli
        .json(&format!("migration reach {id} --to {SOURCE_IP}"));
    assert!(
        gone["checks"][0]["verdict"]["reason"] == "replicator-not-placed",
        "{gone:#}"
    );
    assert!(
        !netns::exists(&worker_ns),
        "the replicator's namespace is gone"
    );
}
