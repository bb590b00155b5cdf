//! The replication engine: configurations first, then per stream a copy that resumes from
//! the target's own last message on every start and after every error. Errors that retrying
//! can fix (the target restarting, a lost acknowledgement) restart the stream's copy from
//! the target's checkpoint; errors it cannot fix (the source no longer has the position to
//! resume from) fail the migration with the positions.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context as _};
use async_nats::jetstream::{self, Context};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::checkpoint::{self, Checkpoint};
use crate::filters::Filters;
use crate::source::SourceMessage;
use crate::status::{Board, SharedBoard, Status};
use crate::transform::{Transform, TransformSpec};
use crate::{monitor, ordered, partitioned, source, streams};

/// How to reach a NATS server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Endpoint {
    pub urls: Vec<String>,
    /// A CA certificate (PEM file) to verify the servers with.
    pub ca_file: Option<PathBuf>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
}

/// How the events are written to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Mode {
    /// One writer per stream: the target has the source's order.
    Ordered,
    /// Writers by subject hash: each subject keeps its order.
    Partitioned { partitions: usize },
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Publishes in flight per writer.
    pub window: usize,
    /// No progress for this long with events to copy: degraded.
    pub stall_after: Duration,
    /// Pause before a copy restarts from the checkpoint after an error.
    pub retry_after: Duration,
    /// How often the monitor samples the source and the rates.
    pub sample_every: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            window: 1024,
            stall_after: Duration::from_secs(30),
            retry_after: Duration::from_millis(500),
            sample_every: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub source: Endpoint,
    pub target: Endpoint,
    /// Streams to copy; empty means all of the source's.
    pub streams: Vec<String>,
    pub mode: Mode,
    /// Messages not to copy.
    pub filters: Filters,
    /// Subject renames and the script over headers and payload.
    pub transform: TransformSpec,
    pub settings: Settings,
    /// Filter counts of an earlier engine of this migration (stream → copied through,
    /// counts): carried on, so the counters cover the whole migration, not one process.
    pub carried: BTreeMap<String, (u64, BTreeMap<String, u64>)>,
}

