//! Partitioned mode's knowledge of the target: the last copy of a subject, read from the
//! target itself (its position and the source message it copies), many subjects at once.

use std::collections::{HashMap, HashSet};

use anyhow::anyhow;
use async_nats::jetstream::stream::RawMessageErrorKind;
use futures::StreamExt;

use crate::engine::StepError;
use crate::headers;
use crate::source::SourceMessage;

/// Lookups of subjects' last copies in flight at once.
const LOOKUPS_AT_ONCE: usize = 64;

/// The last copy of one subject in the target.
#[derive(Debug, Clone, Copy, Default)]
pub struct SubjectMark {
    pub target_seq: u64,
    pub source_seq: u64,
}

/// Reads the last copy of every subject of `batch` not yet in `known`, many at once.
pub async fn look_up_new_subjects(
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
