//! The controller end to end: SqliteStore on a temp file, the simulated clouds as the
//! providers, and the test acting as the API (writes to the store, then enqueues) and as
//! the customer (actions in the simulated clouds). Every wait polls with a deadline.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use isthmus_core::conditions::{find_condition, ConditionStatus};
use isthmus_core::resources::{Cluster, Network, Peering, Provider};
use isthmus_core::state::{ClusterStatus, NetworkStatus, NodeStatus, PeeringStatus};
use isthmus_driver::sim::{CustomerActionKind, CustomerVpc, SimClouds, SimConfig};
use isthmus_driver::{
    DriverError, NetworkObservation, NetworkState, NodeObservation, PeeringObservation,
    PeeringState, Provisioner, Provisioners, Teardown,
};
use isthmus_server::controller::ControllerConfig;
use isthmus_store::api::{Api, Env};
use isthmus_test_support::{actor, deref_to_harness, Harness, Patience};
use serde_json::json;

const PATIENCE: Patience = Patience {
    within: Duration::from_secs(20),
    every: Duration::from_millis(5),
};

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

/// The shared controller harness (store, project, controller, all on one temp dir) with
/// the simulated clouds as the providers, their journal beside the database.
struct World {
    harness: Harness,
    sim: Arc<SimClouds>,
}

deref_to_harness!(World);

impl World {
    async fn new() -> World {
        let mut harness = Harness::new(PATIENCE).await;
        let sim = open_sim(journal(harness.dir()));
        harness.start(drivers(&sim), fast());
        World { harness, sim }
    }

    /// Crashes, forgets the in-memory clouds, and starts both again from the same
    /// database and journal.
    async fn restart(&mut self) {
        self.crash().await;
        self.sim = open_sim(journal(self.dir()));
        let drivers = drivers(&self.sim);
        self.harness.start(drivers, fast());
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
        self.create(json!({
            "name": format!("net-{provider}"), "provider": provider,
            "region": region(provider), "cidr_block": cidr,
        }))
        .await
    }

    async fn peering(
        &self,
        net: &Network,
        name: &str,
        account: &str,
        vpc: &str,
        route: &str,
    ) -> Peering {
        self.create(json!({
            "name": name, "network_id": net.id.to_string(),
            "peer": {"account_id": account, "network_id": vpc, "region": region(net.provider)},
            "routes": [route],
        }))
        .await
    }

    async fn cluster(&self, net: &Network) -> Cluster {
        self.create(json!({
            "name": "db", "network_id": net.id.to_string(), "engine": "nats",
            "topology": "three-node-multi-zone",
        }))
        .await
    }

    async fn get_network(&self, n: &Network) -> Network {
        self.get(n.id.as_id()).await
    }
    async fn get_peering(&self, p: &Peering) -> Peering {
        self.get(p.id.as_id()).await
    }
    async fn get_cluster(&self, c: &Cluster) -> Cluster {
        self.get(c.id.as_id()).await
    }

    async fn peering_reaches(&self, p: &Peering, status: PeeringStatus) -> Peering {
        self.reaches_status(p, status).await
    }

    async fn network_reaches(&self, n: &Network, status: NetworkStatus) -> Network {
        self.reaches_status(n, status).await
    }

    async fn cluster_reaches(&self, c: &Cluster, status: ClusterStatus) -> Cluster {
        self.reaches_status(c, status).await
    }
}

fn journal(dir: &Path) -> PathBuf {
    dir.join("sim-journal.jsonl")
}

fn open_sim(journal: PathBuf) -> Arc<SimClouds> {
    SimClouds::open(SimConfig {
        latency: Duration::from_millis(2),
        journal: Some(journal),
    })
    .unwrap()
}

