//! Rules that only one of two concurrent requests may pass, beyond network overlap:
//! peering routes on one network, and node addresses of clusters.

#[macro_use]
mod common;

use isthmus_core::resources::{Cluster, Network, Peering};
use isthmus_store::api::{Api, Env};
use std::collections::HashSet;

use common::*;
use isthmus_core::{CoreError, ProjectId};
use isthmus_store::{PageRequest, StoreError};

on_both_backends!(of_concurrent_peerings_claiming_the_same_route_exactly_one_wins);
async fn of_concurrent_peerings_claiming_the_same_route_exactly_one_wins(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "prod", "10.1.0.0/16").await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = t.store.clone();
            let req = peering_req(&n.id.to_string(), &["192.168.0.0/24"]);
            tokio::spawn(async move {
                Api::<Peering>::new(store.docs())
                    .create(&alice(), p, &req, &Env::default(), None)
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::Core(CoreError::Conflict { rule, .. })) => {
                assert_eq!(rule, "route-taken")
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(
        Api::<Peering>::new(t.store.docs())
            .list(p, &PageRequest::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

on_both_backends!(concurrent_clusters_on_one_network_never_share_a_node_address);
async fn concurrent_clusters_on_one_network_never_share_a_node_address(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "prod", "10.1.0.0/24").await;
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let store = t.store.clone();
            let req = cluster_req(&n.id.to_string(), &format!("db{i}"));
            tokio::spawn(async move {
                Api::<Cluster>::new(store.docs())
                    .create(
                        &alice(),
                        p,
                        &req,
                        &Env {
                            dns_zone: "isthmus.internal".to_string(),
                        },
                        None,
                    )
                    .await
            })
        })
        .collect();
    let mut ips = HashSet::new();
    for task in tasks {
        let cluster = task
            .await
            .unwrap()
            .expect("room for every cluster")
            .resource;
        for node in cluster.nodes {
            assert!(ips.insert(node.ip), "{} handed out twice", node.ip);
        }
    }
    assert_eq!(ips.len(), 12);
}

on_both_backends!(abandoned_requests_leave_whole_writes_or_nothing_and_never_block_the_writer);
async fn abandoned_requests_leave_whole_writes_or_nothing_and_never_block_the_writer(
    backend: Backend,
) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    // Callers that hang up mid-request (aborted at whatever point they reached).
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = t.store.clone();
            let req = network_req(&format!("n{i}"), &format!("10.{i}.0.0/16"));
            tokio::spawn(async move {
                Api::<Network>::new(store.docs())
                    .create(&alice(), p, &req, &Env::default(), None)
                    .await
            })
        })
        .collect();
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        let _ = task.await;
    }
    let after = Api::<Network>::new(t.store.docs())
        .create(
            &alice(),
            p,
            &network_req("later", "10.99.0.0/16"),
            &Env::default(),
            None,
        )
        .await;
    assert!(after.is_ok(), "the writer is free again: {after:?}");
    assert_whole_writes(&t, p).await;
}

on_both_backends!(
    writes_cancelled_at_any_point_never_wedge_the_writer,
    multi_thread
);
/// Callers dropped at every point of a write — before `BEGIN`, inside the transaction,
/// during the commit — must never leave the single writer connection stuck in a
/// transaction: the next write still succeeds, and what was written is whole.
async fn writes_cancelled_at_any_point_never_wedge_the_writer(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    for round in 0..60u32 {
        let store = t.store.clone();
        let req = network_req(&format!("r{round}"), &format!("10.{round}.0.0/16"));
        let task = tokio::spawn(async move {
            Api::<Network>::new(store.docs())
                .create(&alice(), p, &req, &Env::default(), None)
                .await
        });
        // Spread the cancellations over the life of a write (about a millisecond).
        tokio::time::sleep(std::time::Duration::from_micros(u64::from(round % 20) * 60)).await;
        task.abort();
        let _ = task.await;
        let probe = network_req(
            &format!("probe{round}"),
            &format!("10.{}.0.0/16", 100 + round),
        );
        let after = Api::<Network>::new(t.store.docs())
            .create(&alice(), p, &probe, &Env::default(), None)
            .await;
        assert!(
            after.is_ok(),
            "round {round}: the writer is free again: {after:?}"
        );
    }
    assert_whole_writes(&t, p).await;
}

/// Every stored network has its audit event and vice versa. A cancelled caller's COMMIT
/// may already be on its way to the database (PostgreSQL finishes it without the caller),
/// and the two reads are separate statements: such a late write is awaited, a bounded
/// number of times, rather than raced.
async fn assert_whole_writes(t: &TestStore, p: ProjectId) {
    let (mut stored, mut logged) = networks_and_events(t, p).await;
    for _ in 0..50 {
        if stored == logged {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        (stored, logged) = networks_and_events(t, p).await;
    }
    assert_eq!(
        stored, logged,
        "every stored network has its audit event and vice versa"
    );
}

/// The ids of the project's stored networks, and of those with a `network.create` event.
async fn networks_and_events(t: &TestStore, p: ProjectId) -> (HashSet<String>, HashSet<String>) {
    let all = PageRequest {
        limit: 1000,
        ..PageRequest::default()
    };
    let networks = Api::<Network>::new(t.store.docs())
        .list(p, &all)
        .await
        .unwrap()
        .items;
    let events = t.store.list_events(p, &all).await.unwrap().items;
    let logged = events
        .iter()
        .filter(|e| e.action == "network.create")
        .map(|e| e.resource_id.clone())
        .collect();
    let stored = networks.iter().map(|n| n.id.to_string()).collect();
    (stored, logged)
}
