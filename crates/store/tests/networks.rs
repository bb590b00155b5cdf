//! Networks in the SQLite store: the create rules hold under concurrency, and what was
//! written can be read back.

#[macro_use]
mod common;

use isthmus_core::resources::Network;
use isthmus_store::api::{Api, Env};
use std::sync::Arc;

use common::*;
use isthmus_core::state::NetworkStatus;
use isthmus_core::{CoreError, ProjectId};
use isthmus_store::{PageRequest, StoreError};

on_both_backends!(a_created_network_can_be_read_back_and_listed);
async fn a_created_network_can_be_read_back_and_listed(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let created = Api::<Network>::new(t.store.docs())
        .create(
            &alice(),
            p,
            &network_req("prod", "10.10.0.0/16"),
            &Env::default(),
            None,
        )
        .await
        .unwrap();
    assert!(!created.replayed);
    let n = created.resource;
    assert_eq!(n.status, NetworkStatus::Provisioning);
    assert_eq!(n.version, 1);

    assert_eq!(
        Api::<Network>::new(t.store.docs())
            .get(p, n.id.as_id())
            .await
            .unwrap(),
        n
    );
    let page = Api::<Network>::new(t.store.docs())
        .list(p, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.items, vec![n]);
    assert_eq!(page.next_cursor, None);
}

on_both_backends!(of_twenty_concurrent_overlapping_creates_exactly_one_wins);
async fn of_twenty_concurrent_overlapping_creates_exactly_one_wins(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let store = Arc::new(t.store.clone());
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            // Every request overlaps every other: all are inside 10.20.0.0/16.
            let cidr = if i % 2 == 0 {
                "10.20.0.0/16"
            } else {
                "10.20.0.0/24"
            };
            tokio::spawn(async move {
                Api::<Network>::new(store.docs())
                    .create(
                        &alice(),
                        p,
                        &network_req(&format!("n{i}"), cidr),
                        &Env::default(),
                        None,
                    )
                    .await
            })
        })
        .collect();
    let mut won = 0;
    let mut conflicts = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::Core(CoreError::Conflict { rule, .. })) => {
                assert_eq!(rule, "network-overlap");
                conflicts += 1;
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!((won, conflicts), (1, 19));
    let stored = Api::<Network>::new(t.store.docs())
        .list(p, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(stored.items.len(), 1);
    let events = t
        .store
        .list_events(p, &PageRequest::default())
        .await
        .unwrap();
    let creates: Vec<_> = events
        .items
        .iter()
        .filter(|e| e.action == "network.create")
        .collect();
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].resource_id, stored.items[0].id.to_string());
}

on_both_backends!(concurrent_creates_that_do_not_overlap_all_succeed);
async fn concurrent_creates_that_do_not_overlap_all_succeed(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = t.store.clone();
            tokio::spawn(async move {
                let req = network_req(&format!("n{i}"), &format!("10.{i}.0.0/16"));
                Api::<Network>::new(store.docs())
                    .create(&alice(), p, &req, &Env::default(), None)
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await
            .unwrap()
            .expect("non-overlapping create succeeds");
    }
    let stored = Api::<Network>::new(t.store.docs())
        .list(p, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(stored.items.len(), 20);
}

on_both_backends!(a_network_in_another_project_is_not_found);
async fn a_network_in_another_project_is_not_found(backend: Backend) {
    let t = open(backend).await;
    let mine = project(&*t.store, "mine").await;
    let theirs = project(&*t.store, "theirs").await;
    let n = network(&*t.store, theirs, "secret", "10.0.0.0/16").await;
    let err = Api::<Network>::new(t.store.docs())
        .get(mine, n.id.as_id())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Core(CoreError::NotFound {
            kind: "network",
            ..
        })
    ));
    assert!(Api::<Network>::new(t.store.docs())
        .list(mine, &PageRequest::default())
        .await
        .unwrap()
        .items
        .is_empty());
}

on_both_backends!(a_network_in_a_project_that_does_not_exist_is_not_found);
async fn a_network_in_a_project_that_does_not_exist_is_not_found(backend: Backend) {
    let t = open(backend).await;
    let missing = ProjectId(isthmus_store::ids::new_id());
    let err = Api::<Network>::new(t.store.docs())
        .create(
            &alice(),
            missing,
            &network_req("n", "10.0.0.0/16"),
            &Env::default(),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Core(CoreError::NotFound {
            kind: "project",
            ..
        })
    ));
}

on_both_backends!(the_overlap_rule_sees_every_colliding_range_among_many_networks);
/// The store reads only the networks whose range can collide with a new CIDR; the rule
/// must still see a wider network around the new one, a narrower one inside it, and
/// one at either edge, and must not be fooled by neighbours or by deleted networks.
async fn the_overlap_rule_sees_every_colliding_range_among_many_networks(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    for i in 0..200u32 {
        let cidr = format!("10.{}.{}.0/24", 100 + i / 256, i % 256);
        let req = network_req(&format!("n{i}"), &cidr);
        Api::<Network>::new(t.store.docs())
            .create(&alice(), p, &req, &Env::default(), None)
            .await
            .unwrap();
    }
    let wide = network_req("wide", "172.16.0.0/16");
    Api::<Network>::new(t.store.docs())
        .create(&alice(), p, &wide, &Env::default(), None)
        .await
        .unwrap();

    let colliding = [
        ("inside the wide one", "172.16.32.0/20", "wide"),
        // The longest claim bounds how far below a new range the search starts.
        ("the top /28 of the wide one", "172.16.255.240/28", "wide"),
        ("around the small ones", "10.100.0.0/16", "n0"),
        ("the last /28 of a range", "10.100.0.240/28", "n0"),
        ("the first /24 of the block", "10.100.199.0/24", "n199"),
    ];
    for (what, cidr, other) in colliding {
        let err = Api::<Network>::new(t.store.docs())
            .create(&alice(), p, &network_req(what, cidr), &Env::default(), None)
            .await
            .map(|c| c.resource.id)
            .unwrap_err();
        match err {
            StoreError::Core(CoreError::Conflict { rule, message, .. }) => {
                assert_eq!(rule, "network-overlap", "{what}");
                assert!(message.contains(&format!("'{other}'")), "{what}: {message}");
            }
            other => panic!("{what}: expected a conflict, got {other:?}"),
        }
    }
    // Neighbours just outside every range are free.
    for cidr in ["10.100.200.0/24", "10.101.0.0/24", "10.99.255.0/24"] {
        let req = network_req(cidr, cidr);
        Api::<Network>::new(t.store.docs())
            .create(&alice(), p, &req, &Env::default(), None)
            .await
            .unwrap();
    }
}
