//! The controller end to end: SqliteStore on a temp file, the simulated clouds as the
//! providers, and the test acting as the API (writes to the store, then enqueues) and as
//! the customer (actions in the simulated clouds). Every wait polls with a deadline.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use isthmus_core::conditions::{find_condition, ConditionStatus};
use isthmus_core::resources::{Cluster, Network, Peering, Project, Provider};
use isthmus_core::state::{ClusterStatus, NetworkStatus, NodeStatus, PeeringStatus};
use isthmus_driver::sim::{CustomerActionKind, CustomerVpc, SimClouds, SimConfig};
use isthmus_driver::Drivers;
use isthmus_server::controller::{Controller, ControllerConfig, ControllerHandle};
use isthmus_store::sqlite::SqliteStore;
use isthmus_store::{Actor, Kind, ResourceKey, Store};
use serde_json::json;
use tempfile::TempDir;
use tokio::task::JoinHandle;

const DEADLINE: Duration = Duration::from_secs(20);

fn fast() -> ControllerConfig {
    ControllerConfig {
        resync_interval: Duration::from_millis(200),
        workers: 4,
        pending_interval: Duration::from_millis(50),
        poll_interval: Duration::from_millis(20),
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_millis(800),
    }
}

/// A region of each cloud's catalog.
fn region(cloud: Provider) -> &'static str {
    match cloud {
        Provider::Aws => "eu-west-1",
        Provider::Gcp => "europe-west1",
        Provider::Azure => "westeurope",
        Provider::Local => "host",
    }
}

/// A store, the simulated clouds and a running controller, all on one temp dir.
struct World {
    dir: TempDir,
    sqlite: SqliteStore,
    store: Arc<dyn Store>,
    sim: Arc<SimClouds>,
    controller: ControllerHandle,
    task: Option<JoinHandle<()>>,
    project: Project,
}

impl World {
    async fn new() -> World {
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
        let sim = open_sim(journal(&dir));
        let (controller, task) = Controller::start(store.clone(), drivers(&sim), fast());
        World {
            dir,
            sqlite,
            store,
            sim,
            controller,
            task: Some(task),
            project,
        }
    }

    /// Stops the controller as a crash of the server would (mid-reconcile is fine): its
    /// tasks end wherever they are and its database connections close.
    async fn crash(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        self.sqlite.close().await;
        self.sqlite = open_store(&self.dir).await;
        self.store = Arc::new(self.sqlite.clone());
    }

    /// Crashes, forgets the in-memory clouds, and starts both again from the same
    /// database and journal.
    async fn restart(&mut self) {
        self.crash().await;
        self.sim = open_sim(journal(&self.dir));
        let (controller, task) = Controller::start(self.store.clone(), drivers(&self.sim), fast());
        self.controller = controller;
        self.task = Some(task);
    }

    fn customer_vpc(&self, cloud: Provider, account: &str, name: &str, cidr: &str) {
        self.sim
            .create_customer_vpc(CustomerVpc {
                cloud,
                account_id: account.into(),
                network_id: name.into(),
                region: region(cloud).into(),
                cidr_block: cidr.into(),
            })
            .unwrap();
    }

    async fn network(&self, provider: Provider, cidr: &str) -> Network {
        let req = serde_json::from_value(json!({
            "name": format!("net-{provider}"), "provider": provider,
            "region": region(provider), "cidr_block": cidr,
        }))
        .unwrap();
        let n = self
            .store
            .create_network(&actor(), self.project.id, &req, None)
            .await
            .unwrap()
            .resource;
        self.wake(Kind::Network, n.id.0);
        n
    }

    async fn peering(
        &self,
        net: &Network,
        name: &str,
        account: &str,
        vpc: &str,
        route: &str,
    ) -> Peering {
        let req = serde_json::from_value(json!({
            "name": name, "network_id": net.id.to_string(),
            "peer": {"account_id": account, "network_id": vpc, "region": region(net.provider)},
            "routes": [route],
        }))
        .unwrap();
        let p = self
            .store
            .create_peering(&actor(), self.project.id, &req, None)
            .await
            .unwrap()
            .resource;
        self.wake(Kind::Peering, p.id.0);
        p
    }

