//! A database written before the document store (migrations 0001…0005: a kind CHECK,
//! `network_id`, range columns on networks, a `public_ips` table) opens with every object
//! as it was, and the claims it held (network ranges, public addresses) and its owners'
//! rules (clusters block a network's delete, peerings go down with it) still hold.

mod common;

use isthmus_core::resources::Cluster;
use isthmus_store::api::{Api, Env};
use std::collections::HashSet;

use chrono::Utc;
use common::*;
use isthmus_core::resources::{ClusterCreate, Network, Peering, Project};
use isthmus_core::state::PeeringStatus;
use isthmus_core::{rules, ClusterId, CoreError, NetworkId, PeeringId, ProjectId};
use isthmus_store::ids::new_id;
use isthmus_store::sqlite::SqliteStore;
use isthmus_store::{Store, StoreError};
use serde_json::json;
use sqlx::{Row, SqlitePool};

/// A database with the schema of migrations 0001…0005, as the store left it then.
async fn old_database(path: &std::path::Path) -> SqlitePool {
    let old = tempfile::tempdir().unwrap();
    let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for entry in std::fs::read_dir(&migrations).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if name.as_str() < "0006" {
            std::fs::copy(entry.path(), old.path().join(&name)).unwrap();
        }
    }
    let db = SqlitePool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(old.path())
        .await
        .unwrap()
        .run(&db)
        .await
        .unwrap();
    db
}

