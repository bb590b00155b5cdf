//! Three `isthmus serve` replicas on one PostgreSQL (a throwaway PostgreSQL 15 of the
//! test's own), their simulated clouds shared through that database as one real cloud
//! would be: twenty overlapping creates spread over the three are decided once; the
//! leader killed with SIGKILL in the middle of reconciling peerings is replaced within the
//! promised bound, everything converges, and each Isthmus peering has exactly one
//! provider-side peering connection (the new leader adopted what the dead one requested).

mod support;

use std::time::{Duration, Instant};

use isthmus_store::testing::TestPostgres;
use serde_json::Value;
use support::replicas::{
    assert_one_connection_each, provider_status, race_overlapping_creates, wait_for_one_leader,
    TAKEOVER_BOUND,
};
use support::{id_of, Cli, Sandbox, Server};

const PEERINGS: usize = 6;

#[test]
fn three_replicas_decide_overlaps_once_and_survive_a_killed_leader_without_double_provisioning() {
    let pg = TestPostgres::start().expect("start the test PostgreSQL");
    let url = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(pg.fresh_database())
        .expect("create the database");
    let sandbox = Sandbox::new();
    // Every simulated cloud call takes a while, so the leader dies mid-reconcile.
    let args = ["--database", url.as_str(), "--sim-latency-ms", "250"];
    let servers: Vec<Server> = (0..3)
        .map(|_| Server::start(sandbox.data.path(), &args))
        .collect();
    let admins: Vec<Cli> = servers.iter().map(|s| s.cli(sandbox.home.path())).collect();
    let first = wait_for_one_leader(&admins.iter().collect::<Vec<_>>());
    let epoch = admins[first].json("leader")["epoch"].as_i64().unwrap();

    let project = id_of(&admins[0].json("project create three"));
    let on: Vec<Cli> = admins.iter().map(|a| a.in_project(&project)).collect();

    // Twenty overlapping creates at once, spread over the three replicas: one wins.
    let network = race_overlapping_creates(
        &on.iter().collect::<Vec<_>>(),
        20,
        "10.70.0.0/16",
        "10.70.128.0/17",
    );
    on[0].poll_status("network", &network, &["active"]);

    // Peerings requested through every replica; the leader dies while reconciling them.
    let mut peerings = Vec::new();
    for n in 0..PEERINGS {
        let cli = &on[n % 3];
        cli.ok(&format!(
            "sim vpc create --cloud aws --account 111122223333 --network vpc-0c0ffe{n:02x} \
             --region us-east-1 --cidr 192.168.{n}.0/24"
        ));
        peerings.push(id_of(&cli.json(&format!(
            "peering create to-{n} --network {network} --peer-account 111122223333 \
             --peer-network vpc-0c0ffe{n:02x} --peer-region us-east-1 --route 192.168.{n}.0/24"
        ))));
    }
    let mut servers: Vec<Option<Server>> = servers.into_iter().map(Some).collect();
    let killed = Instant::now();
    servers[first].take().unwrap().kill();
    let alive: Vec<usize> = (0..3).filter(|&i| i != first).collect();
    let next = loop {
        let leading = alive
            .iter()
            .copied()
            .find(|&i| admins[i].json("leader")["leader"] == Value::Bool(true));
        if let Some(i) = leading {
            break i;
        }
        assert!(
            killed.elapsed() < TAKEOVER_BOUND,
            "no replica took over within {TAKEOVER_BOUND:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!(
        "takeover after SIGKILL of the leader: {:.1} s",
        killed.elapsed().as_secs_f64()
    );
    let status = admins[next].json("leader");
    assert!(status["epoch"].as_i64().unwrap() > epoch, "{status}");
    // Each provider the dead replica led is taken by a live one (each has every sim
    // driver), each under its own lease.
    let live_names: Vec<Value> = alive
        .iter()
        .map(|&i| admins[i].json("leader")["replica"].clone())
        .collect();
    for provider in ["aws", "gcp", "azure"] {
        loop {
            let line = provider_status(&admins[next].json("leader"), provider);
            if live_names.contains(&line["holder"]) {
                eprintln!(
                    "{provider} led by a live replica {:.1} s after SIGKILL (epoch {})",
                    killed.elapsed().as_secs_f64(),
                    line["epoch"]
                );
                break;
            }
            assert!(
                killed.elapsed() < TAKEOVER_BOUND,
                "{provider} not taken over within {TAKEOVER_BOUND:?}: {line}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    // Everything converges: each peering waits for the customer, who accepts it.
    let survivor = &on[alive[0]];
    for p in &peerings {
        survivor.poll_status("peering", p, &["pending_acceptance"]);
        survivor.ok(&format!("sim accept {p}"));
    }
    for p in &peerings {
        on[alive[1]].poll_status("peering", p, &["active"]);
    }

    // One provider-side connection per Isthmus peering, ever: nothing requested twice.
    assert_one_connection_each(&url, &peerings);
}
