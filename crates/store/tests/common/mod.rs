//! Shared set-up of the store tests: a fresh database file in a temporary directory,
//! a project in it, and request bodies built from JSON (as the API receives them).
#![allow(dead_code)]

pub mod tmpfs;

use isthmus_core::resources::{
    ClusterCreate, Network, NetworkCreate, PeeringCreate, ProjectCreate,
};
use isthmus_core::ProjectId;
use isthmus_store::api::{Api, Env};
use isthmus_store::sqlite::SqliteStore;
use isthmus_store::{Actor, Store};
use serde_json::json;
use tempfile::TempDir;

pub struct TestStore {
    pub store: SqliteStore,
    pub dir: TempDir,
}

impl TestStore {
    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("isthmus.db")
    }
}

pub async fn open() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("isthmus.db"))
        .await
        .expect("open store");
    TestStore { store, dir }
}

pub fn alice() -> Actor {
    Actor("token:alice".into())
}

pub async fn project(store: &SqliteStore, name: &str) -> ProjectId {
    store
        .create_project(&alice(), &ProjectCreate { name: name.into() }, None)
        .await
        .expect("create project")
        .id
}

/// A network created through the store's typed facade, as the API would.
pub async fn network(store: &SqliteStore, p: ProjectId, name: &str, cidr: &str) -> Network {
    Api::<Network>::new(store.docs())
        .create(&alice(), p, &network_req(name, cidr), &Env::default(), None)
        .await
        .expect("create network")
        .resource
}

pub fn network_req(name: &str, cidr: &str) -> NetworkCreate {
    serde_json::from_value(json!({
        "name": name, "provider": "aws", "region": "us-east-1", "cidr_block": cidr,
    }))
    .expect("network request")
}

pub fn peering_req(network_id: &str, routes: &[&str]) -> PeeringCreate {
    serde_json::from_value(json!({
        "name": "to-customer",
        "network_id": network_id,
        "peer": {"account_id": "123456789012", "network_id": "vpc-0abc1234", "region": "us-east-1"},
        "routes": routes,
    }))
    .expect("peering request")
}

pub fn cluster_req(network_id: &str, name: &str) -> ClusterCreate {
    serde_json::from_value(json!({
        "name": name, "network_id": network_id, "engine": "postgresql", "topology": "single-node",
    }))
    .expect("cluster request")
}
