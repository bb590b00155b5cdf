//! Three `isthmus serve` replicas on one PostgreSQL (a throwaway PostgreSQL 15 of the
//! test's own), their simulated clouds shared through that database as one real cloud
//! would be: twenty overlapping creates spread over the three are decided once; the
//! leader killed with SIGKILL in the middle of reconciling peerings is replaced within the
//! promised bound, everything converges, and each Isthmus peering has exactly one
//! provider-side peering connection (the new leader adopted what the dead one requested).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use isthmus_store::sim_log::SharedSimLog;
use isthmus_store::testing::TestPostgres;
use serde_json::Value;
use support::{id_of, Cli, Sandbox, Server};

/// What the brief promises: a new leader within this after the old one dies.
const TAKEOVER_BOUND: Duration = Duration::from_secs(20);
const PEERINGS: usize = 6;

/// Polls until exactly one replica leads and all agree on holder and epoch; returns it.
fn wait_for_one_leader(clis: &[&Cli]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status: Vec<Value> = clis.iter().map(|c| c.json("leader")).collect();
        let leaders: Vec<usize> = (0..status.len())
            .filter(|&i| status[i]["leader"] == Value::Bool(true))
            .collect();
        let agreed = status
            .iter()
            .all(|s| s["holder"] == status[0]["holder"] && s["epoch"] == status[0]["epoch"]);
        if leaders.len() == 1 && agreed {
            return leaders[0];
        }
        assert!(
            Instant::now() < deadline,
            "no single agreed leader: {status:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Per Isthmus peering, every provider-side connection ever requested for it in the
/// shared simulated clouds (AWS names each request anew).
fn requested_connections(url: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut requested: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let records = SharedSimLog::postgres(url)
        .unwrap()
        .records()
        .expect("read the shared simulated clouds");
    for (_, line) in records {
        let record: Value = serde_json::from_str(&line).unwrap();
        if record["op"] == "peering" {
            requested
                .entry(record["id"].as_str().unwrap().to_string())
                .or_default()
                .insert(record["provider_peering_id"].as_str().unwrap().to_string());
        }
    }
    requested
}

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
    let racers: Vec<(bool, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let cli = &on[i % 3];
                // Half ask for one range, half for a range inside it.
                let cidr = if i % 2 == 0 { "10.70.0.0/16" } else { "10.70.128.0/17" };
                s.spawn(move || {
                    let run = cli.run(&format!(
                        "network create wide{i} --provider aws --region us-east-1 --cidr {cidr} -o json"
                    ));
                    (run.code == Some(0), format!("{}{}", run.stdout, run.stderr))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<&String> = racers
        .iter()
        .filter(|(ok, _)| *ok)
        .map(|(_, o)| o)
        .collect();
    assert_eq!(
        won.len(),
        1,
        "exactly one overlapping create wins: {racers:#?}"
    );
    for (ok, out) in &racers {
        assert!(
            *ok || out.contains("overlaps"),
            "a loser is told it overlaps: {out}"
        );
    }
    let network: Value = serde_json::from_str(won[0]).expect("the winner's JSON");
    let network = network["id"].as_str().unwrap().to_string();
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
    let requested = requested_connections(&url);
    let ids: BTreeSet<String> = peerings.iter().cloned().collect();
    assert_eq!(
        requested.keys().cloned().collect::<BTreeSet<_>>(),
        ids,
        "the clouds hold exactly the Isthmus peerings"
    );
    for (peering, connections) in &requested {
        assert_eq!(
            connections.len(),
            1,
            "peering {peering} was requested more than once: {connections:?}"
        );
    }
}
