//! The controller lease of several replicas on PostgreSQL: one holder at a time, renewed
//! under the same epoch, taken over with a greater epoch once it expires; a write fenced
//! by an old epoch (a leader paused past its lease) is refused with nothing written,
//! while the new leader's writes go through.

#[macro_use]
mod common;

use std::time::Duration;

use common::*;
use isthmus_core::resources::Network;
use isthmus_core::CoreError;
use isthmus_store::api::{Api, Env};
use isthmus_store::postgres::{provider_lease, PgStore, CONTROLLER};
use isthmus_store::{Store, StoreError};

const TTL: Duration = Duration::from_millis(400);

async fn replica(t: &TestStore) -> PgStore {
    PgStore::connect(t.url.as_deref().unwrap()).await.unwrap()
}

#[tokio::test]
async fn one_leader_at_a_time_and_a_stale_leaders_writes_are_refused() {
    let t = open(Backend::Postgres).await;
    let (a, b) = (replica(&t).await, replica(&t).await);
    assert_eq!(a.lease().await.unwrap(), None);

    let first = a.claim_lease("replica-a", TTL).await.unwrap();
    assert_eq!(
        (first.holder.as_str(), first.epoch, first.live),
        ("replica-a", 1, true)
    );
    let refused = b.claim_lease("replica-b", TTL).await.unwrap();
    assert_eq!(
        (refused.holder.as_str(), refused.epoch),
        ("replica-a", 1),
        "b waits"
    );
    let renewed = a.claim_lease("replica-a", TTL).await.unwrap();
    assert_eq!(renewed.epoch, 1, "a renewal keeps the epoch");
    assert_eq!(renewed.since, first.since, "and the time it was taken");
    assert!(renewed.expires_at >= first.expires_at);

    let p = project(&*t.store, "acme").await;
    let a_writes = a.fenced(first.epoch);
    Api::<Network>::new(a_writes.docs())
        .create(
            &alice(),
            p,
            &network_req("one", "10.1.0.0/16"),
            &Env::default(),
            None,
        )
        .await
        .expect("the leader writes");

    // a stops renewing (paused); once the lease expires, b takes it with a new epoch.
    tokio::time::sleep(TTL + Duration::from_millis(200)).await;
    let second = b.claim_lease("replica-b", TTL * 10).await.unwrap();
    assert_eq!((second.holder.as_str(), second.epoch), ("replica-b", 2));
    assert!(second.since > first.since);

    let before = t.store.last_event_seq().await.unwrap();
    let stale = Api::<Network>::new(a_writes.docs())
        .create(
            &alice(),
            p,
            &network_req("two", "10.2.0.0/16"),
            &Env::default(),
            None,
        )
        .await
        .unwrap_err();
    match stale {
        StoreError::Core(CoreError::Conflict { rule, message, .. }) => {
            assert_eq!(rule, "controller-lease-lost");
            assert!(
                message.contains("epoch 1") && message.contains("epoch 2"),
                "{message}"
            );
        }
        other => panic!("expected the stale write refused, got {other}"),
    }
    assert_eq!(
        t.store.last_event_seq().await.unwrap(),
        before,
        "nothing written"
    );
    // Back from its pause, a finds the lease taken and does not get it back.
    let back = a.claim_lease("replica-a", TTL).await.unwrap();
    assert_eq!((back.holder.as_str(), back.epoch), ("replica-b", 2));
    Api::<Network>::new(b.fenced(second.epoch).docs())
        .create(
            &alice(),
            p,
            &network_req("two", "10.2.0.0/16"),
            &Env::default(),
            None,
        )
        .await
        .expect("the new leader writes");

    // A leader that shuts down lets go at once: the next holder needs no wait.
    b.release_lease("replica-b").await.unwrap();
    let third = a.claim_lease("replica-a", TTL).await.unwrap();
    assert_eq!((third.holder.as_str(), third.epoch), ("replica-a", 3));
}

/// Each provider has its own lease: different replicas hold different providers, a write
/// is fenced by the lease it was decided under only, and a replica shutting down lets go
/// of every lease it holds.
#[tokio::test]
async fn provider_leases_are_held_and_fenced_independently() {
    let t = open(Backend::Postgres).await;
    let (a, b) = (replica(&t).await, replica(&t).await);
    let (aws, gcp) = (provider_lease("aws"), provider_lease("gcp"));
    let long = TTL * 10;
    let a_aws = a.claim_named_lease(&aws, "replica-a", TTL).await.unwrap();
    let b_gcp = b.claim_named_lease(&gcp, "replica-b", long).await.unwrap();
    let b_ctl = b.claim_lease("replica-b", long).await.unwrap();
    assert_eq!((a_aws.holder.as_str(), a_aws.epoch), ("replica-a", 1));
    assert_eq!((b_gcp.holder.as_str(), b_gcp.epoch), ("replica-b", 1));
    let refused = b.claim_named_lease(&aws, "replica-b", long).await.unwrap();
    assert_eq!(
        refused.holder, "replica-a",
        "aws stays with a while it lives"
    );
    let names: Vec<String> = a
        .leases()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(names, [CONTROLLER.to_string(), aws.clone(), gcp.clone()]);

    let p = project(&*t.store, "acme").await;
    let a_writes = a.fenced_by(&aws, a_aws.epoch);
    // a's aws lease expires; its aws writes are refused, b's gcp writes go on.
    tokio::time::sleep(TTL + Duration::from_millis(200)).await;
    let stale = Api::<Network>::new(a_writes.docs())
        .create(
            &alice(),
            p,
            &network_req("one", "10.1.0.0/16"),
            &Env::default(),
            None,
        )
        .await
        .unwrap_err();
    match stale {
        StoreError::Core(CoreError::Conflict { rule, message, .. }) => {
            assert_eq!(rule, "controller-lease-lost");
            assert!(message.contains("provider:aws"), "{message}");
        }
        other => panic!("expected the stale aws write refused, got {other}"),
    }
    Api::<Network>::new(b.fenced_by(&gcp, b_gcp.epoch).docs())
        .create(
            &alice(),
            p,
            &network_req("two", "10.2.0.0/16"),
            &Env::default(),
            None,
        )
        .await
        .expect("the gcp leader writes");

    b.release_lease("replica-b").await.unwrap();
    for lease in b.leases().await.unwrap() {
        assert!(!lease.live, "released at shutdown: {lease:?}");
    }
    assert_eq!(
        b_ctl.holder, "replica-b",
        "the controller lease is another lease"
    );
}
