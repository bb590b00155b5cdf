//! Public endpoint addresses are unique across the installation: clusters of different
//! projects enabling public access at the same time never share an address, turning
//! access off (or deleting the cluster) gives the address back, and a restart keeps it.

#[macro_use]
mod common;

use isthmus_core::resources::Cluster;
use isthmus_store::api::{Api, Env};
use std::collections::HashSet;

use common::*;
use isthmus_core::resources::{AllowlistEntryInput, ClusterUpdate, PublicAccessInput};
use isthmus_core::rules;
use isthmus_core::state::ClusterStatus;
use isthmus_store::{Actor, Store};

const ZONE: &str = "isthmus.internal";

fn public(enabled: bool, cidrs: &[&str]) -> ClusterUpdate {
    ClusterUpdate {
        public_access: Some(PublicAccessInput {
            enabled,
            allowlist: cidrs
                .iter()
                .map(|c| AllowlistEntryInput {
                    cidr: c.to_string(),
                    comment: String::new(),
                    expires_at: None,
                })
                .collect(),
        }),
        ..Default::default()
    }
}

/// A project with one network and a cluster on it, public access off.
async fn cluster_in(
    store: &dyn Store,
    project_name: &str,
) -> (isthmus_core::ProjectId, isthmus_core::resources::Cluster) {
    let p = project(store, project_name).await;
    let n = network(store, p, "prod", "10.1.0.0/16").await;
    let c = Api::<Cluster>::new(store.docs())
        .create(
            &alice(),
            p,
            &cluster_req(&n.id.to_string(), "db"),
            &Env {
                dns_zone: ZONE.to_string(),
            },
            None,
        )
        .await
        .unwrap()
        .resource;
    (p, c)
}

on_both_backends!(concurrent_public_enables_across_projects_never_share_an_address);
async fn concurrent_public_enables_across_projects_never_share_an_address(backend: Backend) {
    let t = open(backend).await;
    let mut clusters = Vec::new();
    for i in 0..12 {
        clusters.push(cluster_in(&*t.store, &format!("tenant{i}")).await);
    }
    let tasks: Vec<_> = clusters
        .iter()
        .map(|(p, c)| {
            let store = t.store.clone();
            let (p, id) = (*p, c.id);
            tokio::spawn(async move {
                Api::<Cluster>::new(store.docs())
                    .update(
                        &alice(),
                        p,
                        id.as_id(),
                        &public(true, &["203.0.113.0/24"]),
                        None,
                    )
                    .await
            })
        })
        .collect();
    let mut ips = HashSet::new();
    for task in tasks {
        let cluster = task.await.unwrap().expect("public access enabled");
        let endpoint = cluster
            .public_endpoint
            .expect("an enabled cluster has an endpoint");
        assert!(rules::public_pool().contains_addr(endpoint.ip));
        assert_eq!(endpoint.dns_name, format!("public-{}.{ZONE}", cluster.id));
        assert!(ips.insert(endpoint.ip), "{} handed out twice", endpoint.ip);
    }
    assert_eq!(ips.len(), 12);
}

on_both_backends!(a_cluster_created_with_public_access_gets_an_endpoint_at_once);
async fn a_cluster_created_with_public_access_gets_an_endpoint_at_once(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "prod", "10.1.0.0/16").await;
    let mut req = cluster_req(&n.id.to_string(), "db");
    req.public_access = Some(PublicAccessInput {
        enabled: true,
        allowlist: Vec::new(),
    });
    let c = Api::<Cluster>::new(t.store.docs())
        .create(
            &alice(),
            p,
            &req,
            &Env {
                dns_zone: ZONE.to_string(),
            },
            None,
        )
        .await
        .unwrap()
        .resource;
    assert!(c.public_endpoint.is_some());
    assert_eq!(
        c.warnings.len(),
        1,
        "an empty public list is called out: {:?}",
        c.warnings
    );
}

on_both_backends!(turning_public_access_off_releases_the_address_for_the_next_cluster);
async fn turning_public_access_off_releases_the_address_for_the_next_cluster(backend: Backend) {
    let t = open(backend).await;
    let (p1, a) = cluster_in(&*t.store, "one").await;
    let (p2, b) = cluster_in(&*t.store, "two").await;
    let on = Api::<Cluster>::new(t.store.docs())
        .update(&alice(), p1, a.id.as_id(), &public(true, &[]), None)
        .await
        .unwrap();
    let first_ip = on.public_endpoint.unwrap().ip;

    let off = Api::<Cluster>::new(t.store.docs())
        .update(&alice(), p1, a.id.as_id(), &public(false, &[]), None)
        .await
        .unwrap();
    assert_eq!(off.public_endpoint, None, "disabled: no endpoint");

    let other = Api::<Cluster>::new(t.store.docs())
        .update(&alice(), p2, b.id.as_id(), &public(true, &[]), None)
        .await
        .unwrap();
    assert_eq!(
        other.public_endpoint.unwrap().ip,
        first_ip,
        "the freed address is reused"
    );
    let again = Api::<Cluster>::new(t.store.docs())
        .update(&alice(), p1, a.id.as_id(), &public(true, &[]), None)
        .await
        .unwrap();
    assert_ne!(
        again.public_endpoint.unwrap().ip,
        first_ip,
        "now held by the other cluster"
    );
}

