//! `Idempotency-Key` on creates: a retried request gets the first answer back; the same
//! key with another body is refused; a rule failure records nothing.

mod common;

use common::*;
use isthmus_store::{IdempotencyKey, PageRequest, Store, StoreError};

fn key(hash: &str) -> IdempotencyKey {
    IdempotencyKey {
        scope: "token:alice".into(),
        key: "retry-1".into(),
        request_hash: hash.into(),
    }
}

#[tokio::test]
async fn a_retried_create_returns_the_first_network_and_creates_nothing_new() {
    let t = open().await;
    let p = project(&t.store, "acme").await;
    let req = network_req("prod", "10.1.0.0/16");
    let first = t
        .store
        .create_network(&alice(), p, &req, Some(&key("h1")))
        .await
        .unwrap();
    // The replay would fail the overlap rule if it were validated again: it must not be.
    let again = t
        .store
        .create_network(&alice(), p, &req, Some(&key("h1")))
        .await
        .unwrap();
    assert!(!first.replayed);
    assert!(again.replayed);
    assert_eq!(again.resource, first.resource);
    let all = t
        .store
        .list_networks(p, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused() {
    let t = open().await;
    let p = project(&t.store, "acme").await;
    t.store
        .create_network(
            &alice(),
            p,
            &network_req("prod", "10.1.0.0/16"),
            Some(&key("h1")),
        )
        .await
        .unwrap();
    let err = t
        .store
        .create_network(
            &alice(),
            p,
            &network_req("dev", "10.2.0.0/16"),
            Some(&key("h2")),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyMismatch { key } if key == "retry-1"));
    let all = t
        .store
        .list_networks(p, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1, "the refused request created nothing");
}

#[tokio::test]
async fn a_create_that_breaks_a_rule_does_not_use_up_its_key() {
    let t = open().await;
    let p = project(&t.store, "acme").await;
    let bad = t
        .store
        .create_network(
            &alice(),
            p,
            &network_req("prod", "8.8.8.0/24"),
            Some(&key("h1")),
        )
        .await;
    assert!(bad.is_err());
    let good = t
        .store
        .create_network(
            &alice(),
            p,
            &network_req("prod", "10.1.0.0/16"),
            Some(&key("h2")),
        )
        .await
        .unwrap();
    assert!(!good.replayed);
}

#[tokio::test]
async fn a_retried_peering_and_cluster_create_are_replayed_too() {
    let t = open().await;
    let p = project(&t.store, "acme").await;
    let n = t
        .store
        .create_network(&alice(), p, &network_req("prod", "10.1.0.0/16"), None)
        .await
        .unwrap()
        .resource;
    let preq = peering_req(&n.id.to_string(), &["192.168.0.0/24"]);
    let pkey = IdempotencyKey {
        key: "peering".into(),
        ..key("hp")
    };
    let first = t
        .store
        .create_peering(&alice(), p, &preq, Some(&pkey))
        .await
        .unwrap();
    let again = t
        .store
        .create_peering(&alice(), p, &preq, Some(&pkey))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.resource.id, first.resource.id);

    let creq = cluster_req(&n.id.to_string(), "db");
    let ckey = IdempotencyKey {
        key: "cluster".into(),
        ..key("hc")
    };
    let first = t
        .store
        .create_cluster(&alice(), p, &creq, "isthmus.internal", Some(&ckey))
        .await
        .unwrap();
    let again = t
        .store
        .create_cluster(&alice(), p, &creq, "isthmus.internal", Some(&ckey))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.resource.id, first.resource.id);
    assert_eq!(
        t.store
            .list_clusters(p, &PageRequest::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}
