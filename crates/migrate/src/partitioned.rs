//! Partitioned mode: source messages go by subject hash to N writers, each subject keeping its
//! order. Every publish expects the target sequence of its subject's last message
//! (`Nats-Expected-Last-Subject-Sequence`), and every publish also carries the low-water mark — the source sequence below which every partition has stored
//! everything — which is where a restart resumes. Messages between the low-water mark and
//! what faster partitions had already stored are recognised per subject and not copied again.
//!
//! No `Nats-Msg-Id`: the per-subject expectation already refuses a second copy (a stale
//! publish of an earlier run, or another replicator, expects a subject sequence that the
//! first copy moved on), and the server's duplicate window cost about a third of the rate.
//!
//! One publish per subject in flight, on purpose: the next one's expectation is the target
//! sequence this one gets, known only from its acknowledgement (or a lookup). Predicting it
//! (our own publishes share one connection, so the target numbers them in the order sent)
//! would allow many per subject, but a prediction is only as good as the assumption that
//! nothing else writes and nothing of ours is refused. When one of ours is refused, a
//! second replicator's copy of the same subject can land exactly where we predicted ours,
//! and our next publish, expecting that position, is then stored after the wrong message:
//! a gap, which the next resume would never fill (the subject's last copy is past it). The
//! global `Nats-Expected-Last-Sequence` does not close this either: two replicators'
//! partitioned orders differ, so unlike ordered mode a position does not decide the source
//! message. Only message ids would, and their duplicate window is the cost above. So with
//! S subjects at most S publishes are in flight, and over few subjects the copy is bound
//! by round trips rather than CPU (docs/migrations.md has the figures).

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use anyhow::anyhow;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::RawMessageErrorKind;
use async_nats::jetstream::Context;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::engine::{StepError, StreamRun};
use crate::headers;
use crate::inflight::InFlight;
use crate::lowwater::LowWater;
use crate::source::SourceMessage;

/// The last copy of one subject in the target.
#[derive(Debug, Clone, Copy, Default)]
struct SubjectMark {
    target_seq: u64,
    source_seq: u64,
}

/// What a writer knows of one subject: its last copy, and whether a publish of it is in
/// flight (then the next one must wait for its target sequence).
#[derive(Debug, Clone, Copy)]
struct Subject {
    mark: SubjectMark,
    busy: bool,
}

struct Pending {
    /// The subject's number in the writer's table.
    subject: usize,
    source_seq: u64,
    stored_at: std::time::SystemTime,
}

fn partition_of(subject: &str, partitions: usize) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    subject.hash(&mut hasher);
    (hasher.finish() % partitions as u64) as usize
}

/// Messages a writer takes from its queue at once.
const BATCH: usize = 256;
/// Lookups of subjects' last copies in flight at once.
const LOOKUPS_AT_ONCE: usize = 64;

/// Copies the stream with `partitions` writers. `target_last` is the target stream's last
/// sequence when this attempt began: 0 (empty) means no subject has a copy to look up.
pub async fn copy(
    run: &StreamRun,
    js: &Context,
    partitions: usize,
    target_last: u64,
) -> Result<(), StepError> {
    let tracker = LowWater::new(run.resume);
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..partitions)
        .map(|_| mpsc::channel::<SourceMessage>(run.settings.window))
        .unzip();
    // The writers share this task (one wake-up polls them all); tasks of their own cost
    // more replicator CPU in cross-thread wake-ups and were not faster here (2 cores).
    let writers = futures::future::try_join_all(
        receivers
            .into_iter()
            .map(|rx| write_partition(run, js, rx, &tracker, target_last == 0)),
    );
    let dispatch = async {
        let mut messages = run.source_messages().await?;
        let mut previous = run.resume.saturating_sub(1);
        loop {
            let message = run.next_source(&mut messages, previous).await?;
            if message.seq <= previous {
                continue;
            }
            run.gap(message.seq - previous - 1);
            previous = message.seq;
            if let Some(reason) = run
                .filters
                .skips(&message.subject, message.headers.as_ref())
            {
                run.filtered(message.seq, reason);
                tracker.skipped(message.seq);
                run.passed(tracker.mark() - 1);
                continue;
            }
            let seq = message.seq;
            let Some(message) = run.transformed(message)? else {
                run.filtered(seq, crate::transform::SCRIPT_SKIPPED);
                tracker.skipped(seq);
                run.passed(tracker.mark() - 1);
                continue;
            };
            // By the target subject: each target subject is written by one partition, so
            // its expectations hold even where renames merge source subjects.
            tracker.dispatched(message.seq);
            let partition = partition_of(&message.subject, partitions);
            if senders[partition].send(message).await.is_err() {
                break; // the writer stopped; its error is the one to report
            }
        }
        Err::<(), _>(StepError::retry(anyhow!("the source consumer ended")))
    };
    tokio::try_join!(dispatch, writers).map(|_| ())
}

