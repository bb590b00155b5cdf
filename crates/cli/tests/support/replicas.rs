//! What the tests of several replicas on one PostgreSQL share: who leads (the controller
//! lease and each provider's), the metrics page, the overlapping-create race, and the
//! provider-side connections the shared simulated clouds recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use isthmus_store::sim_log::SharedSimLog;
use serde_json::Value;

use super::Cli;

/// What the brief promises: a new leader within this after the old one dies.
pub const TAKEOVER_BOUND: Duration = Duration::from_secs(20);

/// `GET /metrics` of the server at `url` (unauthenticated, plain HTTP/1.1).
pub fn metrics(url: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the API");
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// Polls until exactly one replica holds the controller lease and all agree on its
/// holder and epoch; returns the index of that replica.
pub fn wait_for_one_leader(clis: &[&Cli]) -> usize {
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
            let l = &status[leaders[0]];
            assert_eq!(l["holder"], l["replica"], "the leader holds the lease");
            assert_eq!(l["store"], "postgres");
            return leaders[0];
        }
        assert!(
            Instant::now() < deadline,
            "no single agreed leader: {status:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `provider`'s line in a `/v1/leader` answer (`null` when the answer has none).
pub fn provider_status(status: &Value, provider: &str) -> Value {
    status["providers"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["provider"] == provider))
        .cloned()
        .unwrap_or(Value::Null)
}

/// `n` concurrent creates of networks that all overlap (half ask for `wide`, half for
/// `narrow` inside it), spread round-robin over `clis`: exactly one wins and every loser
/// is told it overlaps. Returns the winner's network id.
pub fn race_overlapping_creates(clis: &[&Cli], n: usize, wide: &str, narrow: &str) -> String {
    let racers: Vec<(bool, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let cli = clis[i % clis.len()];
                let cidr = if i % 2 == 0 { wide } else { narrow };
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
    network["id"].as_str().unwrap().to_string()
}

/// Per Isthmus peering, every provider-side connection ever requested for it in the
/// shared simulated clouds (AWS names each request anew).
pub fn requested_connections(url: &str) -> BTreeMap<String, BTreeSet<String>> {
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

/// Asserts that the clouds hold a provider-side connection for exactly `peerings`, one
/// each, ever: nothing was provisioned twice.
pub fn assert_one_connection_each(url: &str, peerings: &[String]) {
    let requested = requested_connections(url);
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
