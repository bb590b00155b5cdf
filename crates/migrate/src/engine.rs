//! The replication engine: configurations first, then per stream a copy that resumes from
//! the target's own last message on every start and after every error. Errors that retrying
//! can fix (the target restarting, a lost acknowledgement) restart the stream's copy from
//! the target's checkpoint; errors it cannot fix (the source no longer has the position to
//! resume from) fail the migration with the positions.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context as _};
use async_nats::jetstream::{self, Context};
use tokio::task::JoinHandle;

use crate::checkpoint::{self, Checkpoint};
use crate::filters::Filters;
use crate::status::{Board, SharedBoard, Status};
use crate::transform::Transform;
use crate::{monitor, ordered, partitioned, streams};

pub use crate::run::{StepError, StreamRun};
pub use crate::spec::{connect, Endpoint, Mode, Settings, Spec};

/// A running migration. Dropping it stops every task it started.
pub struct Migration {
    board: SharedBoard,
    source: Context,
    target: Context,
    mode: Mode,
    transform: Arc<Transform>,
    streams: Vec<String>,
    /// Target streams copied with a shorter duplicate window than the source's, and the
    /// source's (ns): the cut-over puts it back (`streams::COPY_DUPLICATE_WINDOW`).
    duplicate_windows: BTreeMap<String, u64>,
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
        let mut duplicate_windows = BTreeMap::new();
        for name in &names {
            let mut asked = streams::target_config(&streams::source_config(&source, name).await?);
            rename_subjects(&mut asked, &transform);
            // Only partitioned copies carry message ids (see `partitioned`).
            let source_window = match spec.mode {
                Mode::Partitioned { .. } => streams::shorten_duplicate_window(&mut asked),
                Mode::Ordered => None,
            };
            streams::ensure_target_stream(&target, &asked, source_window).await?;
            if let Some(window) = source_window {
                duplicate_windows.insert(name.clone(), window);
            }
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
            duplicate_windows,
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

    /// Streams the target keeps a shorter duplicate window for while copying, with the
    /// source's (ns).
    pub fn duplicate_windows(&self) -> &BTreeMap<String, u64> {
        &self.duplicate_windows
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
            partitioned::copy(&run, target, partitions.max(1), checkpoint.target_last).await
        }
    }
}