/// A connection that keeps reconnecting quickly: a migration outlives server restarts.
pub async fn connect(endpoint: &Endpoint, name: &str) -> anyhow::Result<async_nats::Client> {
    let mut options = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(5))
        // A link that drops packets (no reset) is found dead after two missed pings, and
        // a fresh connection made as soon as it is back, instead of waiting out TCP's
        // retransmission backoff on the old one.
        .ping_interval(Duration::from_secs(2))
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((100 * attempts as u64).min(1_000))
        });
    if let Some(ca) = &endpoint.ca_file {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    if let (Some(user), Some(password)) = (&endpoint.user, &endpoint.password) {
        options = options.user_and_password(user.clone(), password.clone());
    }
    if let Some(token) = &endpoint.token {
        options = options.token(token.clone());
    }
    // Each URL on its own: async-nats does not split a comma-separated list.
    let servers = endpoint
        .urls
        .iter()
        .map(|u| {
            u.parse::<async_nats::ServerAddr>()
                .with_context(|| format!("server URL {u}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let urls = endpoint.urls.join(",");
    options
        .connect(servers)
        .await
        .with_context(|| format!("connect to {urls}"))
}

/// Why one attempt at copying a stream stopped.
#[derive(Debug)]
pub enum StepError {
    Retry(anyhow::Error),
    Fatal(String),
}

impl StepError {
    pub fn retry(error: impl Into<anyhow::Error>) -> Self {
        StepError::Retry(error.into())
    }
}

/// One attempt at copying one stream, from `resume` on.
pub struct StreamRun {
    pub stream: String,
    pub resume: u64,
    pub settings: Settings,
    pub filters: Filters,
    pub transform: Arc<Transform>,
    pub source: Context,
    board: SharedBoard,
}

impl StreamRun {
    pub async fn source_messages(&self) -> Result<jetstream::consumer::push::Ordered, StepError> {
        source::messages_from(&self.source, &self.stream, self.resume)
            .await
            .map_err(StepError::retry)
    }

    /// The message as the target gets it (renamed, scripted), or `None` when the script
    /// left it out (counted). A script that fails stops the copy: copying the message
    /// unchanged, or leaving it out, would both be wrong.
    pub fn transformed(&self, message: SourceMessage) -> Result<Option<SourceMessage>, StepError> {
        if self.transform.is_identity() {
            return Ok(Some(message));
        }
        let out = self
            .transform
            .apply(&message.subject, message.headers.as_ref(), message.payload)
            .map_err(|e| {
                StepError::Fatal(format!("source {} #{}: {e:#}", self.stream, message.seq))
            })?;
        Ok(out.map(|t| SourceMessage {
            subject: t.subject,
            headers: t.headers,
            payload: t.payload,
            seq: message.seq,
            stored_at: message.stored_at,
        }))
    }

    /// One message is in the target; everything up to `copied_through` is.
    pub fn copied(&self, _source_seq: u64, copied_through: u64, target_seq: u64, at: SystemTime) {
        let mut board = self.board.lock().expect("board");
        let stream = board.stream(&self.stream);
        stream.copied += 1;
        stream.copied_through = stream.copied_through.max(copied_through);
        stream.target_last_seq = stream.target_last_seq.max(target_seq);
        stream.last_copied_at_source = Some(at);
        stream.last_error = None;
    }

    /// Source message `seq` skipped (a filter or the script), counted under its reason
    /// unless an earlier engine counted it already.
    pub fn filtered(&self, seq: u64, reason: &str) {
        let mut board = self.board.lock().expect("board");
        let stream = board.stream(&self.stream);
        if seq > stream.counted_through {
            *stream.filtered.entry(reason.to_string()).or_default() += 1;
        }
    }

    /// Everything up to `copied_through` is in the target or was not to be copied.
    pub fn passed(&self, copied_through: u64) {
        let mut board = self.board.lock().expect("board");
        let stream = board.stream(&self.stream);
        stream.copied_through = stream.copied_through.max(copied_through);
    }

    /// Source messages that were already in the target (partitioned restarts).
    pub fn already_present(&self, copied_through: u64) {
        let mut board = self.board.lock().expect("board");
        let stream = board.stream(&self.stream);
        stream.already_present += 1;
        stream.copied_through = stream.copied_through.max(copied_through);
    }

    /// Source sequences that were never delivered: deleted or purged in the source.
    pub fn gap(&self, missing: u64) {
        if missing > 0 {
            self.board
                .lock()
                .expect("board")
                .stream(&self.stream)
                .source_gaps += missing;
        }
    }
}

/// A running migration. Dropping it stops every task it started.
pub struct Migration {
    board: SharedBoard,
    source: Context,
    target: Context,
    mode: Mode,
    transform: Arc<Transform>,
    streams: Vec<String>,
    tasks: Vec<JoinHandle<()>>,
}

impl Migration {
    /// Connects, checks the target, copies the stream configurations (refusing any the target
    /// would not keep as asked), then starts copying every stream.
    pub async fn start(spec: Spec) -> anyhow::Result<Migration> {
        let source_client = connect(&spec.source, "isthmus-migration-source")
            .await
            .context("reach the source")?;
        let target_client = connect(&spec.target, "isthmus-migration-target")
            .await
            .context("reach the target")?;
        let transform = Arc::new(Transform::new(&spec.transform)?);
        let source = jetstream::new(source_client.clone());
        let target = jetstream::new(target_client.clone());
        streams::check_target(&target_client, &target).await?;
        let names = if spec.streams.is_empty() {
            streams::stream_names(&source).await?
        } else {
            spec.streams.clone()
        };
        for name in &names {
            let mut asked = streams::target_config(&streams::source_config(&source, name).await?);
            rename_subjects(&mut asked, &transform);
            streams::ensure_target_stream(&target, &asked).await?;
        }
        let board: SharedBoard = Arc::new(Mutex::new(Board::default()));
        for (name, (through, filtered)) in &spec.carried {
            let mut shared = board.lock().expect("board");
            let stream = shared.stream(name);
            stream.counted_through = *through;
            stream.filtered = filtered.clone();
        }
        let mut tasks = Vec::new();
        for name in &names {
            board.lock().expect("board").stream(name);
            let copy = Copy {
                mode: spec.mode,
                filters: spec.filters.clone(),
                transform: transform.clone(),
                settings: spec.settings.clone(),
            };
            tasks.push(tokio::spawn(replicate(
                name.clone(),
                source.clone(),
                target.clone(),
                copy,
                board.clone(),
            )));
        }
        tasks.push(tokio::spawn(monitor::run(
            source.clone(),
            source_client,
            names.clone(),
            spec.settings.clone(),
            board.clone(),
        )));
        Ok(Migration {
            board,
            source,
            target,
            mode: spec.mode,
            transform,
            streams: names,
            tasks,
        })
    }

    pub fn status(&self) -> Status {
        self.board.lock().expect("board").status()
    }

    pub fn board(&self) -> &SharedBoard {
        &self.board
    }

    pub fn source(&self) -> &Context {
        &self.source
    }

    pub fn target(&self) -> &Context {
        &self.target
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The renames and script the copies are made with.
    pub fn transform(&self) -> &Transform {
        &self.transform
    }

    pub fn streams(&self) -> &[String] {
        &self.streams
    }

    /// Stops copying; after a cut-over the migration is then complete.
    pub fn stop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        let mut board = self.board.lock().expect("board");
        if board.cut_over {
            board.completed = true;
        }
    }
}

impl Drop for Migration {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Copies one stream until stopped or failed, restarting from the checkpoint after errors.
async fn replicate(
    stream: String,
    source: Context,
    target: Context,
    copy: Copy,
    board: SharedBoard,
) {
    loop {
        let outcome = attempt(&stream, &source, &target, &copy, &board).await;
        {
            let mut shared = board.lock().expect("board");
            match outcome {
                Ok(()) => return,
                Err(StepError::Fatal(reason)) => {
                    shared.stream(&stream).failed = Some(reason);
                    return;
                }
                Err(StepError::Retry(error)) => {
                    tracing::debug!(stream, "copy restarts from the checkpoint: {error:#}");
                    shared.stream(&stream).last_error = Some(format!("{error:#}"));
                }
            }
        }
        tokio::time::sleep(copy.settings.retry_after).await;
    }
}

/// How every attempt at one stream copies.
struct Copy {
    mode: Mode,
    filters: Filters,
    transform: Arc<Transform>,
    settings: Settings,
}

/// The target stream keeps the renamed subjects (see `transform`).
fn rename_subjects(config: &mut serde_json::Value, transform: &Transform) {
    if transform.is_identity() {
        return;
    }
    if let Some(subjects) = config.get_mut("subjects") {
        let source: Vec<String> = serde_json::from_value(subjects.clone()).unwrap_or_default();
        *subjects = serde_json::json!(transform.stream_subjects(&source));
    }
}

async fn attempt(
    stream: &str,
    source: &Context,
    target: &Context,
    copy: &Copy,
    board: &SharedBoard,
) -> Result<(), StepError> {
    let (mode, settings) = (copy.mode, &copy.settings);
    let checkpoint: Checkpoint = checkpoint::read(target, stream, mode).await?;
    let mut source_stream = source
        .get_stream(stream)
        .await
        .with_context(|| format!("open source stream {stream}"))
        .map_err(StepError::retry)?;
    let state = source_stream
        .info()
        .await
        .map_err(|e| StepError::retry(anyhow!(e).context("read the source stream's state")))?
        .state
        .clone();
    checkpoint.check_source(stream, state.first_sequence, state.last_sequence)?;
    {
        let mut shared = board.lock().expect("board");
        let status = shared.stream(stream);
        status.copied_through = status.copied_through.max(checkpoint.resume - 1);
        status.target_last_seq = status.target_last_seq.max(checkpoint.target_last);
    }
    let run = StreamRun {
        stream: stream.to_string(),
        resume: checkpoint.resume,
        settings: settings.clone(),
        filters: copy.filters.clone(),
        transform: copy.transform.clone(),
        source: source.clone(),
        board: board.clone(),
    };
    match mode {
        Mode::Ordered => ordered::copy(&run, target, checkpoint.target_last).await,
        Mode::Partitioned { partitions } => {
            partitioned::copy(&run, target, partitions.max(1)).await
        }
    }
}
