//! A restart at any point converges: kill -9 the server while reconciles are in flight
//! (every simulated cloud call takes 500 ms), start a new one on the same data directory,
//! and everything settles where it would have without the crash.

mod support;

use support::{id_of, Cli, Sandbox, Server};

#[test]
fn resources_created_just_before_a_kill_dash_nine_settle_after_restart() {
    let sandbox = Sandbox::new();
    let slow = ["--sim-latency-ms", "500"];
    let first = Server::start(sandbox.data.path(), &slow);
    let admin = first.cli(sandbox.home.path());
    let cli = admin.in_project(&id_of(&admin.json("project create crashy")));

    cli.ok(
        "sim vpc create --cloud aws --account 111122223333 --network vpc-0c0ffee0 \
            --region us-east-1 --cidr 192.168.0.0/16",
    );
    let network = id_of(
        &cli.json("network create prod --provider aws --region us-east-1 --cidr 10.50.0.0/16"),
    );
    let cluster = id_of(&cli.json(&format!(
        "cluster create orders --network {network} --engine probe --topology single-node"
    )));
    let peering = id_of(&cli.json(&format!(
        "peering create to-customer --network {network} --peer-account 111122223333 \
         --peer-network vpc-0c0ffee0 --peer-region us-east-1 --route 192.168.0.0/16"
    )));
    first.kill();

    let second = Server::start(sandbox.data.path(), &slow);
    assert_eq!(
        second.admin_token, cli.token,
        "the restarted server keeps the installation's admin token"
    );
    let cli = Cli {
        url: second.url.clone(),
        ..cli
    };

    cli.poll_status("network", &network, &["active"]);
    let cluster = cli.poll_status("cluster", &cluster, &["running"]);
    assert_eq!(cluster["nodes"].as_array().map(Vec::len), Some(1));
    cli.poll_status("peering", &peering, &["pending_acceptance", "active"]);

    // Nothing was duplicated by the replay.
    let networks = cli.json("network list");
    assert_eq!(networks.as_array().map(Vec::len), Some(1), "{networks:#}");
    let peerings = cli.json("peering list");
    assert_eq!(peerings.as_array().map(Vec::len), Some(1), "{peerings:#}");
}
