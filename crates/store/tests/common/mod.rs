//! Shared set-up of the store tests: a fresh store on either backend (a database file in
//! a temporary directory, or a fresh database in the test process's throwaway
//! PostgreSQL), a project in it, and request bodies built from JSON (as the API receives
//! them). [`on_both_backends!`] runs a test once per backend: the same contract.
#![allow(dead_code)]

pub mod tmpfs;

use std::sync::Arc;

use isthmus_core::object::StatusMachine;
use isthmus_core::resources::{
    Cluster, ClusterCreate, Network, NetworkCreate, Peering, PeeringCreate, ProjectCreate,
};
use isthmus_core::ProjectId;
use isthmus_store::api::{Admit, Api, Env};
use isthmus_store::postgres::PgStore;
use isthmus_store::sqlite::SqliteStore;
use isthmus_store::testing::TestPostgres;
use isthmus_store::{Actor, Store};
use serde_json::json;
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// `on_both_backends!(name)` over `async fn name(backend: Backend)`: tests `name::sqlite`
/// and `name::postgres` (with `multi_thread`, on a two-worker runtime).
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$name($crate::common::Backend::Postgres).await
            }
        }
    };
    ($name:ident, multi_thread) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Backend::Postgres).await
            }
        }
    };
}

pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub backend: Backend,
    pub dir: TempDir,
    /// The database's URL, on PostgreSQL.
    pub url: Option<String>,
    closer: Closer,
}

/// The concrete store behind `store`, to close it.
enum Closer {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl TestStore {
    /// The SQLite file (SQLite-only tests).
    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("isthmus.db")
    }

    /// Closes the store, waiting for its work in flight (as at a shutdown).
    pub async fn close(&self) {
        match &self.closer {
            Closer::Sqlite(s) => s.close().await,
            Closer::Postgres(s) => s.close().await,
        }
    }

    /// Runs `sql` on the database behind the store's back, `id` bound as its one
    /// parameter (written `?1`; `$1` on PostgreSQL).
    pub async fn exec(&self, sql: &str, id: &str) {
        match &self.closer {
            Closer::Sqlite(_) => {
                let db = self.sqlite_file().await;
                sqlx::query(sql)
                    .bind(id)
                    .execute(&db)
                    .await
                    .expect("raw SQL");
                db.close().await;
            }
            Closer::Postgres(s) => {
                sqlx::query(&sql.replace("?1", "$1"))
                    .bind(id)
                    .execute(s.pool())
                    .await
                    .expect("raw SQL");
            }
        }
    }

    /// The stored body of resource `id`, as the database holds it.
    pub async fn raw_body(&self, id: &str) -> String {
        match &self.closer {
            Closer::Sqlite(_) => {
                let db = self.sqlite_file().await;
                let body = sqlx::query_scalar("SELECT body FROM resources WHERE id = ?1")
                    .bind(id)
                    .fetch_one(&db)
                    .await
                    .expect("read a body");
                db.close().await;
                body
            }
            Closer::Postgres(s) => sqlx::query_scalar("SELECT body FROM resources WHERE id = $1")
                .bind(id)
                .fetch_one(s.pool())
                .await
                .expect("read a body"),
        }
    }

    async fn sqlite_file(&self) -> sqlx::SqlitePool {
        sqlx::SqlitePool::connect(&format!("sqlite://{}", self.path().display()))
            .await
            .expect("open the database file")
    }

    /// The same database opened again, as after a restart.
    pub async fn reopen(&self) -> Arc<dyn Store> {
        match &self.url {
            None => Arc::new(SqliteStore::open(&self.path()).await.expect("reopen store")),
            Some(url) => Arc::new(PgStore::connect(url).await.expect("reconnect store")),
        }
    }
}

pub async fn open(backend: Backend) -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    match backend {
        Backend::Sqlite => {
            let store = SqliteStore::open(&dir.path().join("isthmus.db"))
                .await
                .expect("open store");
            TestStore {
                store: Arc::new(store.clone()),
                backend,
                dir,
                url: None,
                closer: Closer::Sqlite(store),
            }
        }
        Backend::Postgres => {
            let url = TestPostgres::shared()
                .fresh_database()
                .await
                .expect("create a test database");
            let store = PgStore::connect(&url).await.expect("connect store");
            TestStore {
                store: Arc::new(store.clone()),
                backend,
                dir,
                url: Some(url),
                closer: Closer::Postgres(store),
            }
        }
    }
}

pub fn alice() -> Actor {
    Actor("token:alice".into())
}

pub async fn project(store: &dyn Store, name: &str) -> ProjectId {
    store
        .create_project(&alice(), &ProjectCreate { name: name.into() }, None)
        .await
        .expect("create project")
        .id
}

/// A network created through the store's typed facade, as the API would.
pub async fn network(store: &dyn Store, p: ProjectId, name: &str, cidr: &str) -> Network {
    Api::<Network>::new(store.docs())
        .create(&alice(), p, &network_req(name, cidr), &Env::default(), None)
        .await
        .expect("create network")
        .resource
}

/// A cluster `name` on network `n`, created through the typed facade as the API would
/// (its nodes named in the platform zone `isthmus.internal`).
pub async fn cluster(store: &dyn Store, p: ProjectId, n: &Network, name: &str) -> Cluster {
    let env = Env {
        dns_zone: "isthmus.internal".to_string(),
    };
    Api::<Cluster>::new(store.docs())
        .create(
            &alice(),
            p,
            &cluster_req(&n.id.to_string(), name),
            &env,
            None,
        )
        .await
        .expect("create cluster")
        .resource
}

/// A peering from network `n` with `routes` (see [`peering_req`]), as the API would.
pub async fn peering(store: &dyn Store, p: ProjectId, n: &Network, routes: &[&str]) -> Peering {
    Api::<Peering>::new(store.docs())
        .create(
            &alice(),
            p,
            &peering_req(&n.id.to_string(), routes),
            &Env::default(),
            None,
        )
        .await
        .expect("create peering")
        .resource
}

/// The controller's last word on an object being deleted: `deleting` is reported
/// `deleted` (what it held in the cloud is gone).
pub async fn report_deleted<K: Admit>(store: &dyn Store, deleting: &K) -> K {
    let mut gone = deleting.clone();
    *gone.status_mut().status = K::Status::DELETED;
    Api::<K>::new(store.docs())
        .save_status(&Actor::controller(), &gone)
        .await
        .expect("report deleted")
}

pub fn network_req(name: &str, cidr: &str) -> NetworkCreate {
    serde_json::from_value(json!({
        "name": name, "provider": "aws", "region": "us-east-1", "cidr_block": cidr,
    }))
    .expect("network request")
}

/// A peering request; each gets a name of its own (names are unique per kind in a
/// project).
pub fn peering_req(network_id: &str, routes: &[&str]) -> PeeringCreate {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    serde_json::from_value(json!({
        "name": format!("to-customer-{n}"),
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
