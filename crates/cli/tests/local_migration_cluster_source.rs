//! A three-node source, through the real binary: `isthmus lab service add customer/n1 nats
//! --peers n2,n3` runs a JetStream cluster over three hosts of a lab VPC (streams of three
//! replicas), standing in for a customer's production cluster. Two migrations copy it
//! into a managed three-node cluster over the peering — ORDERS ordered, EVENTS partitioned
//! — while a steady writer appends; one source node is SIGKILLed mid-copy (the stream
//! keeps its quorum, the replicators reconnect to the other nodes). After the writers stop,
//! both cut over with lag 0 and verify equal to the source: no duplicate, no gap.

mod lab_host;
mod local_support;
mod migration_support;
mod support;

use async_nats::jetstream;
use local_support::{eventually, LocalLab};
use migration_support::SteadyWriter;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use support::{id_of, WAIT_TIMEOUT};

const NODES: [(&str, &str); 3] = [
    ("n1", "172.16.0.11"),
    ("n2", "172.16.0.12"),
    ("n3", "172.16.0.13"),
];
const ORDERS: u64 = 20_000;
const EVENTS: u64 = 20_000;

/// SIGKILLs the lab nats-server whose store is in the namespace `ns`'s directory; returns
/// how many processes it killed.
fn kill_lab_node(ns: &str) -> usize {
    let marker = format!("isthmus-lab-{ns}-nats-");
    let mut killed = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args = String::from_utf8_lossy(&cmdline);
        if args.starts_with("nats-server")
            && args.contains(&marker)
            && kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok()
        {
            killed += 1;
        }
    }
    killed
}

/// The last sequence of `stream` and its replica count, asked of the first node. Right
/// after a node's loss the stream may be electing a new leader: asked again until it
/// answers.
fn source_state(ns: &str, url: &str, stream: &'static str) -> (u64, usize) {
    let mut answer = None;
    eventually(&format!("the source answers for {stream}"), || {
        let url = url.to_string();
        let state = lab_host::run(ns, move || async move {
            let client = async_nats::connect(url).await?;
            let mut stream = jetstream::new(client).get_stream(stream).await?;
            let info = stream.info().await?;
            Ok((info.state.last_sequence, info.config.num_replicas))
        });
        if let Err(e) = &state {
            eprintln!("not yet: {e:#}");
        }
        answer = state.ok();
        answer.is_some()
    });
    answer.unwrap()
}

fn progress_of(m: &Value) -> (u64, u64) {
    let stream = &m["progress"]["streams"][0];
    (
        stream["copied_through"].as_u64().unwrap_or(0),
        stream["source_end_seq"].as_u64().unwrap_or(0),
    )
}

