//! Many writes at once: on SQLite they are committed in groups (one transaction, a
//! savepoint each). A write refused by its rules fails alone, every other write of the
//! moment lands once with its audit event, and each rule sees the writes committed
//! before it, in its group too.

#[macro_use]
mod common;

use isthmus_core::resources::Network;
use isthmus_core::CoreError;
use isthmus_store::api::{Api, Env};
use isthmus_store::{PageRequest, StoreError};

use common::*;

on_both_backends!(
    a_refused_write_fails_alone_among_concurrent_writes,
    multi_thread
);
async fn a_refused_write_fails_alone_among_concurrent_writes(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    network(&*t.store, p, "taken", "10.200.0.0/16").await;
    let before = t.store.last_event_seq().await.unwrap();
    // Even: a network of its own; odd: inside the one already there.
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let store = t.store.clone();
            let cidr = if i % 2 == 0 {
                format!("10.{i}.0.0/16")
            } else {
                format!("10.200.{i}.0/24")
            };
            let req = network_req(&format!("n{i}"), &cidr);
            tokio::spawn(async move {
                let created = Api::<Network>::new(store.docs())
                    .create(&alice(), p, &req, &Env::default(), None)
                    .await;
                (i, created)
            })
        })
        .collect();
    for task in tasks {
        match task.await.unwrap() {
            (i, Ok(_)) => assert_eq!(i % 2, 0, "n{i} overlaps and was created"),
            (i, Err(StoreError::Core(CoreError::Conflict { rule, .. }))) => {
                assert_eq!(i % 2, 1, "n{i} was refused");
                assert_eq!(rule, "network-overlap");
            }
            (i, Err(e)) => panic!("n{i}: unexpected error: {e}"),
        }
    }
    let listed = Api::<Network>::new(t.store.docs())
        .list(p, &PageRequest::default())
        .await
        .unwrap()
        .items;
    assert_eq!(listed.len(), 13, "the one before and the twelve created");
    let events = t.store.events_after(before, 1000).await.unwrap();
    let creates: Vec<_> = events
        .iter()
        .filter(|e| e.action == "network.create")
        .collect();
    assert_eq!(
        creates.len(),
        12,
        "one event per created network: {events:#?}"
    );
    // A feed in commit order, without gaps.
    for (n, e) in events.iter().enumerate() {
        assert_eq!(e.seq, before + 1 + n as i64);
    }
}

on_both_backends!(
    concurrent_overlapping_creates_leave_exactly_one,
    multi_thread
);
async fn concurrent_overlapping_creates_leave_exactly_one(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = t.store.clone();
            let req = network_req(&format!("n{i}"), &format!("10.9.{i}.0/24"));
            let wide = network_req("wide", "10.9.0.0/16");
            tokio::spawn(async move {
                let api = Api::<Network>::new(store.docs());
                let one = api.create(&alice(), p, &req, &Env::default(), None).await;
                let other = api.create(&alice(), p, &wide, &Env::default(), None).await;
                (one.is_ok(), other.is_ok())
            })
        })
        .collect();
    let mut made = 0;
    for task in tasks {
        let (small, wide) = task.await.unwrap();
        made += usize::from(small) + usize::from(wide);
    }
    let listed = Api::<Network>::new(t.store.docs())
        .list(p, &PageRequest::default())
        .await
        .unwrap()
        .items;
    assert_eq!(listed.len(), made, "every success is stored, nothing else");
    let cidrs: Vec<_> = listed.iter().map(|n| n.cidr_block).collect();
    for (i, a) in cidrs.iter().enumerate() {
        for b in &cidrs[i + 1..] {
            assert!(!a.overlaps(b), "{a} and {b} were both admitted");
        }
    }
}
