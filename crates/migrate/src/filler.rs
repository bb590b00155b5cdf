//! Fills a stream with events for demos, tests and benchmarks, at once or as a steady writer
//! that keeps appending while a migration runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::Context;
use bytes::Bytes;
use tokio::task::JoinHandle;

/// An event's payload: its index (for checks), padded to `size` bytes.
pub fn payload(index: u64, size: usize) -> Bytes {
    let mut bytes = format!("event {index:012} ").into_bytes();
    bytes.resize(size.max(bytes.len()), b'.');
    Bytes::from(bytes)
}

/// Publishes `count` events round-robin over `subjects`, many in flight, and waits for all
/// acknowledgements. Returns the number stored.
pub async fn fill(
    js: &Context,
    subjects: &[String],
    count: u64,
    size: usize,
) -> anyhow::Result<u64> {
    let mut acks = std::collections::VecDeque::new();
    for index in 0..count {
        let subject = subjects[(index % subjects.len() as u64) as usize].clone();
        acks.push_back(
            js.publish(subject, payload(index, size))
                .await
                .context("publish")?,
        );
        if acks.len() >= 2048 {
            acks.pop_front().unwrap().await.context("stored")?;
        }
    }
    for ack in acks {
        ack.await.context("stored")?;
    }
    Ok(count)
}

/// A writer appending at a steady rate until stopped.
pub struct SteadyWriter {
    written: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl SteadyWriter {
    /// `rate` events per second over `subjects`.
    pub fn start(js: Context, subjects: Vec<String>, rate: u64, size: usize) -> Self {
        let written = Arc::new(AtomicU64::new(0));
        let counter = written.clone();
        let task = tokio::spawn(async move {
            let period = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut index = 0u64;
            loop {
                ticker.tick().await;
                let subject = subjects[(index % subjects.len() as u64) as usize].clone();
                // A lost node of a clustered source (or a reconnect) fails a publish: the
                // writer keeps going, as a customer's application would, and counts only
                // what was acknowledged.
                let stored = match js.publish(subject, payload(index, size)).await {
                    Ok(ack) => ack.await.is_ok(),
                    Err(_) => false,
                };
                if !stored {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                index += 1;
                counter.store(index, Ordering::SeqCst);
            }
        });
        SteadyWriter { written, task }
    }

    pub fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    /// Stops the writer; returns how many events it stored.
    pub async fn stop(self) -> u64 {
        self.task.abort();
        let written = self.written.clone();
        let _ = self.task.await;
        written.load(Ordering::SeqCst)
    }
}