// It failed in CI because a replicator's reading consumer could wait forever after the
// node's loss: nats-server 2.9 places an ephemeral consumer on a random peer of the stream,
// dead or not, and the client retried under the same name (same placement). The engine
// now reads again with a new consumer when nothing arrives while the source holds more
// (`StreamRun::next_source`; the non-root `migrate/tests/source_cluster.rs` shows it).
#[test]
fn a_three_node_lab_source_is_copied_in_both_modes_while_it_loses_a_node() {
    let mut lab = LocalLab::start("isthg5");
    lab.lab_vpc("customer", "172.16.0.0/16", &NODES);
    let network = lab.project_and_network("172.29.94.0/24");
    let cluster = lab.cli.json(&format!(
        "cluster create events --network {network} --engine nats \
         --topology three-node-multi-zone --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(cluster["status"], "running", "{cluster:#}");
    let cluster_id = id_of(&cluster);
    lab.peering(&network, "customer", &["172.16.0.0/16"]);

    // Bad input first: a cluster of an even size is refused, naming the field.
    let even = lab.cli.run("lab service add customer/n1 nats --peers n2");
    assert_ne!(even.code, Some(0));
    assert!(
        even.stderr.contains("peers") && even.stderr.contains("odd"),
        "{}",
        even.stderr
    );

    let service = lab
        .cli
        .json("lab service add customer/n1 nats --peers n2,n3");
    let urls: Vec<String> = service["urls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = NODES
        .iter()
        .map(|(_, ip)| format!("nats://{ip}:4222"))
        .collect();
    assert_eq!(urls, expected, "{service:#}");
    let listed = lab.cli.ok("lab service list");
    assert!(
        listed.contains("customer/n1") && listed.contains(&urls[2]),
        "{listed}"
    );
    // A peer already in a cluster cannot run a second service of the kind.
    let busy = lab.cli.run("lab service add customer/n3 nats");
    assert_ne!(busy.code, Some(0));
    assert!(busy.stderr.contains("already runs"), "{}", busy.stderr);

    // Filled through the API: the streams get a replica on each node (JetStream elects
    // its meta leader first, hence `eventually`).
    eventually("the lab cluster accepts a fill", || {
        let run = lab.cli.run(&format!(
            "lab service fill customer/n1 nats --stream ORDERS --count {ORDERS} --subjects 64"
        ));
        if run.code != Some(0) {
            eprintln!("not yet: {}", run.stderr);
        }
        run.code == Some(0)
    });
    lab.cli.ok(&format!(
        "lab service fill customer/n1 nats --stream EVENTS --count {EVENTS} --subjects 256"
    ));
    let n1_ns = lab.names.lab_host_ns("customer", "n1");
    let (orders_last, replicas) = source_state(&n1_ns, &urls[0], "ORDERS");
    assert_eq!((orders_last, replicas), (ORDERS, 3));

    let sources: String = urls.iter().map(|u| format!(" --source {u}")).collect();
    let writer = SteadyWriter::start_at(&n1_ns, &urls.join(","), "ORDERS", 200);
    let ordered = id_of(&lab.cli.json(&format!(
        "migration create orders --cluster {cluster_id}{sources} --stream ORDERS"
    )));
    let partitioned = id_of(&lab.cli.json(&format!(
        "migration create events --cluster {cluster_id}{sources} --stream EVENTS \
         --mode partitioned --partitions 8"
    )));
    let egress = lab.cli.json(&format!("migration get {ordered}"))["egress"].clone();
    assert_eq!(
        egress.as_array().map(Vec::len),
        Some(3),
        "one egress rule per source node: {egress:#}"
    );

    // Mid-copy, the second source node dies for good: two of three keep the quorum.
    eventually("both copies under way", || {
        [&ordered, &partitioned].iter().all(|id| {
            let (copied, _) = progress_of(&lab.cli.json(&format!("migration get {id}")));
            copied > 0
        })
    });
    let n2_ns = lab.names.lab_host_ns("customer", "n2");
    assert_eq!(
        kill_lab_node(&n2_ns),
        1,
        "the second source node was running"
    );
    eprintln!("killed source node n2");
    std::thread::sleep(std::time::Duration::from_secs(5));

    let written = writer.stop();
    assert!(written > 0, "the steady writer wrote during the copy");
    let (orders_end, _) = source_state(&n1_ns, &urls[0], "ORDERS");
    let (events_end, _) = source_state(&n1_ns, &urls[0], "EVENTS");
    assert!(orders_end > ORDERS, "the writer appended to ORDERS");
    for (id, end) in [(&ordered, orders_end), (&partitioned, events_end)] {
        eventually(&format!("migration {id} ready at the source's end"), || {
            let m = lab.cli.json(&format!("migration get {id}"));
            m["status"] == "ready_for_cutover"
                && m["progress"]["lag_events"] == 0
                && progress_of(&m) == (end, end)
        });
        let cut = lab
            .cli
            .json(&format!("migration cutover {id} --timeout 120"));
        assert_eq!(cut["status"], "cut_over", "{cut:#}");
        assert_eq!(
            cut["cutover"]["end"].as_object().unwrap().len(),
            1,
            "{cut:#}"
        );
        let completed = lab.cli.poll_status("migration", id, &["completed"]);
        assert_eq!(completed["progress"]["lag_events"], 0, "{completed:#}");
        let verified = lab.cli.ok(&format!("migration verify {id}"));
        let report: Value = serde_json::from_str(verified.trim()).unwrap();
        assert_eq!(report["equal"], true, "{report:#}");
        assert_eq!(report["duplicates"], 0, "{report:#}");
        assert_eq!(report["missing"], 0, "{report:#}");
        eprintln!("migration {id}: {end} events, equal, 0 duplicates, 0 missing");
    }

    for id in [&ordered, &partitioned] {
        lab.cli.ok(&format!(
            "migration delete {id} --wait --timeout {WAIT_TIMEOUT}"
        ));
    }
    lab.cli.ok("lab service delete customer/n1 nats");
    let n3_ns = lab.names.lab_host_ns("customer", "n3");
    assert_eq!(
        kill_lab_node(&n1_ns) + kill_lab_node(&n3_ns),
        0,
        "deleting the service stops every node"
    );
    lab.cli.ok(&format!(
        "cluster delete {cluster_id} --wait --timeout {WAIT_TIMEOUT}"
    ));
}
