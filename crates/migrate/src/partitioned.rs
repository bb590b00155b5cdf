//! Partitioned mode: source messages go by subject hash to N writers, each subject keeping its
//! order, and every publish carries the low-water mark — the source sequence below which
//! every partition has stored everything — which is where a restart resumes. Messages
//! between the low-water mark and what faster partitions had already stored are recognised
//! per subject (its last copy in the target) and not copied again.
//!
//! A subject's messages go out in *runs*: whatever of the subject is queued, sent back to
//! back on the one target connection with no other publish of this stream between them
//! (`sending` is held for the whole run), many runs (of different subjects) in flight at
//! once, one run per subject. Every copy but a run's last carries a message id naming its
//! source message (`isthmus:<source seq>`); what each copy expects of the target:
//!
//! - the first of a run: `Nats-Expected-Last-Subject-Sequence`, the target position of the
//!   subject's last copy, taken from an acknowledgement or read from the target, so the
//!   message at that position is known to be the copy of the subject's previous source
//!   message;
//! - every other one: `Nats-Expected-Last-Msg-Id`, the id of the run's message before it.
//!
//! Why that is exactly once and in order per subject. Say the target holds, per subject,
//! copies of the subject's first n source messages in order (true of an empty target), and
//! a copy of message k of subject s is stored. If it was a run's first, the subject's last
//! message was at the expected position, which holds the copy of message k−1: so n = k−1.
//! Otherwise the stream's last stored message had the expected id (nats-server sets the
//! stream's last id on every store, to "" for a message without one, and puts it back when
//! a store fails), so it is a copy of message k−1 of s, hence the subject's last: n = k−1
//! again. Either way the property holds after the store, whoever stored what before: a
//! second replicator, or stale publishes of an earlier attempt, are refused or extend the
//! subject correctly. A refusal ends the attempt, which resumes from the target. The id is
//! an identity, not a position: expecting *predicted* positions (per subject, or global as
//! ordered mode does) is not safe here, because two partitioned replicators send in
//! different orders, and one's refused publish leaves a position the other can fill with
//! an older message of the same subject, after which the first's next publish lands behind
//! it and leaves a gap no resume fills. The ids also make the target drop (within its
//! duplicate window) a copy it already has, which narrows a race of nats-server 2.9 on a
//! clustered stream, where the leader checks a per-subject expectation before proposing the
//! message, not when it is applied (two replicators at once; one never races itself, as a
//! run's first message waits for the previous run's last acknowledgement).
//!
//! The cost: the target keeps every id for its duplicate window, so a run's last message,
//! which no one expects, carries none (over many subjects most runs are one message long),
//! and the target stream is copied with a one-second window (`streams::COPY_DUPLICATE_WINDOW`;
//! the cut-over puts the source's back); and a subject's next run waits for the last
//! acknowledgement of its current one (docs/migrations.md has the figures).

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::time::SystemTime;

use anyhow::anyhow;
use async_nats::header::HeaderValue;
use async_nats::header::{
    NATS_EXPECTED_LAST_MESSAGE_ID, NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, NATS_MESSAGE_ID,
};
use async_nats::jetstream::Context;
use tokio::sync::{mpsc, Mutex};

use crate::acks::{Ack, Acked};
use crate::engine::{StepError, StreamRun};
use crate::headers;
use crate::lastcopy::{look_up_new_subjects, SubjectMark};
use crate::lowwater::LowWater;
use crate::source::SourceMessage;

/// What a writer knows of one subject: its last copy, whether a run of it is in flight (the
/// next run's expectation is the target position of this one's last message), and what of
/// it waits to be sent.
struct Subject {
    mark: SubjectMark,
    busy: bool,
    queued: VecDeque<SourceMessage>,
}

struct Pending {
    /// The subject's number in the writer's table.
    subject: usize,
    source_seq: u64,
    stored_at: SystemTime,
    /// The last message of its run: once acknowledged, the subject's next run may go.
    ends_run: bool,
}

fn partition_of(subject: &str, partitions: usize) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    subject.hash(&mut hasher);
    (hasher.finish() % partitions as u64) as usize
}

/// Messages a writer takes from its queue at once.
const BATCH: usize = 256;

/// The id a copy of source message `seq` carries.
fn message_id(seq: u64) -> String {
    format!("isthmus:{seq}")
}

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
    // Held while a run is sent, so no other writer's publish comes between its messages.
    let sending = Mutex::new(());
    // The window is for the stream, shared by the writers.
    let window = (run.settings.window / partitions).max(1);
    // The writers share this task (one wake-up polls them all); tasks of their own cost
    // more replicator CPU in cross-thread wake-ups and were not faster here (2 cores).
    let writers = futures::future::try_join_all(receivers.into_iter().map(|rx| {
        let writer = Writer {
            run,
            js,
            tracker: &tracker,
            sending: &sending,
            window,
        };
        writer.write(rx, target_last == 0)
    }));
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

struct Writer<'a> {
    run: &'a StreamRun,
    js: &'a Context,
    tracker: &'a LowWater,
    sending: &'a Mutex<()>,
    /// This writer's publishes in flight at most.
    window: usize,
}

/// A writer's state: every subject it has seen (its number, what a publish in flight
/// remembers, so no subject is copied or hashed again when it is acknowledged).
struct Table {
    ids: HashMap<String, usize>,
    subjects: Vec<Subject>,
    /// Subjects with queued messages and no run in flight, in the order they became so.
    ready: VecDeque<usize>,
    queued: usize,
    in_flight: Acked<Pending>,
}

