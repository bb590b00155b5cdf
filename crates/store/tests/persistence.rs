//! The database is a file: what was committed is there after reopening it.

#[macro_use]
mod common;

use common::*;
use isthmus_core::resources::Role;
use isthmus_core::resources::{Network, Peering};
use isthmus_store::api::{Api, Env};
use isthmus_store::PageRequest;

on_both_backends!(data_survives_closing_and_reopening_the_file);
async fn data_survives_closing_and_reopening_the_file(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "prod", "10.1.0.0/16").await;
    let peering = Api::<Peering>::new(t.store.docs())
        .create(
            &alice(),
            p,
            &peering_req(&n.id.to_string(), &["192.168.0.0/24"]),
            &Env::default(),
            None,
        )
        .await
        .unwrap()
        .resource;
    let token = t
        .store
        .create_token(&alice(), "ci", false, "hash-1", Some((p, Role::Operator)))
        .await
        .unwrap();
    let events = t
        .store
        .list_events(p, &PageRequest::default())
        .await
        .unwrap();
    t.close().await;

    let reopened = t.reopen().await;
    assert_eq!(
        Api::<Network>::new(reopened.docs())
            .get(p, n.id.as_id())
            .await
            .unwrap(),
        n
    );
    assert_eq!(
        Api::<Peering>::new(reopened.docs())
            .get(p, peering.id.as_id())
            .await
            .unwrap(),
        peering
    );
    assert_eq!(reopened.token_by_hash("hash-1").await.unwrap(), Some(token));
    assert_eq!(
        reopened
            .list_events(p, &PageRequest::default())
            .await
            .unwrap(),
        events
    );
    let live = reopened.list_live().await.unwrap();
    assert_eq!(
        live.iter().map(|k| k.kind).collect::<Vec<_>>(),
        ["network", "peering"]
    );
    // The overlap rule still sees the reopened state.
    assert!(Api::<Network>::new(reopened.docs())
        .create(
            &alice(),
            p,
            &network_req("again", "10.1.0.0/24"),
            &Env::default(),
            None
        )
        .await
        .is_err());
}

/// Commits reach the database file itself within moments, copied by the store's own
/// checkpoints rather than by a writer's commit (whose automatic checkpoint only runs
/// once the WAL holds thousands of pages, far more than these writes make). In WAL mode
/// only a checkpoint writes the database file, so its modification time tells.
#[tokio::test]
async fn committed_writes_reach_the_database_file_without_a_writer_checkpoint() {
    let t = open(Backend::Sqlite).await;
    let p = project(&*t.store, "acme").await;
    // Whatever opening and the project left in the WAL is copied first.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let written = || {
        std::fs::metadata(t.path())
            .and_then(|m| m.modified())
            .expect("database file's modification time")
    };
    let before = written();
    for i in 0..20u32 {
        let cidr = format!("10.{}.{}.0/24", i / 256, i % 256);
        network(&*t.store, p, &format!("n{i}"), &cidr).await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while written() == before && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        written() > before,
        "20 networks never reached the database file (last written {before:?})"
    );
}