/// A row as the old store wrote it. `range`: a network's range columns (NULL for rows
/// written before migration 0003 filled them).
async fn old_row(
    db: &SqlitePool,
    kind: &str,
    body: &impl serde::Serialize,
    network: Option<NetworkId>,
    range: Option<(u32, u32)>,
) {
    let value = serde_json::to_value(body).unwrap();
    sqlx::query(
        "INSERT INTO resources
            (id, kind, project_id, network_id, status, version, body, created_at, range_start, range_end)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .bind(value["id"].as_str().unwrap())
    .bind(kind)
    .bind(value["project_id"].as_str().unwrap())
    .bind(network.map(|n| n.to_string()))
    .bind(value["status"].as_str().unwrap())
    .bind(value["version"].as_i64().unwrap())
    .bind(serde_json::to_string(body).unwrap())
    .bind(value["created_at"].as_str().unwrap())
    .bind(range.map(|r| i64::from(r.0)))
    .bind(range.map(|r| i64::from(r.1)))
    .execute(db)
    .await
    .unwrap();
}

fn public_cluster_req(network: NetworkId, name: &str) -> ClusterCreate {
    serde_json::from_value(json!({
        "name": name, "network_id": network.to_string(), "engine": "postgresql",
        "topology": "single-node", "public_access": {"enabled": true, "allowlist": []},
    }))
    .unwrap()
}

fn conflict_rule(e: StoreError) -> String {
    match e {
        StoreError::Core(CoreError::Conflict { rule, .. }) => rule,
        other => panic!("expected a conflict, got {other}"),
    }
}

#[tokio::test]
async fn a_database_of_the_old_schema_keeps_its_objects_claims_and_owners() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("isthmus.db");
    let now = Utc::now();
    let project = Project {
        id: ProjectId(new_id()),
        name: "acme".into(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let p = project.id;
    let network = |cidr: &str, name: &str| {
        rules::new_network(NetworkId(new_id()), p, &network_req(name, cidr), &[], now).unwrap()
    };
    // With range columns; without (written before 0003); and one with a peering.
    let ranged = network("10.1.0.0/16", "ranged");
    let unranged = network("172.16.4.0/22", "unranged");
    let peered = network("10.3.0.0/16", "peered");
    let peering = rules::new_peering(
        PeeringId(new_id()),
        p,
        &peering_req(&peered.id.to_string(), &["192.168.1.0/24"]),
        &peered,
        &[],
        now,
    )
    .unwrap();
    let mut cluster = rules::new_cluster(
        ClusterId(new_id()),
        p,
        &public_cluster_req(ranged.id, "db"),
        &ranged,
        &HashSet::new(),
        "isthmus.internal",
        now,
    )
    .unwrap();
    rules::assign_public_endpoint(&mut cluster, &HashSet::new()).unwrap();
    let public_ip = cluster.public_endpoint.as_ref().unwrap().ip;

    let db = old_database(&path).await;
    sqlx::query("INSERT INTO projects (id, name, version, created_at, updated_at) VALUES (?1, ?2, 1, ?3, ?3)")
        .bind(p.to_string())
        .bind(&project.name)
        .bind(now.to_rfc3339())
        .execute(&db)
        .await
        .unwrap();
    let range = |n: &Network| Some((n.cidr_block.start(), n.cidr_block.end()));
    old_row(&db, "network", &ranged, None, range(&ranged)).await;
    old_row(&db, "network", &unranged, None, None).await;
    old_row(&db, "network", &peered, None, range(&peered)).await;
    old_row(&db, "peering", &peering, Some(peered.id), None).await;
    old_row(&db, "cluster", &cluster, Some(ranged.id), None).await;
    sqlx::query("INSERT INTO public_ips (ip, cluster_id) VALUES (?1, ?2)")
        .bind(public_ip.to_string())
        .bind(cluster.id.to_string())
        .execute(&db)
        .await
        .unwrap();
    db.close().await;

    let store = SqliteStore::open(&path)
        .await
        .expect("migrate the old database");

    // Every object reads back as it was.
    assert_eq!(
        Api::<Network>::new(store.docs())
            .get(p, ranged.id.as_id())
            .await
            .unwrap(),
        ranged
    );
    assert_eq!(
        Api::<Network>::new(store.docs())
            .get(p, unranged.id.as_id())
            .await
            .unwrap(),
        unranged
    );
    assert_eq!(
        Api::<Peering>::new(store.docs())
            .get(p, peering.id.as_id())
            .await
            .unwrap(),
        peering
    );
    assert_eq!(
        Api::<Cluster>::new(store.docs())
            .get(p, cluster.id.as_id())
            .await
            .unwrap(),
        cluster
    );
    assert_eq!(
        Api::<Cluster>::new(store.docs())
            .owned_by(ranged.id.as_id())
            .await
            .unwrap(),
        [cluster.clone()]
    );

    // Both networks' ranges are still claimed: from the range columns, and from the
    // stored CIDR where the columns were never filled.
    for cidr in ["10.1.128.0/17", "172.16.6.0/24"] {
        let err = Api::<Network>::new(store.docs())
            .create(
                &alice(),
                p,
                &network_req("overlap", cidr),
                &Env::default(),
                None,
            )
            .await
            .expect_err(cidr);
        assert_eq!(conflict_rule(err), "network-overlap", "{cidr}");
    }

    // The public address is still taken: the next public cluster gets another.
    let next = Api::<Cluster>::new(store.docs())
        .create(
            &alice(),
            p,
            &public_cluster_req(unranged.id, "next"),
            &Env {
                dns_zone: "isthmus.internal".to_string(),
            },
            None,
        )
        .await
        .unwrap()
        .resource;
    assert_ne!(next.public_endpoint.unwrap().ip, public_ip);

    // Owners keep their rules: the cluster blocks its network's delete...
    let err = Api::<Network>::new(store.docs())
        .delete(&alice(), p, ranged.id.as_id(), None)
        .await
        .unwrap_err();
    assert_eq!(conflict_rule(err), "network-has-clusters");
    // ...and the peering goes down with its network.
    Api::<Network>::new(store.docs())
        .delete(&alice(), p, peered.id.as_id(), None)
        .await
        .unwrap();
    let gone: Peering = Api::<Peering>::new(store.docs())
        .get(p, peering.id.as_id())
        .await
        .unwrap();
    assert_eq!(gone.status, PeeringStatus::Deleting);
    assert_eq!(
        gone.status_message,
        format!("deleting with network {}", peered.id)
    );

    // Rows keep the order they were written in; the old claim table is gone.
    store.close().await;
    let db = SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let order: Vec<String> = sqlx::query("SELECT id FROM resources ORDER BY rowid LIMIT 5")
        .fetch_all(&db)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("id"))
        .collect();
    let written: Vec<String> = [
        ranged.id.0,
        unranged.id.0,
        peered.id.0,
        peering.id.0,
        cluster.id.0,
    ]
    .iter()
    .map(|id| id.to_string())
    .collect();
    assert_eq!(order, written);
    let old_tables: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'public_ips'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(old_tables, 0);
}
