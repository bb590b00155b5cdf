//! The replicator as a process, as the platform launches it and an operator runs it: `fill`
//! gives the source events, `run` prints a JSON status line per interval until the copy is
//! ready for cut-over, `cutover` moves a durable consumer with its proof, `verify` and
//! `translate` read both sides. Bad input is one line and a non-zero exit.

mod support;

use std::process::Stdio;

use serde_json::Value;
use support::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_isthmus-migrate");

async fn json(args: &[&str]) -> Vec<Value> {
    let out = Command::new(BIN).args(args).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{args:?}: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replicator_process_runs_reports_cuts_over_verifies_and_translates() {
    let source = NatsServer::start().await;
    let target = NatsServer::start().await;
    let (s, t) = (source.url(), target.url());
    let filled = json(&[
        "fill", "--server", &s, "--stream", "ORDERS", "--count", "3000",
    ])
    .await;
    assert_eq!(filled[0]["stored"], 3000);
    let js = source.js().await;
    js.get_stream("ORDERS")
        .await
        .unwrap()
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("billing".into()),
            ..Default::default()
        })
        .await
        .unwrap();

    let mut run = Command::new(BIN)
        .args([
            "run",
            "--source",
            &s,
            "--target",
            &t,
            "--status-every",
            "0.2",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(run.stdout.take().unwrap()).lines();
    let status = loop {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .expect("a status line");
        let status: Value = serde_json::from_str(&line).unwrap();
        if status["phase"] == "ready_for_cutover" {
            break status;
        }
    };
    assert_eq!(status["lag_events"], 0, "{status}");
    assert_eq!(status["streams"][0]["copied_through"], 3000, "{status}");

    let common = ["--source", &s, "--target", &t, "--stream", "ORDERS"];
    let cut = json(&[&["cutover"], &common[..]].concat()).await;
    assert_eq!(cut[0]["consumers"][0]["consumer"], "billing", "{cut:?}");
    assert_eq!(cut[0]["consumers"][0]["lag"], 0, "{cut:?}");
    assert_eq!(cut[1]["phase"], "completed", "{cut:?}");
    run.kill().await.unwrap();

    let verified = json(&[&["verify"], &common[..]].concat()).await;
    assert_eq!(verified[0]["equal"], true, "{verified:?}");
    let translated = json(&[&["translate", "--seq", "1234"], &common[..]].concat()).await;
    assert_eq!(
        (
            translated[0]["target_seq"].clone(),
            translated[0]["exact"].clone()
        ),
        (1234.into(), true.into())
    );

    let bad = Command::new(BIN)
        .args([
            "run",
            "--source",
            &s,
            "--target",
            &t,
            "--exclude-header",
            "no-equals-sign",
        ])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    let message = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains("--exclude-header") && message.contains("NAME=VALUE"),
        "{message}"
    );
}
