//! Publishes in flight, acknowledged in the order they were sent. Many are outstanding at once
//! (the throughput), and every one carries an expectation the target checks (the safety), so
//! a lost or late acknowledgement never leaves the target in a state the engine did not ask.

use std::collections::VecDeque;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

use async_nats::jetstream::context::{PublishAckFuture, PublishError};
use async_nats::jetstream::publish::PublishAck;

type AckFuture = Pin<Box<dyn Future<Output = Result<PublishAck, PublishError>> + Send>>;

/// Publishes awaiting their acknowledgement, each with what the writer needs to know about it.
pub struct InFlight<T> {
    queue: VecDeque<(T, Option<AckFuture>)>,
}

impl<T> Default for InFlight<T> {
    fn default() -> Self {
        InFlight {
            queue: VecDeque::new(),
        }
    }
}

impl<T> InFlight<T> {
    pub fn push(&mut self, entry: T, ack: PublishAckFuture) {
        self.queue.push_back((entry, Some(ack.into_future())));
    }

    /// A message that was not published (filtered) but must be passed in order.
    pub fn push_skipped(&mut self, entry: T) {
        self.queue.push_back((entry, None));
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// The oldest publish's acknowledgement (`None` for a skipped message; pending forever
    /// when nothing is in flight, so it can sit in a `select!` beside the source).
    pub async fn next(&mut self) -> (T, Option<Result<PublishAck, PublishError>>) {
        let Some((_, ack)) = self.queue.front_mut() else {
            return std::future::pending().await;
        };
        let result = match ack {
            Some(ack) => Some(ack.await),
            None => None,
        };
        let (entry, _) = self.queue.pop_front().expect("the front was there");
        (entry, result)
    }
}
