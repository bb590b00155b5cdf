//! The event feed across projects: followers (the platform DNS) start at the last seq and
//! then read every later event, whatever project it belongs to, in order.

#[macro_use]
mod common;

use common::*;

on_both_backends!(an_empty_log_starts_at_zero);
async fn an_empty_log_starts_at_zero(backend: Backend) {
    let t = open(backend).await;
    assert_eq!(t.store.last_event_seq().await.unwrap(), 0);
    assert!(t.store.events_after(0, 100).await.unwrap().is_empty());
}

on_both_backends!(events_after_a_seq_cover_every_project_in_order);
async fn events_after_a_seq_cover_every_project_in_order(backend: Backend) {
    let t = open(backend).await;
    let first = project(&*t.store, "acme").await;
    let start = t.store.last_event_seq().await.unwrap();
    let second = project(&*t.store, "globex").await;
    let network = network(&*t.store, first, "prod", "10.1.0.0/16").await;

    let later = t.store.events_after(start, 100).await.unwrap();
    let seen: Vec<(&str, Option<_>)> = later
        .iter()
        .map(|e| (e.action.as_str(), e.project_id))
        .collect();
    assert_eq!(
        seen,
        [
            ("project.create", Some(second)),
            ("network.create", Some(first))
        ]
    );
    assert_eq!(later[1].resource_id, network.id.to_string());
    assert!(later.iter().all(|e| e.seq > start));
    assert_eq!(
        t.store.last_event_seq().await.unwrap(),
        later.last().unwrap().seq
    );
}

on_both_backends!(a_limit_returns_the_oldest_events_first);
async fn a_limit_returns_the_oldest_events_first(backend: Backend) {
    let t = open(backend).await;
    for name in ["a", "b", "c"] {
        project(&*t.store, name).await;
    }
    let two = t.store.events_after(0, 2).await.unwrap();
    assert_eq!(two.len(), 2);
    let rest = t.store.events_after(two[1].seq, 100).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert!(two[1].seq < rest[0].seq);
}

on_both_backends!(changes_after_are_the_events_after_without_their_bodies);
async fn changes_after_are_the_events_after_without_their_bodies(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let start = t.store.last_event_seq().await.unwrap();
    network(&*t.store, p, "prod", "10.1.0.0/16").await;
    network(&*t.store, p, "dev", "10.2.0.0/16").await;

    let events = t.store.events_after(start, 100).await.unwrap();
    let changes = t.store.changes_after(start, 100).await.unwrap();
    assert!(
        events.iter().all(|e| e.after.is_some()),
        "events carry bodies"
    );
    assert!(changes
        .iter()
        .all(|c| c.before.is_none() && c.after.is_none()));
    let what = |e: &isthmus_core::resources::Event| {
        (
            e.seq,
            e.action.clone(),
            e.resource_id.clone(),
            e.project_id,
            e.actor.clone(),
        )
    };
    assert_eq!(
        changes.iter().map(what).collect::<Vec<_>>(),
        events.iter().map(what).collect::<Vec<_>>()
    );
    let one = t.store.changes_after(start, 1).await.unwrap();
    assert_eq!(one.len(), 1, "the limit holds");
}
