//! Deleting: a network with clusters is refused (naming them) and nothing changes; a
//! deleted network takes its peerings down with it; rows stay as `deleting` tombstones
//! until the controller reports them `deleted`.

#[macro_use]
mod common;

use common::*;
use isthmus_core::resources::{Cluster, Network, Peering};
use isthmus_core::state::{ClusterStatus, NetworkStatus, PeeringStatus};
use isthmus_core::CoreError;
use isthmus_store::api::{Api, Env};
use isthmus_store::{PageRequest, StoreError};

on_both_backends!(a_network_with_a_cluster_cannot_be_deleted_and_stays_as_it_was);
async fn a_network_with_a_cluster_cannot_be_deleted_and_stays_as_it_was(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "prod", "10.1.0.0/16").await;
    let c = cluster(&*t.store, p, &n, "orders-db").await;
    let events_before = t
        .store
        .list_events(p, &PageRequest::default())
        .await
        .unwrap()
        .items
        .len();

    let err = Api::<Network>::new(t.store.docs())
        .delete(&alice(), p, n.id.as_id(), None)
        .await
        .unwrap_err();
    let StoreError::Core(CoreError::Conflict { rule, message, .. }) = err else {
        panic!("expected a conflict, got {err:?}")
    };
    assert_eq!(rule, "network-has-clusters");
    assert!(
        message.contains("orders-db") && message.contains(&c.id.to_string()),
        "{message}"
    );
    assert_eq!(
        Api::<Network>::new(t.store.docs())
            .get(p, n.id.as_id())
            .await
            .unwrap(),
        n
    );
    let events_after = t
        .store
        .list_events(p, &PageRequest::default())
        .await
        .unwrap()
        .items
        .len();
    assert_eq!(
        events_after, events_before,
        "a refused delete leaves no audit event"
    );
}

on_both_backends!(deleting_a_network_takes_its_live_peerings_to_deleting);
async fn deleting_a_network_takes_its_live_peerings_to_deleting(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "prod", "10.1.0.0/16").await;
    let other = network(&*t.store, p, "dev", "10.2.0.0/16").await;
    let a = peering(&*t.store, p, &n, &["192.168.1.0/24"]).await;
    let b = peering(&*t.store, p, &n, &["192.168.2.0/24"]).await;
    let elsewhere = peering(&*t.store, p, &other, &["192.168.1.0/24"]).await;

    let deleted = Api::<Network>::new(t.store.docs())
        .delete(&alice(), p, n.id.as_id(), None)
        .await
        .unwrap();
    assert_eq!(deleted.status, NetworkStatus::Deleting);
    assert_eq!(deleted.version, n.version + 1);
    for peering in [a, b] {
        let now = Api::<Peering>::new(t.store.docs())
            .get(p, peering.id.as_id())
            .await
            .unwrap();
        assert_eq!(now.status, PeeringStatus::Deleting);
        assert_eq!(now.version, peering.version + 1);
    }
    let untouched = Api::<Peering>::new(t.store.docs())
        .get(p, elsewhere.id.as_id())
        .await
        .unwrap();
    assert_eq!(untouched, elsewhere);
    let actions: Vec<String> = t
        .store
        .list_events(p, &PageRequest::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.action)
        .filter(|a| a.ends_with(".delete"))
        .collect();
    assert_eq!(
        actions,
        ["network.delete", "peering.delete", "peering.delete"]
    );
}

on_both_backends!(a_deleting_network_accepts_no_new_peering_and_a_second_delete_changes_nothing);
async fn a_deleting_network_accepts_no_new_peering_and_a_second_delete_changes_nothing(
    backend: Backend,
) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "prod", "10.1.0.0/16").await;
    let deleting = Api::<Network>::new(t.store.docs())
        .delete(&alice(), p, n.id.as_id(), None)
        .await
        .unwrap();
    let again = Api::<Network>::new(t.store.docs())
        .delete(&alice(), p, n.id.as_id(), None)
        .await
        .unwrap();
    assert_eq!(again, deleting);
    let err = Api::<Peering>::new(t.store.docs())
        .create(
            &alice(),
            p,
            &peering_req(&n.id.to_string(), &["192.168.1.0/24"]),
            &Env::default(),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Core(CoreError::Conflict { ref rule, .. }) if rule == "network-deleting")
    );
}

on_both_backends!(a_deleted_cluster_frees_its_network_for_deletion_and_rows_stay_as_tombstones);
async fn a_deleted_cluster_frees_its_network_for_deletion_and_rows_stay_as_tombstones(
    backend: Backend,
) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "prod", "10.1.0.0/16").await;
    let c = cluster(&*t.store, p, &n, "db").await;
    let deleting = Api::<Cluster>::new(t.store.docs())
        .delete(&alice(), p, c.id.as_id(), None)
        .await
        .unwrap();
    assert_eq!(deleting.status, ClusterStatus::Deleting);
    // Still deleting: the network keeps waiting for it.
    assert!(Api::<Network>::new(t.store.docs())
        .delete(&alice(), p, n.id.as_id(), None)
        .await
        .is_err());

    report_deleted(&*t.store, &deleting).await;
    Api::<Network>::new(t.store.docs())
        .delete(&alice(), p, n.id.as_id(), None)
        .await
        .unwrap();

    let listed = Api::<Cluster>::new(t.store.docs())
        .list(p, &PageRequest::default())
        .await
        .unwrap();
    assert!(
        listed.items.is_empty(),
        "deleted clusters are not listed by default"
    );
    let with_deleted = PageRequest {
        include_deleted: true,
        ..Default::default()
    };
    let listed = Api::<Cluster>::new(t.store.docs())
        .list(p, &with_deleted)
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].status, ClusterStatus::Deleted);
    let live = t.store.list_live().await.unwrap();
    assert_eq!(live.len(), 1, "only the deleting network is still live");
    assert_eq!(live[0].id, n.id.0);
}
