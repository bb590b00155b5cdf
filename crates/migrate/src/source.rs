//! Reading a stream: an ordered push consumer from a start sequence delivers the history and
//! then the live tail as the server stores it — no polling loop. The client recreates the
//! consumer from the last sequence it saw when it misses a message or a heartbeat.

use std::time::SystemTime;

use anyhow::Context as _;
use async_nats::jetstream::consumer::{push, DeliverPolicy};
use async_nats::jetstream::{self, Context};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::StreamExt;

/// One source message on its way to the target.
#[derive(Debug, Clone)]
pub struct SourceMessage {
    pub subject: String,
    pub headers: Option<HeaderMap>,
    pub payload: Bytes,
    pub seq: u64,
    /// When the source stored it (lag in seconds is measured from here).
    pub stored_at: SystemTime,
}

impl TryFrom<jetstream::Message> for SourceMessage {
    type Error = anyhow::Error;

    fn try_from(message: jetstream::Message) -> anyhow::Result<Self> {
        let info = message
            .info()
            .map_err(|e| anyhow::anyhow!("a delivery without stream metadata: {e}"))?;
        let seq = info.stream_sequence;
        let stored_at = SystemTime::from(info.published);
        let message = message.split().0;
        Ok(SourceMessage {
            subject: message.subject.to_string(),
            headers: message.headers,
            payload: message.payload,
            seq,
            stored_at,
        })
    }
}

/// The messages of `stream` from `start` on (the first available one when `start` is below
/// it), then every new one as it is stored.
pub async fn messages_from(
    js: &Context,
    stream: &str,
    start: u64,
) -> anyhow::Result<push::Ordered> {
    let handle = js
        .get_stream_no_info(stream)
        .await
        .with_context(|| format!("open stream {stream}"))?;
    let deliver_policy = if start <= 1 {
        DeliverPolicy::All
    } else {
        DeliverPolicy::ByStartSequence {
            start_sequence: start,
        }
    };
    let consumer = handle
        .create_consumer(push::OrderedConfig {
            deliver_subject: js.client().new_inbox(),
            deliver_policy,
            ..Default::default()
        })
        .await
        .with_context(|| format!("create an ordered consumer on {stream} from {start}"))?;
    consumer
        .messages()
        .await
        .with_context(|| format!("subscribe to {stream}"))
}

/// Every message of `stream` from `start` up to and including `until` (for `verify`).
///
/// A clustered source may place the reading consumer on a node that is down (see
/// `StreamRun::next_source`): a consumer that cannot be made, or that delivers nothing for
/// `STALL`, is made again from the next message to read, a few times before giving up.
pub async fn read_range(
    js: &Context,
    stream: &str,
    start: u64,
    until: u64,
) -> anyhow::Result<Vec<SourceMessage>> {
    const STALL: std::time::Duration = std::time::Duration::from_secs(15);
    const ATTEMPTS: usize = 8;
    let mut out: Vec<SourceMessage> = Vec::new();
    let mut next_seq = start.max(1);
    let mut last_error = None;
    for _ in 0..ATTEMPTS {
        if until < next_seq {
            return Ok(out);
        }
        let mut messages = match messages_from(js, stream, next_seq).await {
            Ok(messages) => messages,
            Err(e) => {
                last_error = Some(e);
                continue;
            }
        };
        loop {
            let next = match tokio::time::timeout(STALL, messages.next()).await {
                Ok(Some(Ok(next))) => next,
                Ok(Some(Err(e))) => {
                    last_error = Some(anyhow::anyhow!(e).context(format!("read stream {stream}")));
                    break;
                }
                Ok(None) => {
                    last_error = Some(anyhow::anyhow!("the consumer on {stream} ended"));
                    break;
                }
                Err(_) => {
                    last_error = Some(anyhow::anyhow!(
                        "nothing read from {stream} for {STALL:?} before #{until}"
                    ));
                    break;
                }
            };
            let message = SourceMessage::try_from(next)?;
            let seq = message.seq;
            if seq < next_seq {
                continue; // the client's own recreation read again from the start
            }
            if seq > until {
                return Ok(out);
            }
            next_seq = seq + 1;
            out.push(message);
            if seq == until {
                return Ok(out);
            }
        }
    }
    Err(last_error
        .unwrap_or_else(|| anyhow::anyhow!("no consumer"))
        .context(format!(
            "read {stream} #{next_seq}..#{until} in {ATTEMPTS} tries"
        )))
}

/// The sequence of the last message `stream` still holds (0: none). The stream's last
/// sequence is the last one assigned, which may have been deleted since: nothing to copy.
pub async fn last_existing(js: &Context, stream: &str) -> anyhow::Result<u64> {
    use async_nats::jetstream::stream::RawMessageErrorKind;
    let mut handle = js
        .get_stream(stream)
        .await
        .with_context(|| format!("open stream {stream}"))?;
    let state = handle.info().await?.state.clone();
    if state.messages == 0 {
        return Ok(0);
    }
    // The first message at or after `from`, if any.
    let next_at = |from: u64| {
        let builder = handle
            .raw_message_builder()
            .sequence(from)
            .next_by_subject(">");
        async move {
            match builder.send().await {
                Ok(message) => Ok(Some(message.sequence)),
                Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => Ok(None),
                Err(e) => Err(anyhow::anyhow!(e).context(format!("read {stream}"))),
            }
        }
    };
    if next_at(state.last_sequence).await?.is_some() {
        return Ok(state.last_sequence);
    }
    // The tail was deleted: the last message is the one before the smallest position with
    // nothing at or after it.
    let (mut lo, mut hi) = (state.first_sequence, state.last_sequence);
    let mut found = 0;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match next_at(mid).await? {
            Some(at) => {
                found = found.max(at);
                lo = at + 1;
            }
            None => hi = mid,
        }
    }
    Ok(found)
}
