//! Partitioned mode: source messages go by subject hash to N writers, each subject keeping its
//! order. Every publish expects the target sequence of its subject's last message
//! (`Nats-Expected-Last-Subject-Sequence`), and every publish also carries the low-water mark — the source sequence below which every partition has stored
//! everything — which is where a restart resumes. Messages between the low-water mark and
//! what faster partitions had already stored are recognised per subject and not copied again.
//!
//! No `Nats-Msg-Id`: the per-subject expectation already refuses a second copy (a stale
//! publish of an earlier run, or another replicator, expects a subject sequence that the
//! first copy moved on), and the server's duplicate window cost about a third of the rate.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use anyhow::anyhow;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::RawMessageErrorKind;
use async_nats::jetstream::Context;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::engine::{StepError, StreamRun};
use crate::headers;
use crate::inflight::InFlight;
use crate::source::SourceMessage;

/// Source sequences handed to writers and not yet stored: the low-water mark is the smallest.
struct Tracker {
    state: Mutex<(BTreeSet<u64>, u64)>,
}

impl Tracker {
    fn new(resume: u64) -> Self {
        Tracker {
            state: Mutex::new((BTreeSet::new(), resume)),
        }
    }

    fn dispatched(&self, seq: u64) {
        let mut state = self.state.lock().expect("tracker");
        state.0.insert(seq);
        state.1 = seq + 1;
    }

    /// A message not handed to any writer (filtered): nothing to wait for.
    fn skipped(&self, seq: u64) {
        self.state.lock().expect("tracker").1 = seq + 1;
    }

    fn stored(&self, seq: u64) {
        self.state.lock().expect("tracker").0.remove(&seq);
    }

    /// The first source sequence not known to be in the target.
    fn low_water(&self) -> u64 {
        let state = self.state.lock().expect("tracker");
        state.0.first().copied().unwrap_or(state.1)
    }
}

/// The last copy of one subject in the target.
#[derive(Debug, Clone, Copy, Default)]
struct SubjectMark {
    target_seq: u64,
    source_seq: u64,
}

struct Pending {
    subject: String,
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
    let tracker = Tracker::new(run.resume);
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..partitions)
        .map(|_| mpsc::channel::<SourceMessage>(run.settings.window))
        .unzip();
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
                run.passed(tracker.low_water() - 1);
                continue;
            }
            let seq = message.seq;
            let Some(message) = run.transformed(message)? else {
                run.filtered(seq, crate::transform::SCRIPT_SKIPPED);
                tracker.skipped(seq);
                run.passed(tracker.low_water() - 1);
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
    tracker: &Tracker,
    empty_target: bool,
) -> Result<(), StepError> {
    let target = js
        .get_stream_no_info(&run.stream)
        .await
        .map_err(|e| StepError::retry(anyhow!(e).context("open the target stream")))?;
    let mut marks: HashMap<String, SubjectMark> = HashMap::new();
    let mut busy: HashSet<String> = HashSet::new();
    let mut in_flight: InFlight<Pending> = InFlight::default();
    let settle = |pending: Pending,
                  ack: Result<async_nats::jetstream::publish::PublishAck, _>,
                  marks: &mut HashMap<String, SubjectMark>,
                  busy: &mut HashSet<String>|
     -> Result<(), StepError> {
        let ack = ack.map_err(|e: async_nats::jetstream::context::PublishError| {
            StepError::retry(anyhow!(e).context(format!(
                "publish source {} #{} to the target",
                run.stream, pending.source_seq
            )))
        })?;
        busy.remove(&pending.subject);
        marks.insert(
            pending.subject,
            SubjectMark {
                target_seq: ack.sequence,
                source_seq: pending.source_seq,
            },
        );
        tracker.stored(pending.source_seq);
        run.copied(
            pending.source_seq,
            tracker.low_water() - 1,
            ack.sequence,
            pending.stored_at,
        );
        Ok(())
    };
    let mut batch: Vec<SourceMessage> = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            biased;
            (pending, ack) = in_flight.next() => settle(pending, ack.expect("only publishes"), &mut marks, &mut busy)?,
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
                if !empty_target {
                    look_up_new_subjects(&target, &batch, &mut marks).await?;
                }
                for message in batch.drain(..) {
                    // One publish per subject at a time: the next one's expectation is the
                    // target sequence this one gets. And no more than the window in flight.
                    while busy.contains(&message.subject) || in_flight.len() >= run.settings.window {
                        let (pending, ack) = in_flight.next().await;
                        settle(pending, ack.expect("only publishes"), &mut marks, &mut busy)?;
                    }
                    // A subject of a target that was empty when this attempt began has no
                    // copy unless this attempt made it (then it is in `marks`); if anyone
                    // else wrote one since, the expectation (0) makes the target refuse.
                    let mark = marks.get(&message.subject).copied().unwrap_or_default();
                    if message.seq <= mark.source_seq {
                        tracker.stored(message.seq);
                        run.already_present(tracker.low_water() - 1);
                        continue;
                    }
                    let publish = PublishMessage::build()
                        .headers(headers::stamp(
                            message.headers.as_ref(),
                            &run.stream,
                            message.seq,
                            Some(tracker.low_water()),
                        ))
                        .payload(message.payload)
                        .expected_last_subject_sequence(mark.target_seq);
                    let ack = js
                        .send_publish(message.subject.clone(), publish)
                        .await
                        .map_err(|e| StepError::retry(anyhow!(e).context("send to the target")))?;
                    busy.insert(message.subject.clone());
                    in_flight.push(Pending { subject: message.subject, source_seq: message.seq, stored_at: message.stored_at }, ack);
                }
            }
        }
    }
}

/// Reads the last copy of every subject of `batch` not yet in `marks`, many at once.
async fn look_up_new_subjects(
    target: &async_nats::jetstream::stream::Stream<()>,
    batch: &[SourceMessage],
    marks: &mut HashMap<String, SubjectMark>,
) -> Result<(), StepError> {
    let new: HashSet<String> = batch
        .iter()
        .filter(|m| !marks.contains_key(&m.subject))
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
    for (subject, mark) in found {
        marks.insert(subject, mark?);
    }
    Ok(())
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
