//! A store on a temp dir, a project in it, and a controller on it, acting as the API
//! does: each write goes to the store, then the object is enqueued. Which drivers the
//! controller has is the test's choice (the simulated clouds, a fake, EC2 on moto).

use std::path::Path;
use std::sync::Arc;

use isthmus_core::object::Object;
use isthmus_core::resources::Project;
use isthmus_core::Id;
use isthmus_driver::Provisioners;
use isthmus_server::controller::{Controller, ControllerConfig, ControllerHandle};
use isthmus_store::api::{Admit, Api, Env};
use isthmus_store::sqlite::SqliteStore;
use isthmus_store::{Actor, ObjectKey, Store};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::task::JoinHandle;

use crate::Patience;

/// The actor every test write is made as.
pub fn actor() -> Actor {
    Actor("token:test".into())
}

/// A SQLite store on a temp dir with the project `acme`, and (once started) a controller.
pub struct Harness {
    dir: TempDir,
    sqlite: SqliteStore,
    pub store: Arc<dyn Store>,
    pub project: Project,
    pub patience: Patience,
    controller: Option<ControllerHandle>,
    task: Option<JoinHandle<()>>,
}

impl Harness {
    /// The store and the project; no controller runs until [`Harness::start`].
    pub async fn new(patience: Patience) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = open_store(&dir).await;
        let store: Arc<dyn Store> = Arc::new(sqlite.clone());
        let project = store
            .create_project(
                &actor(),
                &serde_json::from_value(json!({"name": "acme"})).unwrap(),
                None,
            )
            .await
            .unwrap();
        Harness {
            dir,
            sqlite,
            store,
            project,
            patience,
            controller: None,
            task: None,
        }
    }

    /// The temp dir the database is in (for files a test keeps beside it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts a controller on the store with these drivers.
    pub fn start(&mut self, drivers: Provisioners, config: ControllerConfig) {
        let (controller, task) = Controller::start(self.store.clone(), drivers, config);
        self.controller = Some(controller);
        self.task = Some(task);
    }

    /// Stops the controller as a crash of the server would (mid-reconcile is fine): its
    /// tasks end wherever they are and its database connections close. The store is
    /// opened again; [`Harness::start`] starts a new controller.
    pub async fn crash(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        self.sqlite.close().await;
        self.sqlite = open_store(&self.dir).await;
        self.store = Arc::new(self.sqlite.clone());
    }

    pub fn controller(&self) -> &ControllerHandle {
        self.controller.as_ref().expect("the controller runs")
    }

    /// Enqueues the object, as the API does after a write.
    pub fn wake<K: Object>(&self, id: Id) {
        self.controller().enqueue(ObjectKey::of::<K>(id));
    }

    /// Creates an object from its JSON request, as the API does, and enqueues it.
    pub async fn create<K>(&self, req: Value) -> K
    where
        K: Admit,
        K::Create: DeserializeOwned,
    {
        let created: K = self.create_only(req).await;
        self.wake::<K>(created.id());
        created
    }

    /// Creates an object from its JSON request without enqueueing it: only a resync (or
    /// the test) makes the controller look at it.
    pub async fn create_only<K>(&self, req: Value) -> K
    where
        K: Admit,
        K::Create: DeserializeOwned,
    {
        let req: K::Create = serde_json::from_value(req).unwrap();
        // Only clusters read the zone (their nodes' names).
        let env = Env {
            dns_zone: "isthmus.internal".to_string(),
        };
        Api::<K>::new(self.store.docs())
            .create(&actor(), self.project.id, &req, &env, None)
            .await
            .unwrap()
            .resource
    }

    /// Updates an object with its JSON request, as the API does, and enqueues it.
    pub async fn update<K>(&self, id: Id, req: Value) -> K
    where
        K: Admit,
        K::Update: DeserializeOwned,
    {
        let req: K::Update = serde_json::from_value(req).unwrap();
        let updated = Api::<K>::new(self.store.docs())
            .update(&actor(), self.project.id, id, &req, None)
            .await
            .unwrap();
        self.wake::<K>(id);
        updated
    }

    /// Marks an object for deletion, as the API does, and enqueues it.
    pub async fn delete<K: Object>(&self, id: Id) -> K {
        let deleting = Api::<K>::new(self.store.docs())
            .delete(&actor(), self.project.id, id, None)
            .await
            .unwrap();
        self.wake::<K>(id);
        deleting
    }

    pub async fn get<K: Object>(&self, id: Id) -> K {
        Api::<K>::new(self.store.docs())
            .get(self.project.id, id)
            .await
            .unwrap()
    }

    /// Polls `check` until it yields a value, within the harness's patience.
    pub async fn eventually<T, F, Fut>(&self, what: &str, check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        self.patience.until(what, check).await
    }

    /// Polls until `obj`'s stored status is `status`; returns it as it is then.
    pub async fn reaches_status<K: Object>(&self, obj: &K, status: K::Status) -> K {
        let what = format!("{} {} to be {status}", K::INFO.name, obj.id());
        self.reaches(obj.id(), &what, |now: &K| now.status() == status)
            .await
    }

    /// Polls object `id` until `done`; on timeout, panics with `what` and where it is.
    pub async fn reaches<K: Object>(&self, id: Id, what: &str, done: impl Fn(&K) -> bool) -> K {
        let deadline = tokio::time::Instant::now() + self.patience.within;
        loop {
            let now: K = self.get(id).await;
            if done(&now) {
                return now;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; it is {now:#?}"
            );
            tokio::time::sleep(self.patience.every).await;
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn open_store(dir: &TempDir) -> SqliteStore {
    SqliteStore::open(&dir.path().join("isthmus.db"))
        .await
        .unwrap()
}