on_both_backends!(changing_the_allowlist_keeps_the_endpoint_address);
async fn changing_the_allowlist_keeps_the_endpoint_address(backend: Backend) {
    let t = open(backend).await;
    let (p, c) = cluster_in(&*t.store, "acme").await;
    let on = Api::<Cluster>::new(t.store.docs())
        .update(
            &alice(),
            p,
            c.id.as_id(),
            &public(true, &["203.0.113.0/24"]),
            None,
        )
        .await
        .unwrap();
    let changed = Api::<Cluster>::new(t.store.docs())
        .update(
            &alice(),
            p,
            c.id.as_id(),
            &public(true, &["198.51.100.7/32"]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(on.public_endpoint, changed.public_endpoint);
    assert!(
        changed.generation > on.generation,
        "the controller re-applies the new list"
    );
}

on_both_backends!(a_deleted_cluster_gives_its_address_back);
async fn a_deleted_cluster_gives_its_address_back(backend: Backend) {
    let t = open(backend).await;
    let (p1, a) = cluster_in(&*t.store, "one").await;
    let (p2, b) = cluster_in(&*t.store, "two").await;
    let on = Api::<Cluster>::new(t.store.docs())
        .update(&alice(), p1, a.id.as_id(), &public(true, &[]), None)
        .await
        .unwrap();
    let ip = on.public_endpoint.clone().unwrap().ip;

    let deleting = Api::<Cluster>::new(t.store.docs())
        .delete(&alice(), p1, a.id.as_id(), None)
        .await
        .unwrap();
    assert_eq!(
        deleting.public_endpoint, on.public_endpoint,
        "kept while the data plane tears down"
    );
    let mut gone = deleting.clone();
    gone.status = ClusterStatus::Deleted;
    let saved = Api::<Cluster>::new(t.store.docs())
        .save_status(&Actor::controller(), &gone)
        .await
        .unwrap();
    assert_eq!(saved.public_endpoint, None);

    let other = Api::<Cluster>::new(t.store.docs())
        .update(&alice(), p2, b.id.as_id(), &public(true, &[]), None)
        .await
        .unwrap();
    assert_eq!(other.public_endpoint.unwrap().ip, ip);
}

on_both_backends!(the_endpoint_address_survives_a_restart_and_stays_taken);
async fn the_endpoint_address_survives_a_restart_and_stays_taken(backend: Backend) {
    let t = open(backend).await;
    let (p1, a) = cluster_in(&*t.store, "one").await;
    let (p2, b) = cluster_in(&*t.store, "two").await;
    let on = Api::<Cluster>::new(t.store.docs())
        .update(&alice(), p1, a.id.as_id(), &public(true, &[]), None)
        .await
        .unwrap();
    t.close().await;

    let reopened = t.reopen().await;
    let stored = Api::<Cluster>::new(reopened.docs())
        .get(p1, a.id.as_id())
        .await
        .unwrap();
    assert_eq!(stored.public_endpoint, on.public_endpoint);
    let other = Api::<Cluster>::new(reopened.docs())
        .update(&alice(), p2, b.id.as_id(), &public(true, &[]), None)
        .await
        .unwrap();
    assert_ne!(
        other.public_endpoint.unwrap().ip,
        on.public_endpoint.unwrap().ip
    );
}

/// SQLite only: a PostgreSQL database starts at today's schema (an older installation
/// moves over with `isthmus store copy`, which copies what SQLite upgraded).
#[tokio::test]
async fn a_public_cluster_stored_before_endpoints_existed_gets_one_when_the_store_opens() {
    let t = open(Backend::Sqlite).await;
    let (p, c) = cluster_in(&*t.store, "old").await;
    let on = Api::<Cluster>::new(t.store.docs())
        .update(
            &alice(),
            p,
            c.id.as_id(),
            &public(true, &["203.0.113.0/24"]),
            None,
        )
        .await
        .unwrap();
    t.close().await;
    // As a database written before migration 0004 would hold it: no endpoint, no claim.
    {
        let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", t.path().display()))
            .await
            .unwrap();
        sqlx::query("DELETE FROM resource_index WHERE index_name = 'public_ip'")
            .execute(&db)
            .await
            .unwrap();
        sqlx::query(
            "UPDATE resources SET body = json_remove(body, '$.public_endpoint') WHERE id = ?1",
        )
        .bind(c.id.to_string())
        .execute(&db)
        .await
        .unwrap();
        db.close().await;
    }

    let reopened = t.reopen().await;
    let stored = Api::<Cluster>::new(reopened.docs())
        .get(p, c.id.as_id())
        .await
        .unwrap();
    assert_eq!(
        stored.public_endpoint, on.public_endpoint,
        "the lowest free address again"
    );
    assert!(stored.generation > on.generation, "the controller opens it");
    let (p2, other) = cluster_in(&*reopened, "new").await;
    let other = Api::<Cluster>::new(reopened.docs())
        .update(&alice(), p2, other.id.as_id(), &public(true, &[]), None)
        .await
        .unwrap();
    assert_ne!(
        other.public_endpoint.unwrap().ip,
        on.public_endpoint.unwrap().ip,
        "and it is claimed"
    );
}
