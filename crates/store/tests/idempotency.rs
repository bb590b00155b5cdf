//! `Idempotency-Key` on creates: a retried request gets the first answer back; the same
//! key with another body is refused; a rule failure records nothing.

#[macro_use]
mod common;

use common::*;
use isthmus_core::resources::{Cluster, Network, Peering};
use isthmus_store::api::{Api, Env};
use isthmus_store::{IdempotencyKey, PageRequest, StoreError};

fn key(hash: &str) -> IdempotencyKey {
    IdempotencyKey {
        scope: "token:alice".into(),
        key: "retry-1".into(),
        request_hash: hash.into(),
    }
}

on_both_backends!(a_retried_create_returns_the_first_network_and_creates_nothing_new);
async fn a_retried_create_returns_the_first_network_and_creates_nothing_new(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let req = network_req("prod", "10.1.0.0/16");
    let first = Api::<Network>::new(t.store.docs())
        .create(&alice(), p, &req, &Env::default(), Some(&key("h1")))
        .await
        .unwrap();
    // The replay would fail the overlap rule if it were validated again: it must not be.
    let again = Api::<Network>::new(t.store.docs())
        .create(&alice(), p, &req, &Env::default(), Some(&key("h1")))
        .await
        .unwrap();
    assert!(!first.replayed);
    assert!(again.replayed);
    assert_eq!(again.resource, first.resource);
    let all = Api::<Network>::new(t.store.docs())
        .list(p, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1);
}

on_both_backends!(the_same_key_with_another_body_is_refused);
async fn the_same_key_with_another_body_is_refused(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    Api::<Network>::new(t.store.docs())
        .create(
            &alice(),
            p,
            &network_req("prod", "10.1.0.0/16"),
            &Env::default(),
            Some(&key("h1")),
        )
        .await
        .unwrap();
    let err = Api::<Network>::new(t.store.docs())
        .create(
            &alice(),
            p,
            &network_req("dev", "10.2.0.0/16"),
            &Env::default(),
            Some(&key("h2")),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyMismatch { key } if key == "retry-1"));
    let all = Api::<Network>::new(t.store.docs())
        .list(p, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1, "the refused request created nothing");
}

on_both_backends!(a_create_that_breaks_a_rule_does_not_use_up_its_key);
async fn a_create_that_breaks_a_rule_does_not_use_up_its_key(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let bad = Api::<Network>::new(t.store.docs())
        .create(
            &alice(),
            p,
            &network_req("prod", "8.8.8.0/24"),
            &Env::default(),
            Some(&key("h1")),
        )
        .await;
    assert!(bad.is_err());
    let good = Api::<Network>::new(t.store.docs())
        .create(
            &alice(),
            p,
            &network_req("prod", "10.1.0.0/16"),
            &Env::default(),
            Some(&key("h2")),
        )
        .await
        .unwrap();
    assert!(!good.replayed);
}

on_both_backends!(a_retried_peering_and_cluster_create_are_replayed_too);
async fn a_retried_peering_and_cluster_create_are_replayed_too(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "prod", "10.1.0.0/16").await;
    let preq = peering_req(&n.id.to_string(), &["192.168.0.0/24"]);
    let pkey = IdempotencyKey {
        key: "peering".into(),
        ..key("hp")
    };
    let first = Api::<Peering>::new(t.store.docs())
        .create(&alice(), p, &preq, &Env::default(), Some(&pkey))
        .await
        .unwrap();
    let again = Api::<Peering>::new(t.store.docs())
        .create(&alice(), p, &preq, &Env::default(), Some(&pkey))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.resource.id, first.resource.id);

    let creq = cluster_req(&n.id.to_string(), "db");
    let ckey = IdempotencyKey {
        key: "cluster".into(),
        ..key("hc")
    };
    let first = Api::<Cluster>::new(t.store.docs())
        .create(
            &alice(),
            p,
            &creq,
            &Env {
                dns_zone: "isthmus.internal".to_string(),
            },
            Some(&ckey),
        )
        .await
        .unwrap();
    let again = Api::<Cluster>::new(t.store.docs())
        .create(
            &alice(),
            p,
            &creq,
            &Env {
                dns_zone: "isthmus.internal".to_string(),
            },
            Some(&ckey),
        )
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.resource.id, first.resource.id);
    assert_eq!(
        Api::<Cluster>::new(t.store.docs())
            .list(p, &PageRequest::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}
