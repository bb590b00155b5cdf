//! The audit log is a commit-ordered feed: a follower that reads `events_after(last)` and
//! moves `last` to the newest seq it saw (as the platform DNS does) never skips an event,
//! however many writers commit at once. On PostgreSQL this holds because the seq is
//! taken under the write lock; a seq handed out at insert time would let a transaction
//! with a lower seq commit after a reader had moved past it.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;

const WRITERS: usize = 8;
const WRITES_EACH: usize = 15;

on_both_backends!(
    a_follower_never_skips_an_event_under_concurrent_writers,
    multi_thread
);
async fn a_follower_never_skips_an_event_under_concurrent_writers(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let done = Arc::new(AtomicBool::new(false));
    let start = t.store.last_event_seq().await.unwrap();

    let follower = {
        let store = t.store.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut last = start;
            loop {
                // Read `done` before the read: a read after the writers finished sees all.
                let finished = done.load(Ordering::SeqCst);
                let batch = store.events_after(last, 1000).await.unwrap();
                if let Some(e) = batch.last() {
                    last = e.seq;
                }
                seen.extend(batch.into_iter().map(|e| e.seq));
                if finished {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = t.store.clone();
            tokio::spawn(async move {
                for i in 0..WRITES_EACH {
                    let cidr = format!("10.{}.{}.0/24", w + 1, i);
                    network(&*store, p, &format!("n{w}-{i}"), &cidr).await;
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let followed = follower.await.unwrap();

    let all: Vec<i64> = t
        .store
        .events_after(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.seq)
        .collect();
    let expected: Vec<i64> = all.into_iter().filter(|&s| s > start).collect();
    assert_eq!(
        expected.len(),
        WRITERS * WRITES_EACH,
        "one event per create"
    );
    assert_eq!(
        followed, expected,
        "the follower saw every event once, in seq order"
    );
    let distinct: BTreeSet<i64> = followed.iter().copied().collect();
    assert_eq!(distinct.len(), followed.len());
}