    async fn cluster(&self, net: &Network) -> Cluster {
        let req = serde_json::from_value(json!({
            "name": "db", "network_id": net.id.to_string(), "engine": "nats",
            "topology": "three-node-multi-zone",
        }))
        .unwrap();
        let c = self
            .store
            .create_cluster(&actor(), self.project.id, &req, "isthmus.internal", None)
            .await
            .unwrap()
            .resource;
        self.wake(Kind::Cluster, c.id.0);
        c
    }

    fn wake(&self, kind: Kind, id: isthmus_core::Id) {
        self.controller.enqueue(ResourceKey { kind, id });
    }

    async fn get_network(&self, n: &Network) -> Network {
        self.store.get_network(self.project.id, n.id).await.unwrap()
    }
    async fn get_peering(&self, p: &Peering) -> Peering {
        self.store.get_peering(self.project.id, p.id).await.unwrap()
    }
    async fn get_cluster(&self, c: &Cluster) -> Cluster {
        self.store.get_cluster(self.project.id, c.id).await.unwrap()
    }

    async fn peering_reaches(&self, p: &Peering, status: PeeringStatus) -> Peering {
        eventually(&format!("peering {} to be {status}", p.id), || async {
            let now = self.get_peering(p).await;
            (now.status == status).then_some(now)
        })
        .await
    }

    async fn network_reaches(&self, n: &Network, status: NetworkStatus) -> Network {
        eventually(&format!("network {} to be {status}", n.id), || async {
            let now = self.get_network(n).await;
            (now.status == status).then_some(now)
        })
        .await
    }

    async fn cluster_reaches(&self, c: &Cluster, status: ClusterStatus) -> Cluster {
        eventually(&format!("cluster {} to be {status}", c.id), || async {
            let now = self.get_cluster(c).await;
            (now.status == status).then_some(now)
        })
        .await
    }
}

fn actor() -> Actor {
    Actor("token:test".into())
}

async fn open_store(dir: &TempDir) -> SqliteStore {
    SqliteStore::open(&dir.path().join("isthmus.db"))
        .await
        .unwrap()
}

fn journal(dir: &TempDir) -> PathBuf {
    dir.path().join("sim-journal.jsonl")
}

fn open_sim(journal: PathBuf) -> Arc<SimClouds> {
    SimClouds::open(SimConfig {
        latency: Duration::from_millis(2),
        journal: Some(journal),
    })
    .unwrap()
}

fn drivers(sim: &Arc<SimClouds>) -> Drivers {
    [Provider::Aws, Provider::Gcp, Provider::Azure]
        .into_iter()
        .fold(Drivers::new(), |d, p| d.with(p, sim.driver(p)))
}

/// Polls `check` until it yields a value; panics with `what` after the deadline.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
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
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn ready(conditions: &[isthmus_core::conditions::Condition]) -> Option<(ConditionStatus, String)> {
    find_condition(conditions, "Ready").map(|c| (c.status, c.reason.clone()))
}

#[tokio::test]
async fn aws_peering_waits_for_acceptance_shows_the_commands_and_becomes_active() {
    let w = World::new().await;
    w.customer_vpc(
        Provider::Aws,
        "123456789012",
        "vpc-0a0b0c0d",
        "192.168.0.0/16",
    );
    let net = w.network(Provider::Aws, "10.20.0.0/16").await;
    let p = w
        .peering(
            &net,
            "app",
            "123456789012",
            "vpc-0a0b0c0d",
            "192.168.1.0/24",
        )
        .await;

    let pending = w
        .peering_reaches(&p, PeeringStatus::PendingAcceptance)
        .await;
    let pcx = pending
        .provider_peering_id
        .clone()
        .expect("AWS assigned the connection id");
    assert!(pcx.starts_with("pcx-"));
    assert_eq!(
        pending.customer_actions[0].command,
        format!("aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id {pcx} --region eu-west-1"),
        "the customer's commands name the connection once it is known"
    );
    assert_eq!(
        ready(&pending.conditions),
        Some((ConditionStatus::False, "AwaitingAcceptance".into()))
    );
    let net_now = w.get_network(&net).await;
    assert_eq!(net_now.status, NetworkStatus::Active);
    assert!(net_now.provider_network_id.unwrap().starts_with("vpc-"));

    w.sim
        .customer_action(p.id, CustomerActionKind::Accept)
        .unwrap();
    let active = w.peering_reaches(&p, PeeringStatus::Active).await;
    assert_eq!(
        ready(&active.conditions),
        Some((ConditionStatus::True, "Active".into()))
    );
    assert_eq!(active.observed_generation, active.generation);
}

