//! Ordered mode: one writer per stream keeps the source's global order. Each publish expects
//! the target sequence just before its own (`Nats-Expected-Last-Sequence`), so with many in
//! flight the order can never break, and a second replicator (or a stale publish from an
//! earlier run) cannot interleave: the target refuses whatever does not extend it exactly.

use anyhow::{anyhow, Context as _};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::Context;

use crate::engine::{StepError, StreamRun};
use crate::headers;
use crate::inflight::InFlight;

/// What the target must answer for one publish.
struct Expected {
    source_seq: u64,
    target_seq: u64,
    stored_at: std::time::SystemTime,
}

/// Copies from `run.resume` on, the target being at `target_last` (the last copied message).
pub async fn copy(run: &StreamRun, js: &Context, mut target_last: u64) -> Result<(), StepError> {
    let mut messages = run.source_messages().await?;
    let mut in_flight: InFlight<Expected> = InFlight::default();
    let mut previous = run.resume.saturating_sub(1);
    loop {
        tokio::select! {
            biased;
            (expected, ack) = in_flight.next() => {
                let Some(ack) = ack else {
                    run.passed(expected.source_seq);
                    continue;
                };
                let ack = ack.map_err(|e| StepError::retry(anyhow!(e).context(format!(
                    "publish source {} #{} to the target", run.stream, expected.source_seq
                ))))?;
                if ack.sequence != expected.target_seq || ack.duplicate {
                    return Err(StepError::retry(anyhow!(
                        "the target stored source #{} at {} where {} was expected",
                        expected.source_seq, ack.sequence, expected.target_seq
                    )));
                }
                run.copied(expected.source_seq, expected.source_seq, ack.sequence, expected.stored_at);
            }
            message = run.next_source(&mut messages, previous), if in_flight.len() < run.settings.window => {
                let message = message?;
                if message.seq <= previous {
                    continue; // a redelivery after the client recreated the consumer
                }
                run.gap(message.seq - previous - 1);
                previous = message.seq;
                if let Some(reason) = run.filters.skips(&message.subject, message.headers.as_ref()) {
                    run.filtered(message.seq, reason);
                    in_flight.push_skipped(Expected { source_seq: message.seq, target_seq: target_last, stored_at: message.stored_at });
                    continue;
                }
                let (seq, stored_at) = (message.seq, message.stored_at);
                let Some(message) = run.transformed(message)? else {
                    run.filtered(seq, crate::transform::SCRIPT_SKIPPED);
                    in_flight.push_skipped(Expected { source_seq: seq, target_seq: target_last, stored_at });
                    continue;
                };
                let mut publish = PublishMessage::build()
                    .headers(headers::stamp(message.headers.as_ref(), &run.stream, message.seq, None))
                    .payload(message.payload)
                    .expected_last_sequence(target_last);
                if target_last == 0 {
                    // The server checks no last sequence of 0; for the first message into an
                    // empty target, expect its subject to be empty instead.
                    publish = publish.expected_last_subject_sequence(0);
                }
                let ack = js
                    .send_publish(message.subject, publish)
                    .await
                    .context("send to the target")
                    .map_err(StepError::retry)?;
                target_last += 1;
                in_flight.push(Expected { source_seq: message.seq, target_seq: target_last, stored_at: message.stored_at }, ack);
            }
        }
    }
}
