//! End-to-end replication figures against real nats-server processes on loopback:
//! 256-byte events, ordered and partitioned events/s from the start of the migration to the
//! last event in the target, and the live-tail lag (source stored → copy seen on the target)
//! at a steady 1,000 events/s. `cargo bench -p isthmus-migrate`; `ISTHMUS_BENCH_EVENTS`
//! sets the history size (default 100,000), `ISTHMUS_BENCH_ONLY` (`ordered`,
//! `partitioned`, `lag`) runs one part, and `ISTHMUS_BENCH_SUBJECTS` (comma-separated)
//! the subject counts (default 64,1024), and `ISTHMUS_BENCH_PARTITIONS` the partitioned
//! writers (default 8). `ISTHMUS_BENCH_ONLY=expectations` (not in the default run) prices
//! the target's check of each expectation on its own: one client publishing pipelined into
//! a fresh server, no replicator, no source.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use isthmus_migrate::filler::fill;
use isthmus_migrate::Mode;
use support::*;

const SIZE: usize = 256;

/// Whether the part `name` runs (all of them unless `ISTHMUS_BENCH_ONLY` names one).
fn runs(name: &str) -> bool {
    std::env::var("ISTHMUS_BENCH_ONLY").map_or(true, |only| only == name)
}

fn subject_counts() -> Vec<usize> {
    std::env::var("ISTHMUS_BENCH_SUBJECTS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![64, 1024])
}

fn partitions() -> usize {
    std::env::var("ISTHMUS_BENCH_PARTITIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
}

fn events() -> u64 {
    std::env::var("ISTHMUS_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// CPU seconds (user and system) process `pid` has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces): utime and stime are the 12th and
    // 13th, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// What a copy cost: events/s end to end, and CPU seconds of the replicator (this
/// process), the source server and the target server while it ran.
struct Figures {
    rate: f64,
    cpu: [f64; 3],
    /// Copies found already in the target and the last error: a copy that restarted.
    restarts: String,
}

impl Figures {
    /// CPU microseconds per event, all three processes together.
    fn cpu_per_event_us(&self, count: u64) -> f64 {
        self.cpu.iter().sum::<f64>() * 1e6 / count as f64
    }
}

async fn throughput(mode: Mode, subject_count: usize) -> Figures {
    let source = NatsServer::start().await;
    let target = NatsServer::start().await;
    let js = source.js().await;
    create_stream(&js, "EVENTS").await;
    let count = events();
    fill(&js, &subjects("EVENTS", subject_count), count, SIZE)
        .await
        .unwrap();
    let pids = [
        std::process::id(),
        source.pid().unwrap(),
        target.pid().unwrap(),
    ];
    let cpu_before = pids.map(cpu_seconds);
    let began = Instant::now();
    let migration = start(spec(&source, &target, mode)).await;
    let status = wait_caught_up(&migration, &js, &["EVENTS"]).await;
    let rate = count as f64 / began.elapsed().as_secs_f64();
    let cpu_after = pids.map(cpu_seconds);
    let stream = &status.streams[0];
    Figures {
        rate,
        cpu: [0, 1, 2].map(|i| cpu_after[i] - cpu_before[i]),
        restarts: match &stream.last_error {
            None if stream.already_present == 0 => "no restart".into(),
            error => format!(
                "restarted: {} found present, last error {error:?}",
                stream.already_present
            ),
        },
    }
}

/// What the target pays per publish for each kind of expectation, without the replicator:
/// one client pipelines `events()` publishes (1,024 in flight, like ordered mode) round
/// robin over the subjects into a fresh server, each with the expectation the target will
/// find true (the client is the only writer, so it knows every sequence in advance).
/// Returns (kind, events/s, target CPU µs per publish).
async fn expectation_cost(subject_count: usize) -> Vec<(&'static str, f64, f64)> {
    use async_nats::jetstream::message::PublishMessage;
    let mut out = Vec::new();
    for kind in [
        "none",
        "last-sequence",
        "last-subject-sequence",
        "msg-id",
        "runs-of-16",
    ] {
        let target = NatsServer::start().await;
        let js = target.js().await;
        create_stream(&js, "EVENTS").await;
        let names = subjects("EVENTS", subject_count);
        let mut last_of_subject = vec![0u64; subject_count];
        let mut in_flight = std::collections::VecDeque::new();
        let count = events();
        let pid = target.pid().unwrap();
        let cpu_before = cpu_seconds(pid);
        let began = Instant::now();
        for seq in 1..=count {
            // Partitioned mode's runs: 16 of a subject back to back, the first expecting
            // the subject's last, the others the id of the one before (every one has an id).
            let in_run = (seq - 1) % 16;
            let subject = if kind == "runs-of-16" {
                ((seq as usize - 1) / 16) % subject_count
            } else {
                (seq as usize) % subject_count
            };
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Isthmus-Source-Seq", seq.to_string().as_str());
            let mut publish = PublishMessage::build()
                .headers(headers)
                .payload(vec![b'x'; SIZE].into());
            publish = match kind {
                "last-sequence" => publish.expected_last_sequence(seq - 1),
                "last-subject-sequence" => {
                    publish.expected_last_subject_sequence(last_of_subject[subject])
                }
                "msg-id" => publish.message_id(format!("isthmus:{seq}")),
                "runs-of-16" if in_run == 0 => publish
                    .message_id(format!("isthmus:{seq}"))
                    .expected_last_subject_sequence(last_of_subject[subject]),
                "runs-of-16" => publish
                    .message_id(format!("isthmus:{seq}"))
                    .expected_last_message_id(format!("isthmus:{}", seq - 1)),
                _ => publish,
            };
            last_of_subject[subject] = seq;
            let ack = js
                .send_publish(names[subject].clone(), publish)
                .await
                .unwrap();
            in_flight.push_back(ack);
            if in_flight.len() >= 1024 {
                let ack = in_flight.pop_front().unwrap().await.unwrap();
                assert!(!ack.duplicate);
            }
        }
        for ack in in_flight {
            ack.await.unwrap();
        }
        let rate = count as f64 / began.elapsed().as_secs_f64();
        let cpu = (cpu_seconds(pid) - cpu_before) * 1e6 / count as f64;
        out.push((kind, rate, cpu));
    }
    out
}

/// The machine's 1-minute load average: the figures are only comparable at a similar load.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
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
    if std::env::var("ISTHMUS_BENCH_ONLY").as_deref() == Ok("expectations") {
        for subject_count in subject_counts() {
            for (kind, rate, cpu) in expectation_cost(subject_count).await {
                println!(
                    "expectation {kind:<22} {count} publishes of {SIZE} B over {subject_count} subjects: {rate:>7.0}/s; target CPU {cpu:.1} µs/publish; load {}",
                    load()
                );
            }
        }
        return;
    }
    // The Event Store Replicator's published figures (its docs; it cannot run here): one
    // append per event, 150–300 events/s ordered, a little over 1,000/s with six
    // partitioned writers. Rows follow scripts/bench.d/README.md.
    let row = |measure: String, ours: f64, peer: f64, goal: &str| {
        println!(
            "row\t{measure}\t{ours:.0}/s\t{peer:.0}/s (Replicator docs)\t{:.0}x\t{goal}",
            ours / peer
        );
    };
    for subject_count in subject_counts() {
        if runs("ordered") {
            let ordered = throughput(Mode::Ordered, subject_count).await;
            println!(
                "ordered      {count} events of {SIZE} B over {subject_count} subjects: {:>7.0} events/s end to end; CPU {:.1} µs/event (replicator {:.2} s, source {:.2} s, target {:.2} s); load {}; {}",
                ordered.rate, ordered.cpu_per_event_us(count), ordered.cpu[0], ordered.cpu[1], ordered.cpu[2], load(), ordered.restarts
            );
            row(
                format!("migration ordered, {subject_count} subjects"),
                ordered.rate,
                300.0,
                ">= 20000/s",
            );
        }
        if !runs("partitioned") {
            continue;
        }
        let partitions = partitions();
        let partitioned = throughput(Mode::Partitioned { partitions }, subject_count).await;
        println!(
            "partitioned  {count} events of {SIZE} B over {subject_count} subjects, {partitions} writers: {:>7.0} events/s end to end; CPU {:.1} µs/event (replicator {:.2} s, source {:.2} s, target {:.2} s); load {}; {}",
            partitioned.rate, partitioned.cpu_per_event_us(count), partitioned.cpu[0], partitioned.cpu[1], partitioned.cpu[2], load(), partitioned.restarts
        );
        row(
            format!("migration partitioned x{partitions}, {subject_count} subjects"),
            partitioned.rate,
            1000.0,
            ">= 50000/s",
        );
    }
    if !runs("lag") {
        return;
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
