//! Cut-over: once the source's end position is in the target, the source's durable consumers
//! are recreated on the target at their translated positions, each with its proof — the
//! source ack floor, the target start, and the same number of events left to process.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use async_nats::jetstream::consumer::{self, DeliverPolicy};
use futures::TryStreamExt;
use serde::Serialize;

use crate::engine::{Migration, Mode};
use crate::streams;
use crate::translate::first_copy_from;

#[derive(Debug, Clone, Serialize)]
pub struct ConsumerProof {
    pub stream: String,
    pub consumer: String,
    /// Every source message up to here was acknowledged by the consumer.
    pub source_ack_floor: u64,
    /// Where the consumer starts on the target.
    pub target_start: u64,
    /// The source sequence of the copy at `target_start`, if there is one yet.
    pub target_start_source_seq: Option<u64>,
    /// Events the consumer still had to process on the source (pending and unacknowledged).
    pub source_remaining: u64,
    /// Events it has to process on the target.
    pub target_remaining: u64,
    /// `source_remaining - target_remaining`: 0 is the proof.
    pub lag: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The source end position per stream that was waited for.
    pub end: BTreeMap<String, u64>,
    pub consumers: Vec<ConsumerProof>,
    /// Target streams whose duplicate window went back to the source's (a partitioned
    /// copy runs with a shorter one: `streams::COPY_DUPLICATE_WINDOW`).
    pub duplicate_windows: Vec<String>,
}

/// Waits until the `end` positions (default: each source stream's last sequence now, once
/// writers have stopped) are in the target, then moves the durable consumers.
pub async fn cutover(
    migration: &Migration,
    end: Option<BTreeMap<String, u64>>,
    timeout: Duration,
) -> anyhow::Result<Report> {
    if let Some(warning) = migration.status().warning {
        bail!("cut-over refused: {warning}");
    }
    let mut positions = BTreeMap::new();
    for stream in migration.streams() {
        let last = match end.as_ref().and_then(|e| e.get(stream)) {
            Some(given) => *given,
            None => crate::source::last_existing(migration.source(), stream).await?,
        };
        positions.insert(stream.clone(), last);
    }
    wait_copied(migration, &positions, timeout).await?;
    let mut duplicate_windows = Vec::new();
    for (stream, window) in migration.duplicate_windows() {
        duplicate_windows
            .push(streams::restore_duplicate_window(migration.target(), stream, *window).await?);
    }
    let mut consumers = Vec::new();
    for stream in migration.streams() {
        consumers.extend(move_consumers(migration, stream).await?);
    }
    migration.board().lock().expect("board").cut_over = true;
    Ok(Report {
        end: positions,
        consumers,
        duplicate_windows,
    })
}

async fn wait_copied(
    migration: &Migration,
    positions: &BTreeMap<String, u64>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let behind: Vec<String> = {
            let board = migration.board().lock().expect("board");
            positions
                .iter()
                .filter_map(|(stream, end)| {
                    let at = board.streams.get(stream).map_or(0, |s| s.copied_through);
                    (at < *end).then(|| format!("{stream} at #{at} of #{end}"))
                })
                .collect()
        };
        if behind.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "the target did not reach the source's end position in {timeout:?}: {}",
                behind.join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Listing tries before the cut-over gives up: a source cluster that just lost a node
/// answers a listing with a timeout until its groups have new leaders.
const LIST_ATTEMPTS: u32 = 5;

/// The source stream's consumers, asked again after a failed listing (as reads of the
/// source are: `source::read_range`).
async fn source_consumers(
    source_stream: &async_nats::jetstream::stream::Stream<()>,
    stream: &str,
) -> anyhow::Result<Vec<consumer::Info>> {
    let mut attempt = 1;
    loop {
        match source_stream.consumers().try_collect().await {
            Ok(infos) => return Ok(infos),
            Err(e) if attempt < LIST_ATTEMPTS => {
                tracing::warn!(%stream, attempt, error = %e, "listing the source's consumers failed; asking again");
                attempt += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("list the consumers of source stream {stream}"))
            }
        }
    }
}

async fn move_consumers(migration: &Migration, stream: &str) -> anyhow::Result<Vec<ConsumerProof>> {
    let source_stream = migration.source().get_stream_no_info(stream).await?;
    let target_stream = migration.target().get_stream_no_info(stream).await?;
    let infos = source_consumers(&source_stream, stream).await?;
    let mut proofs = Vec::new();
    for info in infos {
        let Some(name) = info.config.durable_name.clone() else {
            continue; // ephemeral consumers belong to running clients, which reconnect
        };
        let floor = info.ack_floor.stream_sequence;
        let subject = match migration.mode() {
            Mode::Ordered => ">".to_string(),
            Mode::Partitioned { .. } => {
                let filter = info.config.filter_subject.clone();
                if filter.is_empty() || filter.contains(['*', '>']) {
                    bail!("consumer {name} of {stream}: in partitioned mode only a consumer of one subject has an exact position in the target (filter {filter:?})");
                }
                migration.transform().subject(&filter)
            }
        };
        let found = first_copy_from(migration.target(), stream, floor + 1, &subject).await?;
        let target_last = migration
            .target()
            .get_stream(stream)
            .await?
            .info()
            .await?
            .state
            .last_sequence;
        let start = found.target_seq.unwrap_or(target_last + 1);
        if target_stream.consumer_info(&name).await.is_err() {
            let mut config = info.config.clone();
            if !config.filter_subject.is_empty() {
                config.filter_subject = migration.transform().subject(&config.filter_subject);
            }
            config.deliver_policy = DeliverPolicy::ByStartSequence {
                start_sequence: start,
            };
            target_stream
                .create_consumer(config)
                .await
                .map_err(|e| anyhow!(e))
                .with_context(|| format!("create consumer {name} on target stream {stream}"))?;
        }
        let moved = target_stream
            .consumer_info(&name)
            .await
            .map_err(|e| anyhow!(e))
            .with_context(|| format!("read consumer {name} on the target"))?;
        let source_now = source_stream
            .consumer_info(&name)
            .await
            .map_err(|e| anyhow!(e))?;
        let source_remaining = source_now.num_pending + source_now.num_ack_pending as u64;
        let target_remaining = moved.num_pending + moved.num_ack_pending as u64;
        proofs.push(ConsumerProof {
            stream: stream.to_string(),
            consumer: name,
            source_ack_floor: floor,
            target_start: start,
            target_start_source_seq: found.found_source_seq,
            source_remaining,
            target_remaining,
            lag: source_remaining as i64 - target_remaining as i64,
        });
    }
    Ok(proofs)
}
