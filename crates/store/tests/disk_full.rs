//! A full disk fails the write that hits it, and only that write: the writer is left
//! clean, writes succeed again as soon as space is back, and `write_health` says whether
//! the store can write. Runs on a small tmpfs of its own (root).

mod common;

use common::tmpfs::Tmpfs;
use common::*;
use isthmus_core::resources::Network;
use isthmus_core::resources::ProjectCreate;
use isthmus_store::api::{Api, Env};
use isthmus_store::sqlite::SqliteStore;
use isthmus_store::{PageRequest, Store, StoreError, Unavailability};

fn assert_cannot_write(err: StoreError) {
    match err {
        StoreError::Unavailable {
            kind: Unavailability::Storage,
            reason,
            ..
        } => assert!(reason.contains("full"), "reason: {reason}"),
        other => panic!("expected the store to be unable to write, got: {other}"),
    }
}

#[tokio::test]
async fn a_full_disk_fails_each_write_cleanly_and_writes_resume_when_space_returns() {
    let disk = Tmpfs::mount("8m");
    let store = SqliteStore::open(&disk.path().join("isthmus.db"))
        .await
        .expect("open store");
    let p = project(&store, "acme").await;
    store.write_health().await.expect("a new store can write");

    let filler = disk.fill();
    let err = Api::<Network>::new(store.docs())
        .create(
            &alice(),
            p,
            &network_req("web", "10.1.0.0/16"),
            &Env::default(),
            None,
        )
        .await
        .expect_err("no room for the write");
    assert_cannot_write(err);
    // The next writes fail the same way: the failed commit did not wedge the writer.
    for name in ["second", "third"] {
        let err = store
            .create_project(&alice(), &ProjectCreate { name: name.into() }, None)
            .await
            .expect_err("still no room");
        assert_cannot_write(err);
    }
    assert_cannot_write(
        store
            .write_health()
            .await
            .expect_err("unhealthy while full"),
    );
    // Nothing of the failed writes was kept, and reads still work.
    let networks = Api::<Network>::new(store.docs())
        .list(p, &PageRequest::default())
        .await
        .unwrap();
    assert!(networks.items.is_empty(), "{networks:?}");
    assert_eq!(store.get_project(p).await.unwrap().name, "acme");

    std::fs::remove_file(filler).expect("free the space");
    store
        .write_health()
        .await
        .expect("healthy once space is back");
    let network = Api::<Network>::new(store.docs())
        .create(
            &alice(),
            p,
            &network_req("web", "10.1.0.0/16"),
            &Env::default(),
            None,
        )
        .await
        .expect("writes work again")
        .resource;
    assert_eq!(
        Api::<Network>::new(store.docs())
            .get(p, network.id.as_id())
            .await
            .unwrap()
            .name,
        "web"
    );
    store.close().await;
}
