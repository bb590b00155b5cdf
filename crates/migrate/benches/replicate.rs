//! End-to-end replication figures against real nats-server processes on loopback:
//! 256-byte events, ordered and partitioned events/s from the start of the migration to the
//! last event in the target, and the live-tail lag (source stored → copy seen on the target)
//! at a steady 1,000 events/s. `cargo bench -p isthmus-migrate`; `ISTHMUS_BENCH_EVENTS`
//! sets the history size (default 100,000).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use isthmus_migrate::filler::fill;
use isthmus_migrate::Mode;
use support::*;

const SIZE: usize = 256;

fn events() -> u64 {
    std::env::var("ISTHMUS_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

async fn throughput(mode: Mode, subject_count: usize) -> f64 {
    let source = NatsServer::start().await;
    let target = NatsServer::start().await;
    let js = source.js().await;
    create_stream(&js, "EVENTS").await;
    let count = events();
    fill(&js, &subjects("EVENTS", subject_count), count, SIZE)
        .await
        .unwrap();
    let began = Instant::now();
    let migration = start(spec(&source, &target, mode)).await;
    wait_caught_up(&migration, &js, &["EVENTS"]).await;
    count as f64 / began.elapsed().as_secs_f64()
}

async fn live_lag() -> (usize, Duration, Duration, Duration) {
    let source = NatsServer::start().await;
    let target = NatsServer::start().await;
    let js = source.js().await;
    create_stream(&js, "LIVE").await;
    let migration = start(spec(&source, &target, Mode::Ordered)).await;
    let watcher = async_nats::connect(target.url()).await.unwrap();
    let mut copies = watcher.subscribe("live.>").await.unwrap();
    watcher.flush().await.unwrap();
    let writer = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(1));
        for _ in 0..10_000u32 {
            ticker.tick().await;
            let sent = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let mut payload = sent.to_string().into_bytes();
            payload.resize(SIZE, b' ');
            js.publish("live.tick", payload.into()).await.unwrap();
        }
    });
    let mut lags = Vec::new();
    while lags.len() < 10_000 {
        let Ok(Some(copy)) = tokio::time::timeout(Duration::from_secs(30), copies.next()).await
        else {
            break;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let sent: u128 = std::str::from_utf8(&copy.payload)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        lags.push(Duration::from_nanos((now - sent) as u64));
    }
    writer.await.unwrap();
    drop(migration);
    lags.sort();
    let at = |q: f64| lags[((lags.len() as f64 * q) as usize).min(lags.len() - 1)];
    (lags.len(), at(0.5), at(0.99), *lags.last().unwrap())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benches; nothing to list here
    }
    let count = events();
    // The Event Store Replicator's published figures (its docs; it cannot run here): one
    // append per event, 150–300 events/s ordered, a little over 1,000/s with six
    // partitioned writers. Rows follow scripts/bench.d/README.md.
    let row = |measure: String, ours: f64, peer: f64, goal: &str| {
        println!(
            "row\t{measure}\t{ours:.0}/s\t{peer:.0}/s (Replicator docs)\t{:.0}x\t{goal}",
            ours / peer
        );
    };
    for subject_count in [64, 1024] {
        let ordered = throughput(Mode::Ordered, subject_count).await;
        println!("ordered      {count} events of {SIZE} B over {subject_count} subjects: {ordered:>7.0} events/s end to end");
        row(
            format!("migration ordered, {subject_count} subjects"),
            ordered,
            300.0,
            ">= 20000/s",
        );
        let partitioned = throughput(Mode::Partitioned { partitions: 8 }, subject_count).await;
        // One publish per subject is in flight at a time (each expects its subject's last
        // target sequence), so the subjects bound the pipelining.
        println!("partitioned  {count} events of {SIZE} B over {subject_count} subjects, 8 writers: {partitioned:>7.0} events/s end to end");
        row(
            format!("migration partitioned x8, {subject_count} subjects"),
            partitioned,
            1000.0,
            ">= 50000/s",
        );
    }
    let (samples, p50, p99, max) = live_lag().await;
    println!(
        "live tail at 1,000 events/s, {samples} events: lag p50 {p50:?}, p99 {p99:?}, max {max:?}"
    );
    println!(
        "row\tmigration live-tail lag p99 at 1,000/s\t{:.1} ms\t5 s polling (Replicator)\t-\tsub-second",
        p99.as_secs_f64() * 1000.0
    );
}
