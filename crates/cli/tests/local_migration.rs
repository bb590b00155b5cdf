//! Live migration on the `local` provider, through the real binary: a self-hosted NATS
//! JetStream server on a lab host in a customer's VPC (reached over a peering) is copied
//! into a managed three-node NATS cluster while a steady writer appends; the replicator
//! runs in the target network with egress to the source only; after the cut-over a
//! durable consumer that had processed k of N events continues on the target with exactly
//! events k+1..N, once, after the replicator and the target's nodes were killed 20 times
//! (100 with `ISTHMUS_LONG=1`) at random points (seeded, the seed printed). 10,000 events
//! by default, 100,000 with `ISTHMUS_LONG=1`, in eight streams; a filter's counter and
//! 1,000 random translated positions (10,000 long) are checked through the API.

mod lab_host;
mod local_support;
mod migration_support;
mod support;

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy};
use futures::StreamExt;
use isthmus_connect::pki::tls::client_config_trusting;
use isthmus_driver_local::netns;
use isthmus_driver_local::probe::EchoServer;
use isthmus_migrate::headers;
use local_support::{eventually, LocalLab, PORT};
use migration_support::*;
use serde_json::Value;
use support::{id_of, WAIT_TIMEOUT};
use tokio_rustls::rustls::ClientConfig;

const EXTRA_STREAMS: usize = 6;
const EXTRA_EVENTS: u64 = 500;

/// Random positions translated: 1,000, or 10,000 with `ISTHMUS_LONG=1`.
fn translate_count() -> usize {
    if std::env::var("ISTHMUS_LONG").is_ok_and(|v| v == "1") {
        10_000
    } else {
        1_000
    }
}