#[tokio::test]
async fn gcp_peering_becomes_active_once_the_reciprocal_peering_exists() {
    let w = World::new().await;
    w.customer_vpc(Provider::Gcp, "acme-prod", "default", "192.168.0.0/16");
    let net = w.network(Provider::Gcp, "10.20.0.0/16").await;
    let p = w
        .peering(&net, "app", "acme-prod", "default", "192.168.1.0/24")
        .await;

    let pending = w.peering_reaches(&p, PeeringStatus::PendingPeer).await;
    assert!(pending.customer_actions[0]
        .command
        .contains(&format!("--peer-network isthmus-{}", net.id)));
    w.sim
        .customer_action(p.id, CustomerActionKind::CreateReciprocal)
        .unwrap();
    w.peering_reaches(&p, PeeringStatus::Active).await;
}

#[tokio::test]
async fn azure_peering_becomes_active_once_the_role_is_granted() {
    let w = World::new().await;
    w.customer_vpc(
        Provider::Azure,
        "0b1f6471-1bf0-4dda-aec3-111122223333",
        "app-vnet",
        "192.168.0.0/16",
    );
    let net = w.network(Provider::Azure, "10.20.0.0/16").await;
    let p = w
        .peering(
            &net,
            "app",
            "0b1f6471-1bf0-4dda-aec3-111122223333",
            "app-vnet",
            "192.168.1.0/24",
        )
        .await;

    w.peering_reaches(&p, PeeringStatus::PendingPeer).await;
    w.sim
        .customer_action(p.id, CustomerActionKind::GrantRole)
        .unwrap();
    w.peering_reaches(&p, PeeringStatus::Active).await;
}

#[tokio::test]
async fn a_rejected_request_is_rejected_by_peer() {
    let w = World::new().await;
    w.customer_vpc(
        Provider::Aws,
        "123456789012",
        "vpc-0a0b0c0d",
        "192.168.0.0/16",
    );
    let net = w.network(Provider::Aws, "10.20.0.0/16").await;
    let p = w
        .peering(
            &net,
            "app",
            "123456789012",
            "vpc-0a0b0c0d",
            "192.168.1.0/24",
        )
        .await;
    w.peering_reaches(&p, PeeringStatus::PendingAcceptance)
        .await;

    w.sim
        .customer_action(p.id, CustomerActionKind::Reject)
        .unwrap();
    let rejected = w.peering_reaches(&p, PeeringStatus::RejectedByPeer).await;
    assert_eq!(
        ready(&rejected.conditions),
        Some((ConditionStatus::False, "RejectedByPeer".into()))
    );
}

#[tokio::test]
async fn a_customer_deleting_their_side_is_found_by_the_resync_alone() {
    let w = World::new().await;
    w.customer_vpc(Provider::Gcp, "acme-prod", "default", "192.168.0.0/16");
    let net = w.network(Provider::Gcp, "10.20.0.0/16").await;
    let p = w
        .peering(&net, "app", "acme-prod", "default", "192.168.1.0/24")
        .await;
    w.peering_reaches(&p, PeeringStatus::PendingPeer).await;
    w.sim
        .customer_action(p.id, CustomerActionKind::CreateReciprocal)
        .unwrap();
    w.peering_reaches(&p, PeeringStatus::Active).await;

    // Nobody enqueues the peering: only the periodic resync can notice.
    w.sim
        .customer_action(p.id, CustomerActionKind::DeletePeerSide)
        .unwrap();
    let drifted = w.peering_reaches(&p, PeeringStatus::DeletedByPeer).await;
    assert!(
        drifted.status_message.contains("deleted their side"),
        "{}",
        drifted.status_message
    );
}

