//! One attempt at copying one stream: what the ordered and partitioned writers share (the
//! source, the transform, the filters) and how they report progress on the board.

use std::sync::Arc;
use std::time::SystemTime;

use anyhow::anyhow;
use async_nats::jetstream::consumer::push::Ordered;
use async_nats::jetstream::{self, Context};
use futures::StreamExt;

use crate::filters::Filters;
use crate::source::{self, SourceMessage};
use crate::spec::Settings;
use crate::status::SharedBoard;
use crate::transform::Transform;

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
    pub(crate) board: SharedBoard,
}

impl StreamRun {
    pub async fn source_messages(&self) -> Result<jetstream::consumer::push::Ordered, StepError> {
        source::messages_from(&self.source, &self.stream, self.resume)
            .await
            .map_err(StepError::retry)
    }

    /// The next source message after `previous`, the last one read.
    ///
    /// The client recreates its ordered consumer by itself (after a reconnect or a missed
    /// message), retrying forever under the same consumer name. On a clustered source of
    /// nats-server 2.9 that can never succeed once the first try was placed on a dead node:
    /// an ephemeral consumer is one replica on a random peer of the stream, dead or not,
    /// and a retry under the same name keeps that placement, so the reader waits forever
    /// while the source moves on. Nothing for `source_stall` while the monitor sees more in
    /// the source is that case (or one like it): the attempt ends, and the next one reads
    /// from the checkpoint with a new consumer, placed anew.
    pub async fn next_source(
        &self,
        messages: &mut Ordered,
        previous: u64,
    ) -> Result<SourceMessage, StepError> {
        loop {
            match tokio::time::timeout(self.settings.source_stall, messages.next()).await {
                Ok(Some(Ok(message))) => {
                    return SourceMessage::try_from(message).map_err(StepError::retry)
                }
                Ok(Some(Err(e))) => {
                    return Err(StepError::retry(anyhow!(e).context("read the source")))
                }
                Ok(None) => return Err(StepError::retry(anyhow!("the source consumer ended"))),
                Err(_) => {
                    let end = self
                        .board
                        .lock()
                        .expect("board")
                        .stream(&self.stream)
                        .source_end_seq;
                    if end > previous {
                        return Err(StepError::retry(anyhow!(
                            "the source consumer delivered nothing for {:?} while the source \
                             holds up to #{end} (read through #{previous}): reading again \
                             with a new consumer",
                            self.settings.source_stall
                        )));
                    }
                }
            }
        }
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