async fn write_partition(
    run: &StreamRun,
    js: &Context,
    mut rx: mpsc::Receiver<SourceMessage>,
    tracker: &LowWater,
    empty_target: bool,
) -> Result<(), StepError> {
    let target = js
        .get_stream_no_info(&run.stream)
        .await
        .map_err(|e| StepError::retry(anyhow!(e).context("open the target stream")))?;
    // Every subject this writer has seen: its number (what a publish in flight remembers,
    // so no subject is copied or hashed again when it is acknowledged) and its state.
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut subjects: Vec<Subject> = Vec::new();
    let mut in_flight: InFlight<Pending> = InFlight::default();
    let settle = |pending: Pending,
                  ack: Result<async_nats::jetstream::publish::PublishAck, _>,
                  subjects: &mut Vec<Subject>|
     -> Result<(), StepError> {
        let ack = ack.map_err(|e: async_nats::jetstream::context::PublishError| {
            StepError::retry(anyhow!(e).context(format!(
                "publish source {} #{} to the target",
                run.stream, pending.source_seq
            )))
        })?;
        subjects[pending.subject] = Subject {
            mark: SubjectMark {
                target_seq: ack.sequence,
                source_seq: pending.source_seq,
            },
            busy: false,
        };
        let mark = tracker.stored(pending.source_seq);
        run.copied(
            pending.source_seq,
            mark - 1,
            ack.sequence,
            pending.stored_at,
        );
        Ok(())
    };
    let mut batch: Vec<SourceMessage> = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            biased;
            (pending, ack) = in_flight.next() => settle(pending, ack.expect("only publishes"), &mut subjects)?,
            next = rx.recv(), if in_flight.len() < run.settings.window => {
                let Some(first) = next else { return Ok(()) };
                // What else is already queued, so the subjects seen for the first time are
                // looked up together (one round trip for the batch, not one each).
                batch.push(first);
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(message) => batch.push(message),
                        Err(_) => break,
                    }
                }
                let found = if empty_target {
                    HashMap::new()
                } else {
                    look_up_new_subjects(&target, &batch, &ids).await?
                };
                for message in batch.drain(..) {
                    let id = match ids.get(&message.subject) {
                        Some(&id) => id,
                        None => {
                            // A subject of a target that was empty when this attempt began
                            // has no copy unless this attempt made it; if anyone else wrote
                            // one since, the expectation (0) makes the target refuse.
                            let mark = found.get(&message.subject).copied().unwrap_or_default();
                            ids.insert(message.subject.clone(), subjects.len());
                            subjects.push(Subject { mark, busy: false });
                            subjects.len() - 1
                        }
                    };
                    // One publish per subject at a time: the next one's expectation is the
                    // target sequence this one gets. And no more than the window in flight.
                    while subjects[id].busy || in_flight.len() >= run.settings.window {
                        let (pending, ack) = in_flight.next().await;
                        settle(pending, ack.expect("only publishes"), &mut subjects)?;
                    }
                    let mark = subjects[id].mark;
                    if message.seq <= mark.source_seq {
                        let low_water = tracker.stored(message.seq);
                        run.already_present(low_water - 1);
                        continue;
                    }
                    let publish = PublishMessage::build()
                        .headers(headers::stamp(
                            message.headers.as_ref(),
                            &run.stream,
                            message.seq,
                            Some(tracker.mark()),
                        ))
                        .payload(message.payload)
                        .expected_last_subject_sequence(mark.target_seq);
                    let ack = js
                        .send_publish(message.subject, publish)
                        .await
                        .map_err(|e| StepError::retry(anyhow!(e).context("send to the target")))?;
                    subjects[id].busy = true;
                    in_flight.push(Pending { subject: id, source_seq: message.seq, stored_at: message.stored_at }, ack);
                }
            }
        }
    }
}

/// Reads the last copy of every subject of `batch` not yet in `known`, many at once.
async fn look_up_new_subjects(
    target: &async_nats::jetstream::stream::Stream<()>,
    batch: &[SourceMessage],
    known: &HashMap<String, usize>,
) -> Result<HashMap<String, SubjectMark>, StepError> {
    let new: HashSet<String> = batch
        .iter()
        .filter(|m| !known.contains_key(&m.subject))
        .map(|m| m.subject.clone())
        .collect();
    // Made up front (not in a stream's closure), so the task stays `Send`.
    let lookups: Vec<_> = new
        .into_iter()
        .map(|subject| owned_last_copy(target, subject))
        .collect();
    let found: Vec<(String, Result<SubjectMark, StepError>)> = futures::stream::iter(lookups)
        .buffer_unordered(LOOKUPS_AT_ONCE)
        .collect()
        .await;
    found
        .into_iter()
        .map(|(subject, mark)| Ok((subject, mark?)))
        .collect()
}

async fn owned_last_copy(
    target: &async_nats::jetstream::stream::Stream<()>,
    subject: String,
) -> (String, Result<SubjectMark, StepError>) {
    let mark = last_copy(target, &subject).await;
    (subject, mark)
}

/// The last copy of `subject` in the target (none: nothing of it copied yet).
async fn last_copy(
    target: &async_nats::jetstream::stream::Stream<()>,
    subject: &str,
) -> Result<SubjectMark, StepError> {
    match target
        .raw_message_builder()
        .last_by_subject(subject)
        .send()
        .await
    {
        Ok(message) => Ok(SubjectMark {
            target_seq: message.sequence,
            source_seq: headers::source_seq(&message.headers).ok_or_else(|| {
                StepError::Fatal(format!(
                    "target message #{} on {subject} was not written by the migration",
                    message.sequence
                ))
            })?,
        }),
        Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => Ok(SubjectMark::default()),
        Err(e) => Err(StepError::retry(
            anyhow!(e).context(format!("read the last copy of {subject}")),
        )),
    }
}