#[tokio::test]
async fn an_unknown_peer_vpc_is_an_invalid_specification_with_the_reason() {
    let w = World::new().await;
    let net = w.network(Provider::Aws, "10.20.0.0/16").await;
    let p = w
        .peering(
            &net,
            "app",
            "123456789012",
            "vpc-0dead000",
            "192.168.1.0/24",
        )
        .await;

    let invalid = w
        .peering_reaches(&p, PeeringStatus::InvalidSpecification)
        .await;
    assert_eq!(
        invalid.status_message,
        "aws network vpc-0dead000 does not exist in account 123456789012"
    );
}

#[tokio::test]
async fn a_changed_spec_requests_a_failed_peering_again() {
    let w = World::new().await;
    w.customer_vpc(
        Provider::Aws,
        "123456789012",
        "vpc-0a0b0c0d",
        "192.168.0.0/16",
    );
    let net = w.network(Provider::Aws, "10.20.0.0/16").await;
    let p = w
        .peering(
            &net,
            "app",
            "123456789012",
            "vpc-0a0b0c0d",
            "192.168.1.0/24",
        )
        .await;
    w.peering_reaches(&p, PeeringStatus::PendingAcceptance)
        .await;
    w.sim
        .customer_action(p.id, CustomerActionKind::Reject)
        .unwrap();
    w.peering_reaches(&p, PeeringStatus::RejectedByPeer).await;

    let req =
        serde_json::from_value(json!({"routes": ["192.168.1.0/24", "192.168.2.0/24"]})).unwrap();
    w.store
        .update_peering(&actor(), w.project.id, p.id, &req, None)
        .await
        .unwrap();
    w.wake(Kind::Peering, p.id.0);
    let again = w
        .peering_reaches(&p, PeeringStatus::PendingAcceptance)
        .await;
    assert_eq!(again.observed_generation, again.generation);
    assert_eq!(
        w.sim.peering_view(p.id).unwrap().routes,
        vec!["192.168.1.0/24", "192.168.2.0/24"]
    );
}

#[tokio::test]
async fn a_cluster_created_while_the_network_provisions_waits_then_runs() {
    let w = World::new().await;
    // The provider cannot create networks for now: the network stays provisioning.
    w.sim.inject_fault("ensure_network", 1_000_000).unwrap();
    let net = w.network(Provider::Aws, "10.20.0.0/16").await;
    let c = w.cluster(&net).await;

    let waiting = eventually("the cluster to say it waits for the network", || async {
        let now = w.get_cluster(&c).await;
        now.status_message
            .contains("waiting for network")
            .then_some(now)
    })
    .await;
    assert_eq!(waiting.status, ClusterStatus::Provisioning);

    w.sim.inject_fault("ensure_network", 0).unwrap();
    let running = w.cluster_reaches(&c, ClusterStatus::Running).await;
    assert!(running
        .nodes
        .iter()
        .all(|n| n.status == NodeStatus::Running));
    assert_eq!(
        ready(&running.conditions),
        Some((ConditionStatus::True, "NodesRunning".into()))
    );
}