#[test]
fn a_lab_source_is_copied_into_a_three_node_cluster_and_a_consumer_continues_exactly_once() {
    let events = events();
    let mut lab = LocalLab::start("isthg1");
    lab.lab_vpc(
        "customer",
        "172.16.0.0/16",
        &[("src", SOURCE_IP), ("other", OTHER_IP)],
    );
    let network = lab.project_and_network("172.29.96.0/24");
    let cluster = lab.cli.json(&format!(
        "cluster create events --network {network} --engine nats \
         --topology three-node-multi-zone --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(cluster["status"], "running", "{cluster:#}");
    let cluster_id = id_of(&cluster);
    lab.peering(&network, "customer", &["172.16.0.0/16"]);
    let src_ns = lab.names.lab_host_ns("customer", "src");
    // The source: a self-hosted NATS JetStream server on the lab host, filled with the
    // migration engine's filler, through the lab API.
    let service = lab.cli.json("lab service add customer/src nats");
    let server = service["url"].as_str().unwrap().to_string();
    assert_eq!(server, format!("nats://{SOURCE_IP}:4222"));
    eventually("the lab source accepts a fill", || {
        let run = lab.cli.run(&format!(
            "lab service fill customer/src nats --stream ORDERS --count {events} --subjects 16"
        ));
        if run.code != Some(0) {
            eprintln!("not yet: {}", run.stderr);
        }
        run.code == Some(0)
    });
    let payments = lab
        .cli
        .ok("lab service fill customer/src nats --stream PAYMENTS --count 1000 --subjects 4");
    assert!(payments.contains("\"stored\":1000"), "{payments}");
    // Many streams: six more, small, over 8 subjects each (`sN.s0` … `sN.s7`).
    for n in 1..=EXTRA_STREAMS {
        let filled = lab.cli.ok(&format!(
            "lab service fill customer/src nats --stream S{n} --count {EXTRA_EVENTS} --subjects 8"
        ));
        assert!(
            filled.contains(&format!("\"stored\":{EXTRA_EVENTS}")),
            "{filled}"
        );
    }
    assert!(lab.cli.ok("lab service list").contains("customer/src"));

    // A durable consumer on the source that has processed the first PROCESSED events.
    let processed = on_source(&src_ns, |js| async move {
        let consumer = js
            .get_stream("ORDERS")
            .await?
            .create_consumer(pull::Config {
                durable_name: Some("billing".into()),
                ack_policy: AckPolicy::Explicit,
                ..Default::default()
            })
            .await?;
        let mut batch = consumer
            .fetch()
            .max_messages(PROCESSED as usize)
            .messages()
            .await?;
        let mut n = 0;
        while let Some(message) = batch.next().await {
            message
                .map_err(|e| anyhow::anyhow!(e))?
                .double_ack()
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            n += 1;
        }
        Ok(n)
    })
    .unwrap();
    assert_eq!(processed, PROCESSED);

    let writer = SteadyWriter::start(&src_ns, "ORDERS", 200);
    let migration = lab.cli.json(&format!(
        "migration create move --cluster {cluster_id} --source {server} \
         --exclude-subject s1.s0 --wait --timeout {WAIT_TIMEOUT}"
    ));
    let id = id_of(&migration);
    assert!(
        ["live", "ready_for_cutover"].contains(&migration["status"].as_str().unwrap()),
        "{migration:#}"
    );
    assert_eq!(
        migration["egress"][0]["cidr"], "172.16.0.10/32",
        "{migration:#}"
    );
    assert_eq!(migration["egress"][0]["ports"][0], 4222, "{migration:#}");

    // The replicator runs in the target network and reaches the source, and nothing else
    // outside the cluster: another lab host's listener is out of its reach.
    let worker_ns = lab.names.migration_ns(&id);
    let worker_ip = migration["worker_ip"].as_str().unwrap().to_string();
    let other_ns = lab.names.lab_host_ns("customer", "other");
    let _listener =
        EchoServer::start(&other_ns, format!("{OTHER_IP}:{PORT}").parse().unwrap()).unwrap();
    assert!(connects_from(
        &worker_ns,
        format!("{SOURCE_IP}:4222").parse().unwrap()
    ));
    assert!(!connects_from(
        &worker_ns,
        format!("{OTHER_IP}:{PORT}").parse().unwrap()
    ));
    assert!(!connects_from(
        &worker_ns,
        format!("{SOURCE_IP}:{PORT}").parse().unwrap()
    ));
    let audit = lab.cli.ok("events");
    assert!(audit.contains("migration.create"), "{audit}");

    // The replicator and the target's nodes are killed again and again while the writer
    // appends; the controller starts each again.
    chaos(lab.sandbox.data.path());

    // Writers stop; the cut-over waits for the source's end and moves the consumer.
    let written = writer.stop();
    assert!(written > 0, "the steady writer wrote during the copy");
    let total = source_last_seq(&src_ns, "ORDERS");
    assert!(
        total > events,
        "the steady writer wrote {written} events during the copy"
    );
    // Ready once the replicator (started again after the kills) has copied the source's end.
    eventually("ready for the cut-over at the source's end", || {
        let m = lab.cli.json(&format!("migration get {id}"));
        m["status"] == "ready_for_cutover"
            && m["progress"]["lag_events"] == 0
            && m["progress"]["streams"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["source_end_seq"] == total))
    });
    let cut = lab
        .cli
        .json(&format!("migration cutover {id} --timeout 120"));
    assert_eq!(cut["status"], "cut_over", "{cut:#}");
    assert_eq!(cut["cutover"]["end"]["ORDERS"], total, "{cut:#}");
    let proof = &cut["cutover"]["consumers"][0];
    assert_eq!(proof["consumer"], "billing", "{cut:#}");
    assert_eq!(proof["source_ack_floor"], PROCESSED, "{cut:#}");
    assert_eq!(proof["lag"], 0, "{cut:#}");
    let completed = lab.cli.poll_status("migration", &id, &["completed"]);
    assert_eq!(completed["progress"]["lag_events"], 0, "{completed:#}");

    // Target equal to source: counts, order, a digest per range.
    let verified = lab.cli.ok(&format!("migration verify {id}"));
    let reports: Vec<Value> = verified
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), 2 + EXTRA_STREAMS, "{verified}");
    for report in &reports {
        assert_eq!(report["equal"], true, "{report:#}");
        assert_eq!(report["duplicates"], 0, "{report:#}");
        assert_eq!(report["missing"], 0, "{report:#}");
    }
    // The filter's counter, through the API: every eighth event of S1 was on s1.s0.
    let filtered = &completed["progress"]["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stream"] == "S1")
        .unwrap()["filtered"];
    assert_eq!(
        filtered["subject_excluded"].as_u64(),
        Some(EXTRA_EVENTS.div_ceil(8)),
        "{completed:#}"
    );
    // Translate, through the API, on random positions (seeded): ordered, nothing filtered
    // or deleted in ORDERS, so each source position is the same target position.
    let mut rng = Rng::new(seed());
    let positions: Vec<u64> = (0..translate_count())
        .map(|_| 1 + rng.below(total))
        .collect();
    // 1,000 per request: a request must finish within the server's 60 s limit.
    let mut answers: Vec<Value> = Vec::new();
    for chunk in positions.chunks(1_000) {
        let flags: String = chunk.iter().map(|p| format!(" --seq {p}")).collect();
        let translated = lab
            .cli
            .ok(&format!("migration translate {id} --stream ORDERS{flags}"));
        answers.extend(
            translated
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    assert_eq!(answers.len(), positions.len());
    for (seq, answer) in positions.iter().zip(&answers) {
        assert_eq!(
            (answer["target_seq"].as_u64(), answer["exact"].as_bool()),
            (Some(*seq), Some(true)),
            "source #{seq}: {answer:#}"
        );
    }
    eprintln!("translate: {} random positions exact", positions.len());

    // The consumer continues on the target, from the lab host over the peering (TLS).
    let ca_file = lab.sandbox.home.path().join("isthmus-ca.pem");
    lab.cli.ok(&format!("ca get -f {}", ca_file.display()));
    let tls = ClientConfig::clone(
        &client_config_trusting(&std::fs::read_to_string(&ca_file).unwrap()).unwrap(),
    );
    let node = format!("tls://{}:4222", cluster["nodes"][0]["ip"].as_str().unwrap());
    let received: Vec<u64> = lab_host::run(&src_ns, move || async move {
        let client = async_nats::ConnectOptions::new()
            .require_tls(true)
            .tls_client_config(tls)
            .connect(node.as_str())
            .await
            .context("connect to the target")?;
        let consumer = jetstream::new(client)
            .get_stream("ORDERS")
            .await?
            .get_consumer::<pull::Config>("billing")
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        let mut received = Vec::new();
        loop {
            let mut batch = consumer
                .fetch()
                .max_messages(1_000)
                .expires(Duration::from_secs(1))
                .messages()
                .await?;
            let mut got = 0;
            while let Some(m) = batch.next().await {
                let m = m.map_err(|e| anyhow::anyhow!(e))?;
                received.push(
                    headers::source_seq(m.headers.as_ref().context("headers")?)
                        .context("source seq")?,
                );
                m.double_ack().await.map_err(|e| anyhow::anyhow!(e))?;
                got += 1;
            }
            if got == 0 {
                return Ok(received);
            }
        }
    })
    .unwrap();
    let expected: Vec<u64> = ((PROCESSED + 1)..=total).collect();
    assert!(
        received == expected,
        "received {} events {:?}..{:?}; expected {}..={total} once each",
        received.len(),
        received.first(),
        received.last(),
        PROCESSED + 1
    );

    // Deleting the migration stops the replicator and closes its egress.
    lab.cli.ok(&format!(
        "migration delete {id} --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert!(
        !netns::exists(&worker_ns),
        "{worker_ns} must go with the migration"
    );
    let _ = worker_ip;
    lab.cli.ok(&format!(
        "cluster delete {cluster_id} --wait --timeout {WAIT_TIMEOUT}"
    ));
}
