//! Publishes to the target whose acknowledgements come back on one subscription of the
//! writer's, matched by a number at the end of the reply subject. The client's own
//! JetStream publish makes, per message, a fresh inbox name, a oneshot channel, a timer, a
//! boxed future and an entry in its response map, and parses the acknowledgement through
//! an untagged enum: a large part of the replicator's CPU per event in partitioned mode
//! (docs/migrations.md has the profile). Here a publish costs its reply subject and a slot
//! in a queue.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::anyhow;
use async_nats::{Client, HeaderMap, Message, StatusCode, Subscriber};
use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use tokio::time::Instant;

/// How long an acknowledgement may take (the client's own default for publishes).
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// What the target answered for one publish: where the message is. (For a duplicate, an
/// id the target already had within its duplicate window, where that copy is.)
#[derive(Debug, Clone, Copy)]
pub struct Ack {
    pub sequence: u64,
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    seq: u64,
    error: Option<ApiError>,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    code: u16,
    #[serde(default)]
    err_code: u64,
    #[serde(default)]
    description: String,
}

struct Slot<T> {
    entry: T,
    sent: Instant,
    answer: Option<anyhow::Result<Ack>>,
}

/// Publishes in flight, in the order sent, each with what the writer needs to know of it.
pub struct Acked<T> {
    client: Client,
    /// The reply subjects' common start ("<inbox>."), followed by the publish's number.
    prefix: String,
    replies: Subscriber,
    queue: VecDeque<Slot<T>>,
    /// The number of the front of `queue`.
    first: u64,
}

impl<T> Acked<T> {
    pub async fn new(client: Client) -> anyhow::Result<Self> {
        let prefix = format!("{}.", client.new_inbox());
        let replies = client
            .subscribe(format!("{prefix}*"))
            .await
            .map_err(|e| anyhow!(e).context("subscribe to the target's acknowledgements"))?;
        Ok(Acked {
            client,
            prefix,
            replies,
            queue: VecDeque::new(),
            first: 0,
        })
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Sends one message; its answer comes from `next` once every earlier one's has.
    pub async fn publish(
        &mut self,
        entry: T,
        subject: String,
        headers: HeaderMap,
        payload: Bytes,
    ) -> anyhow::Result<()> {
        let number = self.first + self.queue.len() as u64;
        let mut reply = String::with_capacity(self.prefix.len() + 20);
        reply.push_str(&self.prefix);
        write!(reply, "{number}").expect("a String takes any write");
        self.client
            .publish_with_reply_and_headers(subject, reply, headers, payload)
            .await
            .map_err(|e| anyhow!(e).context("send to the target"))?;
        self.queue.push_back(Slot {
            entry,
            sent: Instant::now(),
            answer: None,
        });
        Ok(())
    }

    /// The oldest publish and its answer (pending forever while nothing is in flight, so
    /// it can sit in a `select!`; cancelling it loses nothing: an answer read is kept).
    pub async fn next(&mut self) -> (T, anyhow::Result<Ack>) {
        loop {
            let Some(front) = self.queue.front() else {
                return std::future::pending().await;
            };
            if front.answer.is_some() {
                let slot = self.queue.pop_front().expect("the front was there");
                self.first += 1;
                return (slot.entry, slot.answer.expect("answered"));
            }
            let deadline = front.sent + ACK_TIMEOUT;
            let answer = match tokio::time::timeout_at(deadline, self.replies.next()).await {
                Ok(Some(message)) => {
                    self.answer(message);
                    continue;
                }
                Ok(None) => Err(anyhow!("the acknowledgements' subscription ended")),
                Err(_) => Err(anyhow!("no acknowledgement within {ACK_TIMEOUT:?}")),
            };
            let slot = self.queue.pop_front().expect("the front was there");
            self.first += 1;
            return (slot.entry, answer);
        }
    }

    fn answer(&mut self, message: Message) {
        let number = message
            .subject
            .as_str()
            .strip_prefix(self.prefix.as_str())
            .and_then(|n| n.parse::<u64>().ok());
        let Some(at) = number.and_then(|n| n.checked_sub(self.first)) else {
            return; // an answer to a publish already given up on
        };
        if let Some(slot) = self.queue.get_mut(at as usize) {
            slot.answer = Some(parse(&message));
        }
    }
}

fn parse(message: &Message) -> anyhow::Result<Ack> {
    if message.status == Some(StatusCode::NO_RESPONDERS) {
        return Err(anyhow!("no stream answered (no responders)"));
    }
    let response: Response = serde_json::from_slice(&message.payload)
        .map_err(|e| anyhow!(e).context("read the target's acknowledgement"))?;
    if let Some(error) = response.error {
        return Err(anyhow!(
            "the target refused it: {} (status {}, error {})",
            error.description,
            error.code,
            error.err_code
        ));
    }
    Ok(Ack {
        sequence: response.seq,
    })
}