impl Writer<'_> {
    async fn write(
        self,
        mut rx: mpsc::Receiver<SourceMessage>,
        empty_target: bool,
    ) -> Result<(), StepError> {
        let target = self
            .js
            .get_stream_no_info(&self.run.stream)
            .await
            .map_err(|e| StepError::retry(anyhow!(e).context("open the target stream")))?;
        let mut table = Table {
            ids: HashMap::new(),
            subjects: Vec::new(),
            ready: VecDeque::new(),
            queued: 0,
            in_flight: Acked::new(self.js.client())
                .await
                .map_err(StepError::retry)?,
        };
        let mut batch: Vec<SourceMessage> = Vec::with_capacity(BATCH);
        loop {
            if !table.ready.is_empty() && table.in_flight.len() < self.window {
                let _sending = self.sending.lock().await;
                while table.in_flight.len() < self.window {
                    let Some(id) = table.ready.pop_front() else {
                        break;
                    };
                    self.send_run(&mut table, id).await?;
                }
            }
            tokio::select! {
                biased;
                (pending, ack) = table.in_flight.next() => {
                    self.settle(&mut table, pending, ack)?;
                }
                next = rx.recv(), if table.queued < self.run.settings.window => {
                    let Some(first) = next else { return Ok(()) };
                    // What else is already queued, so the subjects seen for the first time
                    // are looked up together (one round trip for the batch, not one each).
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
                        look_up_new_subjects(&target, &batch, &table.ids).await?
                    };
                    for message in batch.drain(..) {
                        table.queue(message, &found);
                    }
                }
            }
        }
    }

    /// Sends what of subject `id` is queued (up to the window) as one run.
    async fn send_run(&self, table: &mut Table, id: usize) -> Result<(), StepError> {
        let run = self.run;
        let subject = &mut table.subjects[id];
        // A resumed copy finds the subject's first messages already in the target.
        while let Some(first) = subject.queued.front() {
            if first.seq > subject.mark.source_seq {
                break;
            }
            let low_water = self.tracker.stored(first.seq);
            run.already_present(low_water - 1);
            subject.queued.pop_front();
            table.queued -= 1;
        }
        let count = subject
            .queued
            .len()
            .min(self.window - table.in_flight.len());
        let mut previous_id: Option<String> = None;
        for i in 0..count {
            let message = table.subjects[id].queued.pop_front().expect("counted");
            table.queued -= 1;
            let mut stamped = headers::stamp(
                message.headers.as_ref(),
                &run.stream,
                message.seq,
                Some(self.tracker.mark()),
            );
            match previous_id.take() {
                None => stamped.insert(
                    NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
                    HeaderValue::from(table.subjects[id].mark.target_seq),
                ),
                Some(previous) => stamped.insert(NATS_EXPECTED_LAST_MESSAGE_ID, previous),
            }
            // An id only where the next message of the run expects it: the target keeps
            // every id for its duplicate window, which costs it CPU and memory per copy.
            if i + 1 < count {
                let id_header = message_id(message.seq);
                stamped.insert(NATS_MESSAGE_ID, id_header.as_str());
                previous_id = Some(id_header);
            }
            let pending = Pending {
                subject: id,
                source_seq: message.seq,
                stored_at: message.stored_at,
                ends_run: i + 1 == count,
            };
            table
                .in_flight
                .publish(pending, message.subject, stamped, message.payload)
                .await
                .map_err(StepError::retry)?;
            table.subjects[id].busy = true;
        }
        let subject = &table.subjects[id];
        if !subject.busy && !subject.queued.is_empty() {
            table.ready.push_back(id); // the window was full: later
        }
        Ok(())
    }

    fn settle(
        &self,
        table: &mut Table,
        pending: Pending,
        ack: anyhow::Result<Ack>,
    ) -> Result<(), StepError> {
        let run = self.run;
        let ack = ack.map_err(|e| {
            StepError::retry(e.context(format!(
                "publish source {} #{} to the target",
                run.stream, pending.source_seq
            )))
        })?;
        // A duplicate (the target had a copy of this source message within its window)
        // answers the position of that copy, which is as good a mark.
        let subject = &mut table.subjects[pending.subject];
        subject.mark = SubjectMark {
            target_seq: ack.sequence,
            source_seq: pending.source_seq,
        };
        if pending.ends_run {
            subject.busy = false;
            if !subject.queued.is_empty() {
                table.ready.push_back(pending.subject);
            }
        }
        let mark = self.tracker.stored(pending.source_seq);
        run.copied(
            pending.source_seq,
            mark - 1,
            ack.sequence,
            pending.stored_at,
        );
        Ok(())
    }
}

impl Table {
    fn queue(&mut self, message: SourceMessage, found: &HashMap<String, SubjectMark>) {
        let id = match self.ids.get(&message.subject) {
            Some(&id) => id,
            None => {
                // A subject of a target that was empty when this attempt began has no copy
                // unless this attempt made it; if anyone else wrote one since, the
                // expectation (0) makes the target refuse.
                let mark = found.get(&message.subject).copied().unwrap_or_default();
                self.ids
                    .insert(message.subject.clone(), self.subjects.len());
                self.subjects.push(Subject {
                    mark,
                    busy: false,
                    queued: VecDeque::new(),
                });
                self.subjects.len() - 1
            }
        };
        let subject = &mut self.subjects[id];
        if !subject.busy && subject.queued.is_empty() {
            self.ready.push_back(id);
        }
        subject.queued.push_back(message);
        self.queued += 1;
    }
}
