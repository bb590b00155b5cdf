//! Live migration in partitioned mode on the `local` provider, through the real binary,
//! with faults: the server is killed and restarted during the copy (the replicator dies
//! with it and resumes from the target's last message), and the replicator process and the
//! target's nodes are SIGKILLed again and again (20 times; 100 with `ISTHMUS_LONG=1`) while a steady writer appends. The target ends equal to the
//! source (no duplicate, no gap, per-subject order), and a durable consumer filtered to
//! one subject continues on the target with exactly the events it had not processed.

mod lab_host;
mod local_support;
mod migration_support;
mod support;

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy};
use futures::StreamExt;
use isthmus_connect::pki::tls::client_config_trusting;
use isthmus_migrate::headers;
use local_support::{eventually, LocalLab};
use migration_support::*;
use serde_json::Value;
use support::{id_of, BIN, PATIENCE, WAIT_TIMEOUT};
use tokio_rustls::rustls::ClientConfig;

const SUBJECT: &str = "orders.s3";

/// The source sequences of `SUBJECT` in ORDERS, in order.
fn source_seqs_of_subject(ns: &str) -> Vec<u64> {
    on_source(ns, |js| async move {
        let consumer = js
            .get_stream("ORDERS")
            .await?
            .create_consumer(pull::Config {
                filter_subject: SUBJECT.into(),
                ack_policy: AckPolicy::None,
                ..Default::default()
            })
            .await?;
        let mut seqs = Vec::new();
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
                seqs.push(m.info().map_err(|e| anyhow::anyhow!(e))?.stream_sequence);
                got += 1;
            }
            if got == 0 {
                return Ok(seqs);
            }
        }
    })
    .unwrap()
}

