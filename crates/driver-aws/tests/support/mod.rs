//! moto's EC2 server, started by the test on a free loopback port and killed when the
//! guard drops (also when the test fails). Without moto the test fails: CI installs it
//! (scripts/setup), and a skipped test would prove nothing.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use isthmus_driver_aws::{AwsConfig, AwsDriver, Credentials, Ec2, Params};

/// The platform's account in moto (its default) and a customer's.
pub const PLATFORM_ACCOUNT: &str = "123456789012";
pub const CUSTOMER_ACCOUNT: &str = "210987654321";
pub const REGION: &str = "eu-west-1";

pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::start_with(&[])
    }

    /// moto with extra environment (e.g. `INITIAL_NO_AUTH_ACTION_COUNT=0`: check keys).
    pub fn start_with(env: &[(&str, &str)]) -> Moto {
        let python = std::env::var("MOTO_PYTHON").unwrap_or_else(|_| {
            // Where scripts/setup puts moto when the system python3 lacks it.
            let venv = "/opt/isthmus-moto/bin/python3";
            if std::path::Path::new(venv).exists() {
                venv.into()
            } else {
                "python3".into()
            }
        });
        let mut child = Command::new(&python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", "0"])
            .env("PYTHONUNBUFFERED", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start moto with {python} (scripts/setup installs it): {e}")
            });
        let mut lines = BufReader::new(child.stderr.take().expect("moto's stderr")).lines();
        let mut said = Vec::new();
        let url = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                panic!(
                    "moto ended before serving (is it installed? `pip install 'moto[server]'`):\n{}",
                    said.join("\n")
                );
            };
            if let Some(at) = line.find("Running on ") {
                break line[at + "Running on ".len()..].trim().to_string();
            }
            said.push(line);
        };
        // moto logs every request to stderr: keep reading so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Moto { child, url }
    }

    pub fn config(&self) -> AwsConfig {
        AwsConfig::new(
            Credentials {
                access_key_id: "AKIAISTHMUSTEST00000".into(),
                secret_access_key: "isthmus-test-secret".into(),
                session_token: None,
            },
            Some(self.url.clone()),
        )
    }

    /// A fresh driver, as a restarted server would make.
    pub fn driver(&self) -> Arc<AwsDriver> {
        AwsDriver::new(self.config())
    }

    /// The customer's EC2 (moto takes the account from `x-moto-account-id`).
    pub fn customer(&self) -> Ec2 {
        Ec2::new(self.config()).as_moto_account(CUSTOMER_ACCOUNT)
    }

    /// The platform account's EC2, for looking and for changes made "by hand".
    pub fn platform(&self) -> Ec2 {
        Ec2::new(self.config())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The customer creates a VPC in their account; returns its id.
pub async fn customer_vpc(customer: &Ec2, cidr: &str) -> String {
    let xml: String = raw(customer, "CreateVpc", Params::new().set("CidrBlock", cidr)).await;
    between(&xml, "<vpcId>", "</vpcId>")
}

/// The customer acts on a connection: `AcceptVpcPeeringConnection`,
/// `RejectVpcPeeringConnection` or `DeleteVpcPeeringConnection`.
pub async fn customer_does(customer: &Ec2, action: &str, pcx: &str) {
    raw(
        customer,
        action,
        Params::new().set("VpcPeeringConnectionId", pcx),
    )
    .await;
}

/// An EC2 call whose answer the test reads as text.
pub async fn raw(ec2: &Ec2, action: &str, params: Params) -> String {
    ec2.call_text(REGION, action, &params)
        .await
        .unwrap_or_else(|e| panic!("{action}: {e}"))
}

/// Every peering connection the platform account sees, as (id, state).
pub async fn platform_connections(platform: &Ec2) -> Vec<(String, String)> {
    let found: isthmus_driver_aws::xml::DescribePeeringConnections = platform
        .call(REGION, "DescribeVpcPeeringConnections", &Params::new())
        .await
        .unwrap();
    found
        .vpc_peering_connection_set
        .item
        .into_iter()
        .map(|c| (c.vpc_peering_connection_id, c.status.code))
        .collect()
}

pub fn between(xml: &str, open: &str, close: &str) -> String {
    let start = xml
        .find(open)
        .unwrap_or_else(|| panic!("no {open} in {xml}"))
        + open.len();
    let end = xml[start..].find(close).expect("closed") + start;
    xml[start..end].to_string()
}

// ---- the controller on moto ----

use std::future::Future;
use std::time::Duration;

use isthmus_core::object::Object;
use isthmus_core::resources::{Cluster, Network, Peering, Project};
use isthmus_core::state::{ClusterStatus, NetworkStatus, PeeringStatus};
use isthmus_driver::Provisioners;
use isthmus_server::controller::{Controller, ControllerConfig, ControllerHandle};
use isthmus_store::api::{Api, Env};
use isthmus_store::sqlite::SqliteStore;
use isthmus_store::{Actor, ObjectKey, Store};
use serde_json::json;
use tempfile::TempDir;
use tokio::task::JoinHandle;

/// moto answers slowly on a loaded machine: waits are generous (nothing is timed).
const DEADLINE: Duration = Duration::from_secs(90);

fn fast() -> ControllerConfig {
    ControllerConfig {
        resync_interval: Duration::from_millis(300),
        workers: 4,
        pending_interval: Duration::from_millis(100),
        poll_interval: Duration::from_millis(50),
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_millis(800),
    }
}

/// A store on a temp dir, moto, and a controller whose `aws` is the EC2 driver on moto.
pub struct World {
    dir: TempDir,
    sqlite: SqliteStore,
    pub store: Arc<dyn Store>,
    pub moto: Moto,
    pub controller: ControllerHandle,
    task: Option<JoinHandle<()>>,
    pub project: Project,
}

impl World {
    pub async fn new() -> World {
        World::on(Moto::start()).await
    }

    pub async fn on(moto: Moto) -> World {
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
        let (controller, task) = Controller::start(store.clone(), drivers(&moto), fast());
        World {
            dir,
            sqlite,
            store,
            moto,
            controller,
            task: Some(task),
            project,
        }
    }

    /// Stops the controller as a crash would, wherever its tasks are.
    pub async fn crash(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        self.sqlite.close().await;
        self.sqlite = open_store(&self.dir).await;
        self.store = Arc::new(self.sqlite.clone());
    }

    /// A crash, then a new controller with a new driver on the same database and EC2.
    pub async fn restart(&mut self) {
        self.crash().await;
        let (controller, task) = Controller::start(self.store.clone(), drivers(&self.moto), fast());
        self.controller = controller;
        self.task = Some(task);
    }

    pub async fn network(&self, cidr: &str) -> Network {
        let req = serde_json::from_value(json!({
            "name": "net", "provider": "aws", "region": REGION, "cidr_block": cidr,
        }))
        .unwrap();
        let n = Api::<Network>::new(self.store.docs())
            .create(&actor(), self.project.id, &req, &Env::default(), None)
            .await
            .unwrap()
            .resource;
        self.wake::<Network>(n.id.0);
        n
    }

    pub async fn peering(&self, net: &Network, name: &str, vpc: &str, routes: &[&str]) -> Peering {
        let req = serde_json::from_value(json!({
            "name": name, "network_id": net.id.to_string(),
            "peer": {"account_id": CUSTOMER_ACCOUNT, "network_id": vpc, "region": REGION},
            "routes": routes,
        }))
        .unwrap();
        let p = Api::<Peering>::new(self.store.docs())
            .create(&actor(), self.project.id, &req, &Env::default(), None)
            .await
            .unwrap()
            .resource;
        self.wake::<Peering>(p.id.0);
        p
    }

    pub async fn set_routes(&self, p: &Peering, routes: &[&str]) {
        let req = serde_json::from_value(json!({ "routes": routes })).unwrap();
        Api::<Peering>::new(self.store.docs())
            .update(&actor(), self.project.id, p.id.as_id(), &req, None)
            .await
            .unwrap();
        self.wake::<Peering>(p.id.0);
    }

    pub async fn delete<K: Object>(&self, id: isthmus_core::Id) {
        Api::<K>::new(self.store.docs())
            .delete(&actor(), self.project.id, id, None)
            .await
            .unwrap();
        self.wake::<K>(id);
    }

    pub async fn cluster(&self, net: &Network) -> Cluster {
        let req = serde_json::from_value(json!({
            "name": "db", "network_id": net.id.to_string(), "engine": "nats",
            "topology": "three-node-multi-zone",
        }))
        .unwrap();
        let env = Env {
            dns_zone: "isthmus.internal".to_string(),
        };
        let c = Api::<Cluster>::new(self.store.docs())
            .create(&actor(), self.project.id, &req, &env, None)
            .await
            .unwrap()
            .resource;
        self.wake::<Cluster>(c.id.0);
        c
    }

    pub fn wake<K: Object>(&self, id: isthmus_core::Id) {
        self.controller.enqueue(ObjectKey::of::<K>(id));
    }

    pub async fn get<K: Object>(&self, id: isthmus_core::Id) -> K {
        Api::<K>::new(self.store.docs())
            .get(self.project.id, id)
            .await
            .unwrap()
    }

    pub async fn peering_reaches(&self, p: &Peering, status: PeeringStatus) -> Peering {
        self.reaches(p.id.as_id(), |now: &Peering| {
            now.status == status && now.observed_generation == now.generation
        })
        .await
    }

    pub async fn network_reaches(&self, n: &Network, status: NetworkStatus) -> Network {
        self.reaches(n.id.as_id(), |now: &Network| now.status == status)
            .await
    }

    pub async fn cluster_reaches(&self, c: &Cluster, status: ClusterStatus) -> Cluster {
        self.reaches(c.id.as_id(), |now: &Cluster| now.status == status)
            .await
    }

    /// Polls object `id` until `done`; on timeout, panics showing where it is.
    async fn reaches<K: Object + std::fmt::Debug>(
        &self,
        id: isthmus_core::Id,
        done: impl Fn(&K) -> bool,
    ) -> K {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let now: K = self.get(id).await;
            if done(&now) {
                return now;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {} {id}; it is {now:#?}",
                K::INFO.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub fn actor() -> Actor {
    Actor("token:test".into())
}

async fn open_store(dir: &TempDir) -> SqliteStore {
    SqliteStore::open(&dir.path().join("isthmus.db"))
        .await
        .unwrap()
}

fn drivers(moto: &Moto) -> Provisioners {
    moto.driver().provisioners()
}

/// Polls `check` until it yields a value; panics with `what` after the deadline.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
