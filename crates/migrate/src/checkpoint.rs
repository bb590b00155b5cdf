//! The checkpoint is the target's own last message: its headers say which source message it
//! is (ordered) or from which source sequence on nothing is known to be copied (partitioned).
//! Nothing else is stored, so there is nothing to lose or to get out of step with the data.

use anyhow::anyhow;
use async_nats::jetstream::stream::RawMessageErrorKind;
use async_nats::jetstream::Context;

use crate::engine::{Mode, StepError};
use crate::headers;

/// Where a copy starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The first source sequence to copy (1: from the beginning).
    pub resume: u64,
    /// The target stream's last sequence.
    pub target_last: u64,
    /// True when the target already holds copies (the resume position must then exist).
    pub has_copies: bool,
}

/// The checkpoint of `stream` read from the target.
pub async fn read(target: &Context, stream: &str, mode: Mode) -> Result<Checkpoint, StepError> {
    let mut handle = target.get_stream(stream).await.map_err(|e| {
        StepError::retry(anyhow!(e).context(format!("open target stream {stream}")))
    })?;
    let state = handle
        .info()
        .await
        .map_err(|e| StepError::retry(anyhow!(e).context("read the target stream's state")))?
        .state
        .clone();
    if state.last_sequence == 0 {
        return Ok(Checkpoint {
            resume: 1,
            target_last: 0,
            has_copies: false,
        });
    }
    let last = match handle.raw_message_builder().sequence(state.last_sequence).send().await {
        Ok(message) => message,
        Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => {
            return Err(StepError::Fatal(format!(
                "target stream {stream} no longer has its last message (#{}), which is the migration's checkpoint",
                state.last_sequence
            )))
        }
        Err(e) => {
            return Err(StepError::retry(
                anyhow!(e).context(format!("read the checkpoint of target stream {stream}")),
            ))
        }
    };
    let resume = match mode {
        Mode::Ordered => headers::source_seq(&last.headers).map(|seq| seq + 1),
        Mode::Partitioned { .. } => headers::resume_from(&last.headers),
    };
    let resume = resume.ok_or_else(|| {
        StepError::Fatal(format!(
            "target stream {stream} holds a message the migration did not write (#{}) or written in another mode",
            state.last_sequence
        ))
    })?;
    Ok(Checkpoint {
        resume,
        target_last: state.last_sequence,
        has_copies: true,
    })
}

impl Checkpoint {
    /// A source that no longer has the position to resume from fails the migration with both
    /// positions; copying on from the first available message would silently skip events.
    pub fn check_source(&self, stream: &str, first: u64, last: u64) -> Result<(), StepError> {
        if !self.has_copies {
            return Ok(());
        }
        if self.resume > last + 1 {
            return Err(StepError::Fatal(format!(
                "source stream {stream} ends at #{last} but the target already holds copies up to #{}: was the source recreated?",
                self.resume - 1
            )));
        }
        if self.resume < first {
            return Err(StepError::Fatal(format!(
                "source stream {stream} no longer has #{} to resume from (expected #{}, first available #{first}): purged or expired",
                self.resume, self.resume
            )));
        }
        Ok(())
    }
}
