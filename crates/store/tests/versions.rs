//! Optimistic concurrency: `If-Match` on updates and deletes, and the version
//! compare-and-swap of the controller's `save_status`.

mod common;

use common::*;
use isthmus_core::resources::NetworkUpdate;
use isthmus_core::state::{ClusterStatus, NetworkStatus, NodeStatus, PeeringStatus};
use isthmus_core::CoreError;
use isthmus_store::{Actor, Resource, Store, StoreError};

fn rename(name: &str) -> NetworkUpdate {
    NetworkUpdate {
        name: Some(name.into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn every_write_bumps_the_version_and_a_matching_if_match_passes() {
    let t = open().await;
    let p = project(&t.store, "acme").await;
    let n = t
        .store
        .create_network(&alice(), p, &network_req("a", "10.1.0.0/16"), None)
        .await
        .unwrap()
        .resource;
    let renamed = t
        .store
        .update_network(&alice(), p, n.id, &rename("b"), Some(1))
        .await
        .unwrap();
    assert_eq!(renamed.version, 2);
    assert_eq!(renamed.name, "b");
    assert_eq!(
        renamed.generation, n.generation,
        "a rename is not a spec change"
    );
    assert_eq!(t.store.get_network(p, n.id).await.unwrap(), renamed);
}

#[tokio::test]
async fn a_stale_if_match_is_refused_and_leaves_the_row_unchanged() {
    let t = open().await;
    let p = project(&t.store, "acme").await;
    let n = t
        .store
        .create_network(&alice(), p, &network_req("a", "10.1.0.0/16"), None)
        .await
        .unwrap()
        .resource;
    t.store
        .update_network(&alice(), p, n.id, &rename("b"), None)
        .await
        .unwrap();
    let before = t.store.get_network(p, n.id).await.unwrap();

    let err = t
        .store
        .update_network(&alice(), p, n.id, &rename("c"), Some(1))
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
    let err = t
        .store
        .delete_network(&alice(), p, n.id, Some(1))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Core(CoreError::VersionMismatch { .. })
    ));
    assert_eq!(t.store.get_network(p, n.id).await.unwrap(), before);
}

#[tokio::test]
async fn save_status_moves_the_status_and_copies_only_controller_fields() {
    let t = open().await;
    let p = project(&t.store, "acme").await;
    let n = t
        .store
        .create_network(&alice(), p, &network_req("a", "10.1.0.0/16"), None)
        .await
        .unwrap()
        .resource;
    let mut observed = n.clone();
    observed.status = NetworkStatus::Active;
    observed.status_message = "ready".into();
    observed.provider_network_id = Some("vpc-123".into());
    observed.observed_generation = n.generation;
    observed.name = "sneaky rename".into(); // not the controller's to change

    let saved = t
        .store
        .save_status(&Actor::controller(), &Resource::Network(observed))
        .await
        .unwrap();
    let Resource::Network(saved) = saved else {
        panic!("a network was saved")
    };
    assert_eq!(saved.status, NetworkStatus::Active);
    assert_eq!(saved.provider_network_id.as_deref(), Some("vpc-123"));
    assert_eq!(saved.observed_generation, 1);
    assert_eq!(saved.name, "a");
    assert_eq!(saved.version, 2);
    assert_eq!(t.store.get_network(p, n.id).await.unwrap(), saved);
}

#[tokio::test]
async fn save_status_refuses_an_illegal_transition() {
    let t = open().await;
    let p = project(&t.store, "acme").await;
    let n = t
        .store
        .create_network(&alice(), p, &network_req("a", "10.1.0.0/16"), None)
        .await
        .unwrap()
        .resource;
    let mut observed = n.clone();
    observed.status = NetworkStatus::Deleted; // provisioning cannot jump to deleted
    let err = t
        .store
        .save_status(&Actor::controller(), &Resource::Network(observed))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Core(CoreError::IllegalTransition {
            kind: "network",
            ..
        })
    ));
    assert_eq!(t.store.get_network(p, n.id).await.unwrap(), n);
}

#[tokio::test]
async fn save_status_refuses_a_stale_version_so_a_newer_spec_is_never_overwritten() {
    let t = open().await;
    let p = project(&t.store, "acme").await;
    let n = t
        .store
        .create_network(&alice(), p, &network_req("a", "10.1.0.0/16"), None)
        .await
        .unwrap()
        .resource;
    // The controller read `n`; meanwhile a user renames the network.
    let renamed = t
        .store
        .update_network(&alice(), p, n.id, &rename("b"), None)
        .await
        .unwrap();
    let mut observed = n.clone();
    observed.status = NetworkStatus::Active;
    let err = t
        .store
        .save_status(&Actor::controller(), &Resource::Network(observed))
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
    assert_eq!(t.store.get_network(p, n.id).await.unwrap(), renamed);
}

#[tokio::test]
async fn save_status_moves_cluster_nodes_and_peering_provider_ids() {
    let t = open().await;
    let p = project(&t.store, "acme").await;
    let n = t
        .store
        .create_network(&alice(), p, &network_req("a", "10.1.0.0/16"), None)
        .await
        .unwrap()
        .resource;
    let c = t
        .store
        .create_cluster(
            &alice(),
            p,
            &cluster_req(&n.id.to_string(), "db"),
            "isthmus.internal",
            None,
        )
        .await
        .unwrap()
        .resource;
    let mut observed = c.clone();
    observed.status = ClusterStatus::Running;
    observed.nodes[0].status = NodeStatus::Running;
    observed.nodes[0].ip = "10.9.9.9".parse().unwrap(); // addresses are spec: ignored
    let Resource::Cluster(saved) = t
        .store
        .save_status(&Actor::controller(), &Resource::Cluster(observed))
        .await
        .unwrap()
    else {
        panic!("a cluster was saved")
    };
    assert_eq!(saved.status, ClusterStatus::Running);
    assert_eq!(saved.nodes[0].status, NodeStatus::Running);
    assert_eq!(saved.nodes[0].ip, c.nodes[0].ip);

    let peering = t
        .store
        .create_peering(
            &alice(),
            p,
            &peering_req(&n.id.to_string(), &["192.168.0.0/24"]),
            None,
        )
        .await
        .unwrap()
        .resource;
    let mut observed = peering.clone();
    observed.status = PeeringStatus::PendingAcceptance;
    observed.provider_peering_id = Some("pcx-1".into());
    observed.customer_actions.clear(); // derived from the fields: not the controller's to set
    let Resource::Peering(saved) = t
        .store
        .save_status(&Actor::controller(), &Resource::Peering(observed))
        .await
        .unwrap()
    else {
        panic!("a peering was saved")
    };
    assert_eq!(saved.status, PeeringStatus::PendingAcceptance);
    assert_eq!(saved.provider_peering_id.as_deref(), Some("pcx-1"));
    // The customer's commands now name the connection the provider assigned.
    assert!(!saved.customer_actions.is_empty());
    assert!(saved.customer_actions[0].command.contains("pcx-1"));
    assert!(!peering.customer_actions[0].command.contains("pcx-1"));
}
