//! The process's one follower of the audit log: every subscriber sees every change once,
//! in order, without the objects' bodies; one that starts behind what the feed holds
//! reads the rest from the store; and `caught_up` covers a write made by another process
//! on the same database (as another replica would).

use std::sync::Arc;
use std::time::Duration;

use isthmus_core::resources::{Event, ProjectCreate};
use isthmus_server::audit_feed::{AuditFeed, FeedPoke, Next, Subscription};
use isthmus_store::sqlite::SqliteStore;
use isthmus_store::{Actor, Store};

const WAIT: Duration = Duration::from_secs(10);

async fn open(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(
        SqliteStore::open(&dir.path().join("isthmus.db"))
            .await
            .expect("open the store"),
    )
}

async fn project(store: &dyn Store, name: &str) -> String {
    let p = store
        .create_project(
            &Actor("test".into()),
            &ProjectCreate { name: name.into() },
            None,
        )
        .await
        .expect("create a project");
    p.id.to_string()
}

/// The next `n` changes `sub` is handed, waiting at most [`WAIT`] for them.
async fn take(sub: &mut Subscription, n: usize) -> Vec<Arc<Event>> {
    let mut got = Vec::new();
    while got.len() < n {
        match tokio::time::timeout(WAIT, sub.next()).await {
            Ok(Next::Changes(changes)) => got.extend(changes),
            Ok(Next::Failed) => panic!("the feed could not read the log"),
            Err(_) => panic!("only {} of {n} changes arrived: {got:?}", got.len()),
        }
    }
    got
}

#[tokio::test]
async fn every_subscriber_sees_every_change_once_in_order_without_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let poke = FeedPoke::default();
    let (feed, _task) = AuditFeed::start(store.clone(), poke.clone()).await.unwrap();
    let (mut first, mut second) = (feed.subscribe(), feed.subscribe());

    let mut made = Vec::new();
    for name in ["a", "b", "c"] {
        made.push(project(store.as_ref(), name).await);
        poke.poke();
    }

    for sub in [&mut first, &mut second] {
        let got = take(sub, 3).await;
        let ids: Vec<_> = got.iter().map(|e| e.resource_id.clone()).collect();
        assert_eq!(ids, made, "each change once, in commit order");
        assert!(got.windows(2).all(|w| w[0].seq < w[1].seq));
        assert!(got.iter().all(|e| e.action == "project.create"));
        assert!(got.iter().all(|e| e.before.is_none() && e.after.is_none()));
        assert_eq!(sub.seq(), got.last().unwrap().seq);
    }
}

#[tokio::test]
async fn a_subscriber_behind_the_feed_reads_the_rest_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let from = store.last_event_seq().await.unwrap();
    let before = project(store.as_ref(), "before").await;
    // The feed starts after that change: it never held it.
    let (feed, _task) = AuditFeed::start(store.clone(), FeedPoke::default())
        .await
        .unwrap();
    let mut sub = feed.subscribe_from(from);
    let after = project(store.as_ref(), "after").await;
    feed.poke();

    let ids: Vec<_> = take(&mut sub, 2)
        .await
        .iter()
        .map(|e| e.resource_id.clone())
        .collect();
    assert_eq!(ids, [before, after]);
}

#[tokio::test]
async fn caught_up_covers_a_write_made_by_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let (feed, _task) = AuditFeed::start(store.clone(), FeedPoke::default())
        .await
        .unwrap();
    let mut sub = feed.subscribe();
    // Another handle on the same database pokes nothing here: the feed finds the write
    // by reading the log.
    let elsewhere = open(&dir).await;
    let id = project(elsewhere.as_ref(), "elsewhere").await;
    let seq = elsewhere.last_event_seq().await.unwrap();

    assert!(feed.caught_up(WAIT).await.unwrap() >= seq);
    let got = take(&mut sub, 1).await;
    assert_eq!(got[0].resource_id, id);
    assert_eq!(got[0].seq, seq);
}