#[test]
fn a_partitioned_copy_survives_a_server_restart_and_killed_replicators_exactly_once() {
    let events = events();
    let mut lab = LocalLab::start("isthg2");
    lab.lab_vpc("customer", "172.16.0.0/16", &[("src", SOURCE_IP)]);
    let network = lab.project_and_network("172.29.97.0/24");
    let cluster = lab.cli.json(&format!(
        "cluster create events --network {network} --engine nats \
         --topology three-node-multi-zone --wait --timeout {WAIT_TIMEOUT}"
    ));
    let cluster_id = id_of(&cluster);
    lab.peering(&network, "customer", &["172.16.0.0/16"]);
    let src_ns = lab.names.lab_host_ns("customer", "src");
    let _source = SourceServer::start(&src_ns);
    let server = format!("nats://{SOURCE_IP}:4222");
    eventually("the lab source accepts a fill", || {
        let run = lab.lab_exec(
            "customer/src",
            &[
                BIN,
                "migrate-engine",
                "fill",
                "--server",
                &server,
                "--stream",
                "ORDERS",
                "--count",
                &events.to_string(),
                "--subjects",
                "16",
            ],
        );
        run.code == Some(0)
    });
    // A consumer of one subject (the exact target position in partitioned mode) that has
    // processed its first 100 events.
    let processed = on_source(&src_ns, |js| async move {
        let consumer = js
            .get_stream("ORDERS")
            .await?
            .create_consumer(pull::Config {
                durable_name: Some("billing".into()),
                filter_subject: SUBJECT.into(),
                ack_policy: AckPolicy::Explicit,
                ..Default::default()
            })
            .await?;
        let mut batch = consumer.fetch().max_messages(100).messages().await?;
        let mut n = 0u64;
        while let Some(m) = batch.next().await {
            m.map_err(|e| anyhow::anyhow!(e))?
                .double_ack()
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            n += 1;
        }
        Ok(n)
    })
    .unwrap();
    assert_eq!(processed, 100);

    let writer = SteadyWriter::start(&src_ns, "ORDERS", 300);
    let migration = lab.cli.json(&format!(
        "migration create moving --cluster {cluster_id} --source {server} \
         --mode partitioned --partitions 8"
    ));
    let id = id_of(&migration);
    // The server dies mid-copy (its replicator with it) and comes back.
    lab.poll_copying(&id);
    lab.crash();
    lab.restart();
    // The replicator and the target's nodes are killed again and again; the controller
    // starts each again.
    let data = lab.sandbox.data.path().to_path_buf();
    chaos(&data);
    let written = writer.stop();
    let total = source_last_seq(&src_ns, "ORDERS");
    assert!(
        total > events,
        "the steady writer wrote {written} events during the copy"
    );
    // Ready once the replicator has seen the source's end and copied it.
    until_migration(
        &lab,
        &id,
        &format!("ready for the cut-over at the source's end (#{total})"),
        PATIENCE,
        |m| {
            m["status"] == "ready_for_cutover"
                && m["progress"]["streams"][0]["source_end_seq"] == total
                && m["progress"]["lag_events"] == 0
        },
    );

    let cut = lab
        .cli
        .json(&format!("migration cutover {id} --timeout 120"));
    assert_eq!(cut["status"], "cut_over", "{cut:#}");
    let proof = &cut["cutover"]["consumers"][0];
    assert_eq!(
        (proof["consumer"].as_str(), proof["lag"].as_i64()),
        (Some("billing"), Some(0)),
        "{cut:#}"
    );
    let verified = lab.cli.ok(&format!("migration verify {id}"));
    let report: Value = serde_json::from_str(verified.trim()).unwrap();
    assert_eq!(
        (
            &report["equal"],
            &report["duplicates"],
            &report["missing"],
            &report["out_of_order"]
        ),
        (
            &Value::Bool(true),
            &Value::from(0),
            &Value::from(0),
            &Value::from(0)
        ),
        "{report:#}"
    );
    let translated = lab.cli.ok(&format!(
        "migration translate {id} --stream ORDERS --seq 4321"
    ));
    let translation: Value = serde_json::from_str(translated.trim()).unwrap();
    assert_eq!(translation["exact"], true, "{translation:#}");

    // The consumer continues on the target with exactly the rest of its subject.
    let expected: Vec<u64> = source_seqs_of_subject(&src_ns).split_off(100);
    let ca_file = lab.sandbox.home.path().join("isthmus-ca.pem");
    lab.cli.ok(&format!("ca get -f {}", ca_file.display()));
    let tls = ClientConfig::clone(
        &client_config_trusting(&std::fs::read_to_string(&ca_file).unwrap()).unwrap(),
    );
    let node = format!("tls://{}:4222", cluster["nodes"][1]["ip"].as_str().unwrap());
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
                let headers = m.headers.as_ref().context("headers")?;
                received.push(headers::source_seq(headers).context("source seq")?);
                m.double_ack().await.map_err(|e| anyhow::anyhow!(e))?;
                got += 1;
            }
            if got == 0 {
                return Ok(received);
            }
        }
    })
    .unwrap();
    assert!(
        received == expected,
        "received {} events of {SUBJECT}, expected {} ({:?}.. vs {:?}..)",
        received.len(),
        expected.len(),
        received.first(),
        expected.first()
    );
    lab.cli.ok(&format!(
        "migration delete {id} --wait --timeout {WAIT_TIMEOUT}"
    ));
    lab.cli.ok(&format!(
        "cluster delete {cluster_id} --wait --timeout {WAIT_TIMEOUT}"
    ));
}

trait PollCopying {
    fn poll_copying(&self, id: &str);
}

impl PollCopying for LocalLab {
    /// Waits until the replicator has started copying (it reported a phase).
    fn poll_copying(&self, id: &str) {
        eventually("the replicator reports its first status", || {
            let m = self.cli.json(&format!("migration get {id}"));
            !m["progress"]["phase"]
                .as_str()
                .unwrap_or_default()
                .is_empty()
        });
    }
}
