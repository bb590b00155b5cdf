//! The work queue, shaped like client-go's: a key queued twice runs once; a key being
//! reconciled is never handed to a second worker, and if it is queued meanwhile it runs
//! again after the first reconcile ends; keys can be queued for later (requeue-after,
//! backoff), keeping only the earliest time per key so timers never pile up.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use isthmus_store::ObjectKey;
use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Default)]
struct Inner {
    /// Keys waiting for a worker, in order.
    ready: VecDeque<ObjectKey>,
    /// Keys queued and not yet handed out (some may wait in `processing` to finish).
    dirty: HashSet<ObjectKey>,
    /// Keys a worker holds now.
    processing: HashSet<ObjectKey>,
    /// Delayed adds; an entry whose time no longer matches `due` is stale.
    delayed: BinaryHeap<Reverse<(Instant, ObjectKey)>>,
    /// The earliest delayed add of each key.
    due: HashMap<ObjectKey, Instant>,
}

#[derive(Default)]
pub(crate) struct WorkQueue {
    inner: Mutex<Inner>,
    /// Wakes a worker when a key becomes ready.
    ready: Notify,
    /// Wakes the timer when a delayed add earlier than the ones it sleeps for arrives.
    timer: Notify,
}

impl WorkQueue {
    pub fn add(&self, key: ObjectKey) {
        let mut inner = self.lock();
        if !inner.dirty.insert(key) {
            return; // already queued: runs once
        }
        if !inner.processing.contains(&key) {
            inner.ready.push_back(key);
            drop(inner);
            self.ready.notify_one();
        }
    }

    pub fn add_after(&self, key: ObjectKey, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let at = Instant::now() + delay;
        let mut inner = self.lock();
        if inner.due.get(&key).is_some_and(|earlier| *earlier <= at) {
            return;
        }
        inner.due.insert(key, at);
        inner.delayed.push(Reverse((at, key)));
        drop(inner);
        self.timer.notify_one();
    }

    /// Waits for the next ready key and marks it as being processed.
    pub async fn next(&self) -> ObjectKey {
        loop {
            let notified = self.ready.notified();
            tokio::pin!(notified);
            // Register before looking, so an add between the look and the wait is not lost.
            notified.as_mut().enable();
            if let Some(key) = self.pop_ready() {
                return key;
            }
            notified.await;
        }
    }

    fn pop_ready(&self) -> Option<ObjectKey> {
        let mut inner = self.lock();
        let key = inner.ready.pop_front()?;
        inner.dirty.remove(&key);
        inner.processing.insert(key);
        let more = !inner.ready.is_empty();
        drop(inner);
        if more {
            // Pass the wake-up on: several keys may have arrived under one notification.
            self.ready.notify_one();
        }
        Some(key)
    }

    /// Ends the processing of `key`; if it was queued meanwhile it is ready again.
    pub fn done(&self, key: ObjectKey) {
        let mut inner = self.lock();
        inner.processing.remove(&key);
        if inner.dirty.contains(&key) {
            inner.ready.push_back(key);
            drop(inner);
            self.ready.notify_one();
        }
    }

    /// Moves due delayed keys to ready, forever; sleeps until the earliest one.
    pub async fn run_timer(&self) {
        loop {
            let notified = self.timer.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = self.release_due(Instant::now());
            match next {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Adds every key due by `now`; returns when the next delayed key is due.
    fn release_due(&self, now: Instant) -> Option<Instant> {
        let mut released = Vec::new();
        let next = {
            let mut inner = self.lock();
            while let Some(Reverse((at, key))) = inner.delayed.peek().copied() {
                if at > now {
                    break;
                }
                inner.delayed.pop();
                if inner.due.get(&key) == Some(&at) {
                    inner.due.remove(&key);
                    released.push(key);
                }
            }
            inner.delayed.peek().map(|Reverse((at, _))| *at)
        };
        for key in released {
            self.add(key);
        }
        next
    }

    /// Keys queued to run now (not counting those being processed).
    pub fn depth(&self) -> usize {
        self.lock().dirty.len()
    }

    /// Keys queued to run later (requeue-after, backoff).
    pub fn scheduled(&self) -> usize {
        self.lock().due.len()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isthmus_core::Id;

    fn key(n: u8) -> ObjectKey {
        ObjectKey {
            kind: "peering",
            id: Id::from_parts(1, [n; 8]),
        }
    }

    #[tokio::test]
    async fn a_key_queued_twice_runs_once() {
        let q = WorkQueue::default();
        q.add(key(1));
        q.add(key(2));
        q.add(key(1));
        assert_eq!(q.next().await, key(1));
        assert_eq!(q.next().await, key(2));
        assert_eq!(q.pop_ready(), None);
    }

    #[tokio::test]
    async fn a_key_queued_while_processing_waits_and_runs_again_after() {
        let q = WorkQueue::default();
        q.add(key(1));
        let k = q.next().await;
        q.add(key(1));
        assert_eq!(q.pop_ready(), None, "never handed to a second worker");
        q.done(k);
        assert_eq!(q.next().await, key(1));
        q.done(key(1));
        assert_eq!(q.pop_ready(), None);
    }

    #[tokio::test]
    async fn delayed_keys_keep_only_their_earliest_time() {
        let q = std::sync::Arc::new(WorkQueue::default());
        let timer = tokio::spawn({
            let q = q.clone();
            async move { q.run_timer().await }
        });
        q.add_after(key(1), Duration::from_secs(10));
        q.add_after(key(1), Duration::from_millis(20));
        q.add_after(key(1), Duration::from_secs(5));
        assert_eq!(q.scheduled(), 1);
        // Only the 20 ms add can have fired within the deadline.
        let got = tokio::time::timeout(Duration::from_secs(4), q.next()).await;
        assert_eq!(got.ok(), Some(key(1)));
        q.done(key(1));
        assert_eq!(q.scheduled(), 0, "the later adds of the key were dropped");
        timer.abort();
    }
}