#[tokio::test]
async fn deleting_a_network_takes_its_peerings_down_first() {
    let w = World::new().await;
    w.customer_vpc(
        Provider::Aws,
        "123456789012",
        "vpc-0a0a0a0a",
        "192.168.0.0/16",
    );
    w.customer_vpc(
        Provider::Aws,
        "123456789012",
        "vpc-0b0b0b0b",
        "172.16.0.0/16",
    );
    let net = w.network(Provider::Aws, "10.20.0.0/16").await;
    let a = w
        .peering(&net, "a", "123456789012", "vpc-0a0a0a0a", "192.168.1.0/24")
        .await;
    let b = w
        .peering(&net, "b", "123456789012", "vpc-0b0b0b0b", "172.16.1.0/24")
        .await;
    w.peering_reaches(&a, PeeringStatus::PendingAcceptance)
        .await;
    w.peering_reaches(&b, PeeringStatus::PendingAcceptance)
        .await;
    w.sim
        .customer_action(a.id, CustomerActionKind::Accept)
        .unwrap();
    w.peering_reaches(&a, PeeringStatus::Active).await;

    w.store
        .delete_network(&actor(), w.project.id, net.id, None)
        .await
        .unwrap();
    w.wake(Kind::Network, net.id.0);
    let gone = w.network_reaches(&net, NetworkStatus::Deleted).await;
    assert_eq!(
        ready(&gone.conditions),
        Some((ConditionStatus::False, "Deleted".into()))
    );
    for p in [&a, &b] {
        assert_eq!(w.get_peering(p).await.status, PeeringStatus::Deleted);
        assert_eq!(w.sim.peering_view(p.id), None, "nothing left in the cloud");
    }
}

#[tokio::test]
async fn deleting_a_cluster_removes_its_nodes() {
    let w = World::new().await;
    let net = w.network(Provider::Gcp, "10.20.0.0/16").await;
    let c = w.cluster(&net).await;
    w.cluster_reaches(&c, ClusterStatus::Running).await;
    w.store
        .delete_cluster(&actor(), w.project.id, c.id, None)
        .await
        .unwrap();
    w.wake(Kind::Cluster, c.id.0);
    let gone = w.cluster_reaches(&c, ClusterStatus::Deleted).await;
    assert!(gone.nodes.iter().all(|n| n.status == NodeStatus::Deleted));
}

#[tokio::test]
async fn injected_faults_are_recorded_then_retried_with_backoff_into_success() {
    let w = World::new().await;
    w.customer_vpc(
        Provider::Aws,
        "123456789012",
        "vpc-0a0b0c0d",
        "192.168.0.0/16",
    );
    let net = w.network(Provider::Aws, "10.20.0.0/16").await;
    w.network_reaches(&net, NetworkStatus::Active).await;
    w.sim.inject_fault("ensure_peering", 3).unwrap();
    let p = w
        .peering(
            &net,
            "app",
            "123456789012",
            "vpc-0a0b0c0d",
            "192.168.1.0/24",
        )
        .await;

    let failing = eventually("the driver error to be recorded", || async {
        let now = w.get_peering(&p).await;
        let c = find_condition(&now.conditions, "Reconciled")?;
        (c.status == ConditionStatus::False).then_some(now)
    })
    .await;
    let c = find_condition(&failing.conditions, "Reconciled").unwrap();
    assert_eq!(c.reason, "DriverError");
    assert!(c.message.contains("injected fault"), "{}", c.message);
    assert!(
        failing.status_message.contains("retrying in"),
        "{}",
        failing.status_message
    );

    let pending = w
        .peering_reaches(&p, PeeringStatus::PendingAcceptance)
        .await;
    let c = find_condition(&pending.conditions, "Reconciled").unwrap();
    assert_eq!(c.status, ConditionStatus::True);
    assert!(w.controller.stats().errors >= 3);
}