fn drivers(sim: &Arc<SimClouds>) -> Provisioners {
    sim.provisioners(&[Provider::Aws, Provider::Gcp, Provider::Azure])
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
    Api::<Peering>::new(w.store.docs())
        .update(&actor(), w.project.id, p.id.as_id(), &req, None)
        .await
        .unwrap();
    w.wake::<Peering>(p.id.0);
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

    let waiting = w
        .eventually("the cluster to say it waits for the network", || async {
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

    Api::<Network>::new(w.store.docs())
        .delete(&actor(), w.project.id, net.id.as_id(), None)
        .await
        .unwrap();
    w.wake::<Network>(net.id.0);
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
    Api::<Cluster>::new(w.store.docs())
        .delete(&actor(), w.project.id, c.id.as_id(), None)
        .await
        .unwrap();
    w.wake::<Cluster>(c.id.0);
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

    let failing = w
        .eventually("the driver error to be recorded", || async {
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
    assert!(w.controller().stats().errors >= 3);
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
    let sim_while_down = open_sim(journal(w.dir()));
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
        .cloud(Provider::Aws)
        .delete(&active, &net_now)
        .await
        .unwrap();
    let again = w
        .eventually("a fresh request for the lost connection", || async {
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
        .cloud(Provider::Azure)
        .delete(&running, &net_now)
        .await
        .unwrap();
    // The resync finds the nodes gone and starts new ones; the cluster passes through
    // `updating` (too briefly to catch reliably) and runs again with all nodes observed.
    w.eventually("the replaced nodes to run", || async {
        let nodes = w
            .sim
            .cloud(Provider::Azure)
            .observe(&running, &net_now)
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

// ---- permanent and retryable driver errors, with a driver whose failures the test sets ----

/// A `local` driver that converges at once unless the test sets a fault for an operation
/// on a resource (by name), and counts every call per (operation, resource name).
#[derive(Default)]
struct FakeDriver {
    faults: Mutex<HashMap<(&'static str, String), DriverError>>,
    calls: Mutex<HashMap<(&'static str, String), u32>>,
}

impl FakeDriver {
    fn fail(&self, op: &'static str, name: &str, error: DriverError) {
        self.faults.lock().unwrap().insert((op, name.into()), error);
    }

    fn heal(&self, op: &'static str, name: &str) {
        self.faults.lock().unwrap().remove(&(op, name.to_string()));
    }

    fn calls(&self, op: &'static str, name: &str) -> u32 {
        let calls = self.calls.lock().unwrap();
        calls.get(&(op, name.to_string())).copied().unwrap_or(0)
    }

    fn call(&self, op: &'static str, name: &str) -> isthmus_driver::Result<()> {
        *self
            .calls
            .lock()
            .unwrap()
            .entry((op, name.into()))
            .or_insert(0) += 1;
        match self.faults.lock().unwrap().get(&(op, name.to_string())) {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl Provisioner<Network> for FakeDriver {
    async fn ensure(&self, n: &Network, _: &()) -> isthmus_driver::Result<NetworkObservation> {
        self.call("ensure_network", &n.name)?;
        Ok(NetworkObservation {
            state: NetworkState::Ready,
            provider_network_id: Some(format!("fake-{}", n.name)),
            message: "ready".into(),
        })
    }
    async fn observe(&self, n: &Network, _: &()) -> isthmus_driver::Result<NetworkObservation> {
        self.call("observe_network", &n.name)?;
        Ok(NetworkObservation {
            state: NetworkState::Ready,
            provider_network_id: Some(format!("fake-{}", n.name)),
            message: "ready".into(),
        })
    }
    async fn delete(&self, n: &Network, _: &()) -> isthmus_driver::Result<Teardown> {
        self.call("delete_network", &n.name)?;
        Ok(Teardown::Done)
    }
}

#[async_trait::async_trait]
impl Provisioner<Peering> for FakeDriver {
    async fn ensure(&self, p: &Peering, _: &Network) -> isthmus_driver::Result<PeeringObservation> {
        self.call("ensure_peering", &p.name)?;
        Ok(PeeringObservation {
            state: PeeringState::Active,
            provider_peering_id: Some(format!("fake-{}", p.name)),
            message: format!("routes {}", p.routes.len()),
        })
    }
    async fn observe(
        &self,
        p: &Peering,
        _: &Network,
    ) -> isthmus_driver::Result<PeeringObservation> {
        self.call("observe_peering", &p.name)?;
        Ok(PeeringObservation {
            state: PeeringState::Active,
            provider_peering_id: Some(format!("fake-{}", p.name)),
            message: format!("routes {}", p.routes.len()),
        })
    }
    async fn delete(&self, p: &Peering, _: &Network) -> isthmus_driver::Result<Teardown> {
        self.call("delete_peering", &p.name)?;
        Ok(Teardown::Done)
    }
}

#[async_trait::async_trait]
impl Provisioner<Cluster> for FakeDriver {
    async fn ensure(
        &self,
        c: &Cluster,
        _: &Network,
    ) -> isthmus_driver::Result<Vec<NodeObservation>> {
        self.call("ensure_nodes", &c.name)?;
        Ok(running(c))
    }
    async fn observe(
        &self,
        c: &Cluster,
        _: &Network,
    ) -> isthmus_driver::Result<Vec<NodeObservation>> {
        self.call("observe_nodes", &c.name)?;
        Ok(running(c))
    }
    async fn delete(&self, c: &Cluster, _: &Network) -> isthmus_driver::Result<Teardown> {
        self.call("delete_nodes", &c.name)?;
        Ok(Teardown::Done)
    }
}

fn running(c: &Cluster) -> Vec<NodeObservation> {
    c.nodes
        .iter()
        .map(|n| NodeObservation {
            index: n.index,
            state: isthmus_driver::NodeState::Running,
            message: String::new(),
        })
        .collect()
}

/// A store and the fake `local` driver; the controller starts only when the test says, so
/// that what exists by then is enqueued exactly once (by the first resync) and nothing
/// else enqueues it unless the test does, as the API would.
struct FakeWorld {
    harness: Harness,
    fake: Arc<FakeDriver>,
}

deref_to_harness!(FakeWorld);

impl FakeWorld {
    async fn new() -> FakeWorld {
        FakeWorld {
            harness: Harness::new(PATIENCE).await,
            fake: Arc::new(FakeDriver::default()),
        }
    }

    /// Starts the controller; `resync` is how often it re-reads every live resource.
    fn start(&mut self, resync: Duration) {
        let config = ControllerConfig {
            resync_interval: resync,
            backoff_base: Duration::from_millis(10),
            ..fast()
        };
        let drivers = Provisioners::new()
            .with::<Network>(Provider::Local, self.fake.clone())
            .with::<Peering>(Provider::Local, self.fake.clone())
            .with::<Cluster>(Provider::Local, self.fake.clone());
        self.harness.start(drivers, config);
    }

    /// A `local` network, stored only (not enqueued).
    async fn network(&self, name: &str, cidr: &str) -> Network {
        self.create_only(json!({
            "name": name, "provider": "local", "region": "host", "cidr_block": cidr,
        }))
        .await
    }

    /// A peering, stored and enqueued as the API does.
    async fn peering(&self, net: &Network, name: &str, route: &str) -> Peering {
        self.create(json!({
            "name": name, "network_id": net.id.to_string(),
            "peer": {"account_id": "lab", "network_id": "vpc-a", "region": "host"},
            "routes": [route],
        }))
        .await
    }

    async fn network_where(
        &self,
        n: &Network,
        what: &str,
        ok: impl Fn(&Network) -> bool,
    ) -> Network {
        self.reaches(n.id.as_id(), what, ok).await
    }

    async fn peering_where(
        &self,
        p: &Peering,
        what: &str,
        ok: impl Fn(&Peering) -> bool,
    ) -> Peering {
        self.reaches(p.id.as_id(), what, ok).await
    }

    /// Waits until the always-failing `clock` network has been tried `n` times: the
    /// backoff schedule every retryable failure follows, used as a clock with no sleep.
    async fn retries_of(&self, clock: &Network, n: u32) {
        self.eventually(&format!("{n} tries of network {}", clock.name), || async {
            (self.fake.calls("ensure_network", &clock.name) >= n).then_some(())
        })
        .await
    }
}

fn condition_of(
    conditions: &[isthmus_core::conditions::Condition],
    type_: &str,
) -> Option<(ConditionStatus, String)> {
    find_condition(conditions, type_).map(|c| (c.status, c.reason.clone()))
}

/// Far beyond any test: the resync never comes while one runs.
const NO_RESYNC: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn a_permanent_driver_error_reaches_error_with_its_reason_and_is_not_retried() {
    let mut w = FakeWorld::new().await;
    let bad = w.network("bad", "10.20.0.0/16").await;
    let clock = w.network("clock", "10.30.0.0/16").await;
    let refused = "add address 10.20.0.1/16 to link 4: Invalid argument (os error 22)";
    w.fake.fail(
        "ensure_network",
        "bad",
        DriverError::Invalid(refused.into()),
    );
    w.fake.fail(
        "ensure_network",
        "clock",
        DriverError::Transient("busy".into()),
    );
    w.start(NO_RESYNC);

    let failed = w
        .network_where(&bad, "network bad to be error", |n| {
            n.status == NetworkStatus::Error
        })
        .await;
    assert!(
        failed.status_message.contains(refused),
        "{}",
        failed.status_message
    );
    assert!(
        failed
            .status_message
            .contains("not retried until the spec changes"),
        "{}",
        failed.status_message
    );
    assert_eq!(
        condition_of(&failed.conditions, "Reconciled"),
        Some((ConditionStatus::False, "InvalidRequest".into()))
    );
    assert_eq!(
        condition_of(&failed.conditions, "Ready"),
        Some((ConditionStatus::False, "InvalidRequest".into()))
    );
    let reconciled = find_condition(&failed.conditions, "Reconciled").unwrap();
    assert!(
        reconciled.message.contains(refused),
        "{}",
        reconciled.message
    );
    assert_eq!(
        failed.observed_generation, failed.generation,
        "the verdict on this spec is in: `--wait` settles"
    );

    // The retryable failure beside it goes round its backoff five times meanwhile (10 ms,
    // 20 ms, 40 ms, 80 ms): the permanent one was tried once and stays as it was.
    w.retries_of(&clock, 5).await;
    assert_eq!(w.fake.calls("ensure_network", "bad"), 1);
    let still = Api::<Network>::new(w.store.docs())
        .get(w.project.id, bad.id.as_id())
        .await
        .unwrap();
    assert_eq!(still.status, NetworkStatus::Error);
    assert_eq!(still.version, failed.version, "no write since");
    let clock_now = Api::<Network>::new(w.store.docs())
        .get(w.project.id, clock.id.as_id())
        .await
        .unwrap();
    assert_eq!(
        clock_now.status,
        NetworkStatus::Provisioning,
        "a transient error never means error"
    );
}

#[tokio::test]
async fn retryable_driver_errors_back_off_and_the_resource_converges_once_they_clear() {
    let mut w = FakeWorld::new().await;
    let cases = [
        (
            "busy",
            DriverError::Transient("netlink: Device or resource busy".into()),
            "DriverError",
        ),
        (
            "gone",
            DriverError::NotFound("link 7 vanished".into()),
            "NotFound",
        ),
        (
            "waits",
            DriverError::Dependency("lab VPC a has no router namespace".into()),
            "DependencyNotReady",
        ),
    ];
    let mut nets = vec![];
    for (i, (name, error, _)) in cases.iter().enumerate() {
        nets.push(w.network(name, &format!("10.{}.0.0/16", 20 + i)).await);
        w.fake.fail("ensure_network", name, error.clone());
    }
    w.start(NO_RESYNC);

    for (net, (name, error, reason)) in nets.iter().zip(&cases) {
        w.retries_of(net, 3).await;
        let failing = w
            .network_where(net, &format!("network {name} to record its error"), |n| {
                find_condition(&n.conditions, "Reconciled")
                    .is_some_and(|c| c.status == ConditionStatus::False)
            })
            .await;
        assert_eq!(failing.status, NetworkStatus::Provisioning, "{name}");
        assert!(
            failing.status_message.contains(error.message())
                && failing.status_message.contains("retrying in"),
            "{name}: {}",
            failing.status_message
        );
        assert_eq!(
            condition_of(&failing.conditions, "Reconciled"),
            Some((ConditionStatus::False, reason.to_string()))
        );
    }

    for (name, _, _) in &cases {
        w.fake.heal("ensure_network", name);
    }
    for net in &nets {
        let active = w
            .network_where(net, "the network to become active", |n| {
                n.status == NetworkStatus::Active
            })
            .await;
        assert_eq!(
            condition_of(&active.conditions, "Reconciled"),
            Some((ConditionStatus::True, "Observed".into()))
        );
        assert_eq!(active.status_message, "ready");
    }
}

#[tokio::test]
async fn a_spec_change_after_a_permanent_error_tries_again() {
    let mut w = FakeWorld::new().await;
    let net = w.network("net", "10.20.0.0/16").await;
    let clock = w.network("clock", "10.30.0.0/16").await;
    w.fake.fail(
        "ensure_network",
        "clock",
        DriverError::Transient("busy".into()),
    );
    w.fake.fail(
        "ensure_peering",
        "p",
        DriverError::Unsupported("this kernel has no veth support".into()),
    );
    w.start(NO_RESYNC);
    w.network_where(&net, "the network to become active", |n| {
        n.status == NetworkStatus::Active
    })
    .await;

    let p = w.peering(&net, "p", "192.168.1.0/24").await;
    let failed = w
        .peering_where(&p, "peering p to be error", |p| {
            p.status == PeeringStatus::Error
        })
        .await;
    assert!(failed.status_message.contains("no veth support"));
    assert_eq!(
        condition_of(&failed.conditions, "Ready"),
        Some((ConditionStatus::False, "Unsupported".into()))
    );

    // The provider could do it now, but nothing asks: no retry on its own.
    w.fake.heal("ensure_peering", "p");
    let before = w.fake.calls("ensure_network", "clock");
    w.retries_of(&clock, before + 3).await;
    assert_eq!(w.fake.calls("ensure_peering", "p"), 1);
    assert_eq!(
        Api::<Peering>::new(w.store.docs())
            .get(w.project.id, p.id.as_id())
            .await
            .unwrap()
            .status,
        PeeringStatus::Error
    );

    // A new spec (the API bumps the generation and enqueues) is requested again.
    let req =
        serde_json::from_value(json!({"routes": ["192.168.1.0/24", "192.168.2.0/24"]})).unwrap();
    let updated = Api::<Peering>::new(w.store.docs())
        .update(&actor(), w.project.id, p.id.as_id(), &req, None)
        .await
        .unwrap();
    assert!(updated.generation > failed.generation);
    w.wake::<Peering>(p.id.0);
    let active = w
        .peering_where(&p, "peering p to be active", |p| {
            p.status == PeeringStatus::Active
        })
        .await;
    assert_eq!(w.fake.calls("ensure_peering", "p"), 2);
    assert_eq!(active.observed_generation, updated.generation);
    assert_eq!(
        condition_of(&active.conditions, "Ready"),
        Some((ConditionStatus::True, "Active".into()))
    );
}

#[tokio::test]
async fn a_permanent_error_is_looked_at_again_by_the_resync() {
    let mut w = FakeWorld::new().await;
    let net = w.network("net", "10.20.0.0/16").await;
    w.fake.fail(
        "ensure_network",
        "net",
        DriverError::Unsupported("no CAP_NET_ADMIN".into()),
    );
    w.start(Duration::from_millis(100));
    w.network_where(&net, "the network to be error", |n| {
        n.status == NetworkStatus::Error
    })
    .await;
    // The host is fixed; nobody touches the network: the resync finds it can be done.
    w.fake.heal("ensure_network", "net");
    w.network_where(&net, "the network to become active", |n| {
        n.status == NetworkStatus::Active
    })
    .await;
}

/// The local driver makes no VPN gateways yet: a local network's gateway goes to
/// `error`, permanently, saying so (the registry's own words), rather than hanging.
#[tokio::test]
async fn a_gateway_on_a_provider_without_vpn_support_fails_saying_so() {
    use isthmus_core::kinds::vpn_gateway::{VpnGateway, VpnGatewayStatus};

    let mut w = FakeWorld::new().await;
    let net = w.network("net", "10.20.0.0/16").await;
    w.start(NO_RESYNC);
    w.network_where(&net, "the network to become active", |n| {
        n.status == NetworkStatus::Active
    })
    .await;
    let req = serde_json::from_value(json!({
        "name": "laptops", "network_id": net.id.to_string(), "client_cidr": "10.99.0.0/24",
    }))
    .unwrap();
    let g = Api::<VpnGateway>::new(w.store.docs())
        .create(&actor(), w.project.id, &req, &Env::default(), None)
        .await
        .unwrap()
        .resource;
    w.wake::<VpnGateway>(g.id.0);
    let failed = w
        .eventually("the gateway to be error", || async {
            let now = Api::<VpnGateway>::new(w.store.docs())
                .get(w.project.id, g.id.0)
                .await
                .unwrap();
            (now.status == VpnGatewayStatus::Error).then_some(now)
        })
        .await;
    assert!(
        failed
            .status_message
            .contains("local cannot provision vpn-gateways"),
        "{}",
        failed.status_message
    );
    assert_eq!(
        condition_of(&failed.conditions, "Ready"),
        Some((ConditionStatus::False, "Unsupported".into()))
    );
}
