//! Replicas with different drivers on one PostgreSQL (a throwaway PostgreSQL 15 of the
//! test's own), on the simulated clouds shared through that database: each provider's
//! resources are reconciled only by a replica that has its driver (`--providers`), a
//! provider no live replica drives waits (its resources stay `provisioning`, not failed),
//! and when the replica driving a provider dies, that provider's resources wait until a
//! replica with its driver starts, which takes them over and finishes them without
//! provisioning anything twice.

mod support;

use std::time::{Duration, Instant};

use isthmus_store::testing::TestPostgres;
use serde_json::Value;
use support::replicas::{assert_one_connection_each, metrics, provider_status};
use support::{id_of, Cli, Sandbox, Server};

/// Polls `cli`'s `/v1/leader` until `provider`'s lease is held as `holder` says (`None`:
/// by no live replica); returns that provider's line and how long it took.
fn wait_for_provider(cli: &Cli, provider: &str, holder: Option<&str>) -> (Value, Duration) {
    let started = Instant::now();
    loop {
        let status = cli.json("leader");
        let line = provider_status(&status, provider);
        if line["holder"].as_str() == holder {
            return (line, started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{provider} never held by {holder:?}: {status:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The status of `kind` `id` through `cli`.
fn status_of(cli: &Cli, kind: &str, id: &str) -> String {
    cli.json(&format!("{kind} get {id}"))["status"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn each_provider_is_reconciled_by_a_replica_with_its_driver_and_waits_while_none_lives() {
    let pg = TestPostgres::start().expect("start the test PostgreSQL");
    let url = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(pg.fresh_database())
        .expect("create the database");
    let sandbox = Sandbox::new();
    let db = ["--database", url.as_str(), "--sim-latency-ms", "200"];
    let with = |providers: &'static str| [&db[..], &["--providers", providers]].concat();
    let a = Server::start(sandbox.data.path(), &with("aws"));
    let b = Server::start(sandbox.data.path(), &with("gcp"));
    let admin_a = a.cli(sandbox.home.path());
    let admin_b = b.cli(sandbox.home.path());
    let name_a = admin_a.json("leader")["replica"]
        .as_str()
        .unwrap()
        .to_string();
    let name_b = admin_b.json("leader")["replica"]
        .as_str()
        .unwrap()
        .to_string();

    // Each provider is led by the one replica with its driver; azure by none.
    let (aws, _) = wait_for_provider(&admin_b, "aws", Some(&name_a));
    let (gcp, _) = wait_for_provider(&admin_a, "gcp", Some(&name_b));
    assert_eq!(aws["driver"], false, "b has no aws driver: {aws}");
    assert_eq!(gcp["driver"], false, "a has no gcp driver: {gcp}");
    let here = admin_a.json("leader");
    assert_eq!(provider_status(&here, "aws")["leader"], true, "{here}");
    assert_eq!(provider_status(&here, "gcp")["leader"], false, "{here}");
    for (server, leads, follows) in [(&a, "aws", "gcp"), (&b, "gcp", "aws")] {
        let text = metrics(&server.url);
        for (provider, gauge) in [(leads, 1), (follows, 0)] {
            let line = format!("\nisthmus_provider_leader{{provider=\"{provider}\"}} {gauge}\n");
            assert!(text.contains(&line), "{line} in {text}");
        }
    }
    let table = admin_a.ok("leader");
    assert!(
        table.contains("aws") && table.contains("leads") && table.contains("gcp"),
        "{table}"
    );

    // Resources made through the replica without their driver are reconciled by the
    // other; azure, which no replica drives, waits.
    let project = id_of(&admin_a.json("project create providers"));
    let on_a = admin_a.in_project(&project);
    let on_b = admin_b.in_project(&project);
    let aws_net = id_of(
        &on_b.json("network create east --provider aws --region us-east-1 --cidr 10.10.0.0/16"),
    );
    let gcp_net = id_of(
        &on_a.json("network create west --provider gcp --region europe-west1 --cidr 10.20.0.0/16"),
    );
    let azure_net = id_of(
        &on_a.json("network create north --provider azure --region westeurope --cidr 10.30.0.0/16"),
    );
    on_a.poll_status("network", &aws_net, &["active"]);
    on_b.poll_status("network", &gcp_net, &["active"]);
    assert_eq!(
        status_of(&on_a, "network", &azure_net),
        "provisioning",
        "no replica drives azure: its network waits"
    );

    // Peerings of the aws network; then the only aws replica dies.
    let mut peerings = Vec::new();
    for n in 0..4 {
        let cli = if n % 2 == 0 { &on_a } else { &on_b };
        cli.ok(&format!(
            "sim vpc create --cloud aws --account 111122223333 --network vpc-0d0ffe{n:02x} \
             --region us-east-1 --cidr 192.168.{n}.0/24"
        ));
        peerings.push(id_of(&cli.json(&format!(
            "peering create to-{n} --network {aws_net} --peer-account 111122223333 \
             --peer-network vpc-0d0ffe{n:02x} --peer-region us-east-1 --route 192.168.{n}.0/24"
        ))));
    }
    let killed = Instant::now();
    a.kill();
    let late = id_of(
        &on_b.json("network create late --provider aws --region us-east-1 --cidr 10.11.0.0/16"),
    );
    // b has no aws driver: once a's lease expires nobody holds aws, gcp stays with b.
    wait_for_provider(&admin_b, "aws", None);
    eprintln!(
        "the dead replica's aws lease was seen expired {:.1} s after SIGKILL",
        killed.elapsed().as_secs_f64()
    );
    assert_eq!(
        provider_status(&admin_b.json("leader"), "gcp")["holder"].as_str(),
        Some(name_b.as_str())
    );
    // Meanwhile the aws resources wait as they are: pending, never failed. b's resync
    // (every second) looks at them and leaves them to a replica with the driver.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(status_of(&on_b, "network", &late), "provisioning");
    for p in &peerings {
        let status = status_of(&on_b, "peering", p);
        assert!(
            !["error", "failed"].contains(&status.as_str()),
            "a peering of a provider nobody drives is pending, not failed: {status}"
        );
    }
    // gcp goes on meanwhile.
    let gcp_late = id_of(
        &on_b.json("network create west2 --provider gcp --region europe-west1 --cidr 10.21.0.0/16"),
    );
    on_b.poll_status("network", &gcp_late, &["active"]);

    // A replica with the aws (and azure) driver starts: it takes aws over and finishes
    // what waited, azure included.
    let started = Instant::now();
    let c = Server::start(sandbox.data.path(), &with("aws,azure"));
    let admin_c = c.cli(sandbox.home.path());
    let name_c = admin_c.json("leader")["replica"]
        .as_str()
        .unwrap()
        .to_string();
    let (aws, _) = wait_for_provider(&admin_b, "aws", Some(&name_c));
    eprintln!(
        "aws taken over by the new replica {:.1} s after it was started",
        started.elapsed().as_secs_f64()
    );
    assert!(
        aws["epoch"].as_i64().unwrap() >= 2,
        "a new holder, a new epoch: {aws}"
    );
    on_b.poll_status("network", &late, &["active"]);
    on_b.poll_status("network", &azure_net, &["active"]);
    for p in &peerings {
        on_b.poll_status("peering", p, &["pending_acceptance"]);
        on_b.ok(&format!("sim accept {p}"));
    }
    for p in &peerings {
        on_b.poll_status("peering", p, &["active"]);
    }
    // One provider-side connection per Isthmus peering, ever.
    assert_one_connection_each(&url, &peerings);
}
