//! Checkpoint translation: where a source position is in the target. Copies of one subject
//! are stored in source order in both modes (and all copies are in ordered mode), so the
//! first copy at or after a target sequence has a source sequence that grows with it: a
//! binary search over the target finds the exact copy in about log2(n) reads.

use anyhow::{anyhow, bail, Context as _};
use async_nats::jetstream::stream::{RawMessageErrorKind, Stream};
use async_nats::jetstream::Context;
use serde::Serialize;

use crate::engine::Mode;
use crate::headers;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Translation {
    pub stream: String,
    pub source_seq: u64,
    /// The copy of the source message, or (when `exact` is false) the first copy after it:
    /// where a consumer that has processed everything before `source_seq` starts.
    pub target_seq: Option<u64>,
    pub exact: bool,
    /// The source sequence of the copy found.
    pub found_source_seq: Option<u64>,
}

/// The first copy of `subject` (a wildcard for all) at or after target sequence `from`.
async fn copy_at_or_after(
    target: &Stream<()>,
    from: u64,
    subject: &str,
) -> anyhow::Result<Option<(u64, u64)>> {
    match target
        .raw_message_builder()
        .sequence(from)
        .next_by_subject(subject)
        .send()
        .await
    {
        Ok(message) => {
            let source = headers::source_seq(&message.headers).ok_or_else(|| {
                anyhow!(
                    "target message #{} was not written by the migration",
                    message.sequence
                )
            })?;
            Ok(Some((message.sequence, source)))
        }
        Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => Ok(None),
        Err(e) => Err(anyhow!(e).context(format!("read the target at #{from}"))),
    }
}

/// The target position of source message `source_seq` of `stream`.
pub async fn translate(
    source: &Context,
    target: &Context,
    mode: Mode,
    stream: &str,
    source_seq: u64,
) -> anyhow::Result<Translation> {
    let subject = match mode {
        Mode::Ordered => ">".to_string(),
        Mode::Partitioned { .. } => {
            let handle = source.get_stream_no_info(stream).await?;
            match handle.raw_message_builder().sequence(source_seq).send().await {
                Ok(message) => message.subject.to_string(),
                Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => bail!(
                    "source {stream} #{source_seq} is not in the source: in partitioned mode its subject decides its place, translate a position that exists"
                ),
                Err(e) => return Err(anyhow!(e).context("read the source message")),
            }
        }
    };
    first_copy_from(target, stream, source_seq, &subject).await
}

/// The first copy (of `subject`) whose source sequence is `source_seq` or later.
pub async fn first_copy_from(
    target: &Context,
    stream: &str,
    source_seq: u64,
    subject: &str,
) -> anyhow::Result<Translation> {
    let mut info = target
        .get_stream(stream)
        .await
        .with_context(|| format!("open target stream {stream}"))?;
    let state = info.info().await?.state.clone();
    let handle = target.get_stream_no_info(stream).await?;
    let (mut lo, mut hi) = (state.first_sequence.max(1), state.last_sequence + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match copy_at_or_after(&handle, mid, subject).await? {
            Some((_, found)) if found >= source_seq => hi = mid,
            Some((at, _)) => lo = at + 1,
            None => hi = mid,
        }
    }
    let found = if lo <= state.last_sequence {
        copy_at_or_after(&handle, lo, subject).await?
    } else {
        None
    };
    Ok(Translation {
        stream: stream.to_string(),
        source_seq,
        target_seq: found.map(|(at, _)| at),
        exact: found.is_some_and(|(_, s)| s == source_seq),
        found_source_seq: found.map(|(_, s)| s),
    })
}
