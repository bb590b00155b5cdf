//! Optimistic concurrency: `If-Match` on updates and deletes, and the version
//! compare-and-swap of the controller's `save_status`.

#[macro_use]
mod common;

use common::*;
use isthmus_core::resources::NetworkUpdate;
use isthmus_core::resources::{Cluster, Network, Peering};
use isthmus_core::state::{ClusterStatus, NetworkStatus, NodeStatus, PeeringStatus};
use isthmus_core::CoreError;
use isthmus_store::api::Api;
use isthmus_store::{Actor, StoreError};

fn rename(name: &str) -> NetworkUpdate {
    NetworkUpdate {
        name: Some(name.into()),
        ..Default::default()
    }
}

on_both_backends!(every_write_bumps_the_version_and_a_matching_if_match_passes);
async fn every_write_bumps_the_version_and_a_matching_if_match_passes(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "a", "10.1.0.0/16").await;
    let renamed = Api::<Network>::new(t.store.docs())
        .update(&alice(), p, n.id.as_id(), &rename("b"), Some(1))
        .await
        .unwrap();
    assert_eq!(renamed.version, 2);
    assert_eq!(renamed.name, "b");
    assert_eq!(
        renamed.generation, n.generation,
        "a rename is not a spec change"
    );
    assert_eq!(
        Api::<Network>::new(t.store.docs())
            .get(p, n.id.as_id())
            .await
            .unwrap(),
        renamed
    );
}

on_both_backends!(a_stale_if_match_is_refused_and_leaves_the_row_unchanged);
async fn a_stale_if_match_is_refused_and_leaves_the_row_unchanged(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "a", "10.1.0.0/16").await;
    Api::<Network>::new(t.store.docs())
        .update(&alice(), p, n.id.as_id(), &rename("b"), None)
        .await
        .unwrap();
    let before = Api::<Network>::new(t.store.docs())
        .get(p, n.id.as_id())
        .await
        .unwrap();

    let err = Api::<Network>::new(t.store.docs())
        .update(&alice(), p, n.id.as_id(), &rename("c"), Some(1))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Core(CoreError::VersionMismatch {
            expected: 1,
            actual: 2,
            ..
        })
    ));
    let err = Api::<Network>::new(t.store.docs())
        .delete(&alice(), p, n.id.as_id(), Some(1))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Core(CoreError::VersionMismatch { .. })
    ));
    assert_eq!(
        Api::<Network>::new(t.store.docs())
            .get(p, n.id.as_id())
            .await
            .unwrap(),
        before
    );
}

on_both_backends!(save_status_moves_the_status_and_copies_only_controller_fields);
async fn save_status_moves_the_status_and_copies_only_controller_fields(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "a", "10.1.0.0/16").await;
    let mut observed = n.clone();
    observed.status = NetworkStatus::Active;
    observed.status_message = "ready".into();
    observed.provider_network_id = Some("vpc-123".into());
    observed.observed_generation = n.generation;
    observed.name = "sneaky rename".into(); // not the controller's to change

    let saved = Api::<Network>::new(t.store.docs())
        .save_status(&Actor::controller(), &observed)
        .await
        .unwrap();
    assert_eq!(saved.status, NetworkStatus::Active);
    assert_eq!(saved.provider_network_id.as_deref(), Some("vpc-123"));
    assert_eq!(saved.observed_generation, 1);
    assert_eq!(saved.name, "a");
    assert_eq!(saved.version, 2);
    assert_eq!(
        Api::<Network>::new(t.store.docs())
            .get(p, n.id.as_id())
            .await
            .unwrap(),
        saved
    );
}

on_both_backends!(save_status_refuses_an_illegal_transition);
async fn save_status_refuses_an_illegal_transition(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "a", "10.1.0.0/16").await;
    let mut observed = n.clone();
    observed.status = NetworkStatus::Deleted; // provisioning cannot jump to deleted
    let err = Api::<Network>::new(t.store.docs())
        .save_status(&Actor::controller(), &observed)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Core(CoreError::IllegalTransition {
            kind: "network",
            ..
        })
    ));
    assert_eq!(
        Api::<Network>::new(t.store.docs())
            .get(p, n.id.as_id())
            .await
            .unwrap(),
        n
    );
}

on_both_backends!(save_status_refuses_a_stale_version_so_a_newer_spec_is_never_overwritten);
async fn save_status_refuses_a_stale_version_so_a_newer_spec_is_never_overwritten(
    backend: Backend,
) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "a", "10.1.0.0/16").await;
    // The controller read `n`; meanwhile a user renames the network.
    let renamed = Api::<Network>::new(t.store.docs())
        .update(&alice(), p, n.id.as_id(), &rename("b"), None)
        .await
        .unwrap();
    let mut observed = n.clone();
    observed.status = NetworkStatus::Active;
    let err = Api::<Network>::new(t.store.docs())
        .save_status(&Actor::controller(), &observed)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Core(CoreError::VersionMismatch {
            expected: 1,
            actual: 2,
            ..
        })
    ));
    assert_eq!(
        Api::<Network>::new(t.store.docs())
            .get(p, n.id.as_id())
            .await
            .unwrap(),
        renamed
    );
}

on_both_backends!(save_status_moves_cluster_nodes_and_peering_provider_ids);
async fn save_status_moves_cluster_nodes_and_peering_provider_ids(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "a", "10.1.0.0/16").await;
    let c = cluster(&*t.store, p, &n, "db").await;
    let mut observed = c.clone();
    observed.status = ClusterStatus::Running;
    observed.nodes[0].status = NodeStatus::Running;
    observed.nodes[0].ip = "10.9.9.9".parse().unwrap(); // addresses are spec: ignored
    let saved = Api::<Cluster>::new(t.store.docs())
        .save_status(&Actor::controller(), &observed)
        .await
        .unwrap();
    assert_eq!(saved.status, ClusterStatus::Running);
    assert_eq!(saved.nodes[0].status, NodeStatus::Running);
    assert_eq!(saved.nodes[0].ip, c.nodes[0].ip);

    let peering = peering(&*t.store, p, &n, &["192.168.0.0/24"]).await;
    let mut observed = peering.clone();
    observed.status = PeeringStatus::PendingAcceptance;
    observed.provider_peering_id = Some("pcx-1".into());
    observed.customer_actions.clear(); // derived from the fields: not the controller's to set
    let saved = Api::<Peering>::new(t.store.docs())
        .save_status(&Actor::controller(), &observed)
        .await
        .unwrap();
    assert_eq!(saved.status, PeeringStatus::PendingAcceptance);
    assert_eq!(saved.provider_peering_id.as_deref(), Some("pcx-1"));
    // The customer's commands now name the connection the provider assigned.
    assert!(!saved.customer_actions.is_empty());
    assert!(saved.customer_actions[0].command.contains("pcx-1"));
    assert!(!peering.customer_actions[0].command.contains("pcx-1"));
}