#[tokio::test]
async fn a_restart_at_any_point_converges() {
    let mut w = World::new().await;
    w.customer_vpc(
        Provider::Aws,
        "123456789012",
        "vpc-0a0b0c0d",
        "192.168.0.0/16",
    );
    w.customer_vpc(
        Provider::Azure,
        "0b1f6471-1bf0-4dda-aec3-111122223333",
        "app-vnet",
        "172.16.0.0/16",
    );
    let aws = w.network(Provider::Aws, "10.20.0.0/16").await;
    let azure = w.network(Provider::Azure, "10.30.0.0/16").await;
    let p = w
        .peering(
            &aws,
            "app",
            "123456789012",
            "vpc-0a0b0c0d",
            "192.168.1.0/24",
        )
        .await;
    let c = w.cluster(&azure).await;
    w.peering_reaches(&p, PeeringStatus::PendingAcceptance)
        .await;

    // Crash, with whatever was in flight; the customer accepts while we are down and a
    // new peering is written (the API would enqueue it, but no controller is running).
    w.crash().await;
    let q = w
        .peering(
            &azure,
            "vnet",
            "0b1f6471-1bf0-4dda-aec3-111122223333",
            "app-vnet",
            "172.16.1.0/24",
        )
        .await;
    let sim_while_down = open_sim(journal(&w.dir));
    sim_while_down
        .customer_action(p.id, CustomerActionKind::Accept)
        .unwrap();
    drop(sim_while_down);

    w.restart().await;
    w.peering_reaches(&p, PeeringStatus::Active).await;
    w.peering_reaches(&q, PeeringStatus::PendingPeer).await;
    w.cluster_reaches(&c, ClusterStatus::Running).await;

    // And once more, right away, mid-handshake: nothing is repeated or lost.
    w.sim
        .customer_action(q.id, CustomerActionKind::GrantRole)
        .unwrap();
    w.restart().await;
    w.peering_reaches(&q, PeeringStatus::Active).await;
    assert_eq!(w.get_peering(&p).await.status, PeeringStatus::Active);
}

#[tokio::test]
async fn a_peering_our_side_lost_is_requested_again_by_the_resync() {
    let w = World::new().await;
    w.customer_vpc(
        Provider::Aws,
        "123456789012",
        "vpc-0a0b0c0d",
        "192.168.0.0/16",
    );
    let net = w.network(Provider::Aws, "10.20.0.0/16").await;
    let p = w
        .peering(
            &net,
            "app",
            "123456789012",
            "vpc-0a0b0c0d",
            "192.168.1.0/24",
        )
        .await;
    w.peering_reaches(&p, PeeringStatus::PendingAcceptance)
        .await;
    w.sim
        .customer_action(p.id, CustomerActionKind::Accept)
        .unwrap();
    let active = w.peering_reaches(&p, PeeringStatus::Active).await;

    // Someone removes the connection at the provider behind the platform's back.
    let net_now = w.get_network(&net).await;
    w.sim
        .driver(Provider::Aws)
        .delete_peering(&net_now, &active)
        .await
        .unwrap();
    let again = eventually("a fresh request for the lost connection", || async {
        let now = w.get_peering(&p).await;
        let fresh = now.provider_peering_id != active.provider_peering_id;
        (now.status == PeeringStatus::PendingAcceptance && fresh).then_some(now)
    })
    .await;
    assert!(w.sim.peering_view(p.id).is_some());
    assert_eq!(again.observed_generation, again.generation);
}

#[tokio::test]
async fn nodes_that_vanish_are_replaced_and_the_cluster_runs_again() {
    let w = World::new().await;
    let net = w.network(Provider::Azure, "10.20.0.0/16").await;
    let c = w.cluster(&net).await;
    let running = w.cluster_reaches(&c, ClusterStatus::Running).await;

    let net_now = w.get_network(&net).await;
    w.sim
        .driver(Provider::Azure)
        .delete_nodes(&net_now, &running)
        .await
        .unwrap();
    // The resync finds the nodes gone and starts new ones; the cluster passes through
    // `updating` (too briefly to catch reliably) and runs again with all nodes observed.
    eventually("the replaced nodes to run", || async {
        let nodes = w
            .sim
            .driver(Provider::Azure)
            .observe_nodes(&net_now, &running)
            .await
            .unwrap();
        nodes
            .iter()
            .all(|n| n.state == isthmus_driver::NodeState::Running)
            .then_some(())
    })
    .await;
    let again = w.cluster_reaches(&c, ClusterStatus::Running).await;
    assert!(again.nodes.iter().all(|n| n.status == NodeStatus::Running));
}
