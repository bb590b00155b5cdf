//! The start-up sweep of the `local` provider keeps what the store accounts for: after a
//! restart on the same data dir, the kernel objects of an object of every registered kind
//! that `local` provisions are all still there, while an orphan under the prefix goes.
//! Runs as root (network namespaces), under a kernel-object prefix of its own
//! (`isthr3`), and removes everything under it when done.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use isthmus_core::kinds::endpoint_service::{EndpointService, EndpointServiceStatus};
use isthmus_core::kinds::migration::{Migration, MigrationStatus};
use isthmus_core::kinds::vpn_client::{VpnClient, VpnClientStatus};
use isthmus_core::kinds::vpn_gateway::{VpnGateway, VpnGatewayStatus};
use isthmus_core::resources::{Cluster, Network, Peering, Provider};
use isthmus_core::state::{ClusterStatus, NetworkStatus, PeeringStatus};
use isthmus_driver_local::{LocalConfig, LocalDriver};
use isthmus_server::controller::{Controller, ControllerConfig};
use isthmus_server::kinds::KINDS;
use isthmus_store::api::{Api, Env};
use isthmus_store::sqlite::SqliteStore;
use isthmus_store::{Actor, Store};
use serde_json::json;

const PREFIX: &str = "isthr3";
const DEADLINE: Duration = Duration::from_secs(60);

/// Removes every kernel object under the prefix, however the test ends.
struct Cleanup(Option<Arc<LocalDriver>>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(driver) = self.0.take() {
            driver.purge();
        }
    }
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Every kernel object under the prefix: namespaces, the links inside each, and the
/// firewall chains of each.
fn kernel_objects() -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    let namespaces: Vec<String> = run("ip", &["netns", "list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|ns| ns.starts_with(&format!("{PREFIX}-")))
        .map(str::to_string)
        .collect();
    for ns in namespaces {
        for line in run("ip", &["-n", &ns, "-o", "link", "show"]).lines() {
            // "7: isthr3pab12cd34@if6: <BROADCAST…": the name, without the peer's index.
            if let Some(name) = line.split(": ").nth(1) {
                let name = name.split('@').next().unwrap_or(name);
                if name != "lo" {
                    all.insert(format!("link {name} in {ns}"));
                }
            }
        }
        let chains = run("ip", &["netns", "exec", &ns, "nft", "list", "chains"]);
        for line in chains.lines() {
            if let Some(chain) = line.trim().strip_prefix("chain ") {
                let chain = chain.trim_end_matches(" {").to_string();
                all.insert(format!("chain {chain} in {ns}"));
            }
        }
        all.insert(format!("namespace {ns}"));
    }
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn the_kernel_objects_of_every_registered_local_kind_survive_a_restart() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the local provider makes network namespaces: run this test as root"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = LocalConfig {
        prefix: PREFIX.into(),
    };
    let actor = Actor("token:test".into());
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("isthmus.db"))
            .await
            .unwrap(),
    );
    let lab = serde_json::from_value(json!({"name": "customer", "cidr_block": "172.31.40.0/24"}))
        .unwrap();
    store.create_lab_vpc(&actor, &lab).await.unwrap();

    // The first start: the local provider (restoring the lab VPC) and the controller.
    let driver = isthmus_server::local::start(&config, store.as_ref())
        .await
        .unwrap()
        .expect("the local provider runs as root");
    let mut cleanup = Cleanup(Some(driver.clone()));
    let provisioners = driver.provisioners();
    let (_handle, controller) = Controller::start(
        store.clone(),
        provisioners.clone(),
        // The test writes to the store directly: the resync, not the API, queues it all.
        ControllerConfig {
            resync_interval: Duration::from_millis(100),
            poll_interval: Duration::from_millis(20),
            ..ControllerConfig::default()
        },
    );

    // One object of every kind, with every kernel object it can have (an uplink and a
    // public endpoint, a peering veth, a node with egress and private allow-list chains).
    let project = store
        .create_project(
            &actor,
            &serde_json::from_value(json!({"name": "p"})).unwrap(),
            None,
        )
        .await
        .unwrap();
    let net = serde_json::from_value(json!({
        "name": "n", "provider": "local", "region": "host", "cidr_block": "10.77.0.0/24",
    }))
    .unwrap();
    let net: Network = Api::<Network>::new(store.docs())
        .create(&actor, project.id, &net, &Env::default(), None)
        .await
        .unwrap()
        .resource;
    let peering = serde_json::from_value(json!({
        "name": "to-customer", "network_id": net.id.to_string(),
        "peer": {"account_id": "lab", "network_id": "customer", "region": "host"},
        "routes": ["172.31.40.0/24"],
    }))
    .unwrap();
    let peering: Peering = Api::<Peering>::new(store.docs())
        .create(&actor, project.id, &peering, &Env::default(), None)
        .await
        .unwrap()
        .resource;
    let cluster = serde_json::from_value(json!({
        "name": "c", "network_id": net.id.to_string(), "engine": "probe",
        "topology": "single-node",
        "public_access": {"enabled": true, "allowlist": [{"cidr": "198.51.100.0/24"}]},
        "private_allowlist": [{"cidr": "172.31.40.0/24"}],
        "egress_allowlist": [{"cidr": "172.31.40.0/24"}],
    }))
    .unwrap();
    let cluster: Cluster = Api::<Cluster>::new(store.docs())
        .create(
            &actor,
            project.id,
            &cluster,
            &Env {
                dns_zone: "isthmus.internal".to_string(),
            },
            None,
        )
        .await
        .unwrap()
        .resource;
    // A migration into a NATS cluster: its replicator's namespace, bridge port and egress
    // chain (no engine runs here: this controller has no node supervisor).
    let nats = serde_json::from_value(json!({
        "name": "events", "network_id": net.id.to_string(), "engine": "nats",
        "topology": "single-node",
    }))
    .unwrap();
    let nats: Cluster = Api::<Cluster>::new(store.docs())
        .create(&actor, project.id, &nats, &Env::default(), None)
        .await
        .unwrap()
        .resource;
    let migration = serde_json::from_value(json!({
        "name": "move", "target_cluster_id": nats.id.to_string(),
        "source": {"urls": ["nats://172.31.40.10:4222"]},
    }))
    .unwrap();
    let migration: Migration = Api::<Migration>::new(store.docs())
        .create(&actor, project.id, &migration, &Env::default(), None)
        .await
        .unwrap()
        .resource;
    // An endpoint service on the cluster (its lab endpoints are the lab's, not swept here),
    // and a VPN gateway with one client: its wireguard-go interface and router chains.
    let service = serde_json::from_value(json!({
        "name": "pl", "cluster_id": cluster.id.to_string(), "allowed_principals": [],
        "acceptance_required": true,
    }))
    .unwrap();
    let service: EndpointService = Api::<EndpointService>::new(store.docs())
        .create(&actor, project.id, &service, &Env::default(), None)
        .await
        .unwrap()
        .resource;
    let gateway = serde_json::from_value(json!({
        "name": "vpn", "network_id": net.id.to_string(), "client_cidr": "100.64.9.0/24",
        "dns": "none",
    }))
    .unwrap();
    let gateway: VpnGateway = Api::<VpnGateway>::new(store.docs())
        .create(&actor, project.id, &gateway, &Env::default(), None)
        .await
        .unwrap()
        .resource;
    let client = serde_json::from_value(json!({
        "name": "laptop", "gateway_id": gateway.id.to_string(),
        "public_key": "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
        "grants": [{"cluster_id": cluster.id.to_string(), "ports": [443]}],
    }))
    .unwrap();
    let client: VpnClient = Api::<VpnClient>::new(store.docs())
        .create(&actor, project.id, &client, &Env::default(), None)
        .await
        .unwrap()
        .resource;
    let made = BTreeSet::from([
        "network",
        "peering",
        "cluster",
        "migration",
        "endpoint_service",
        "vpn_gateway",
        "vpn_client",
    ]);
    for kind in KINDS {
        if kind.provisioned_by(&provisioners, Provider::Local) {
            assert!(
                made.contains(kind.info().name),
                "this test makes no {}: add one, so the sweep is shown to keep its kernel objects",
                kind.info().name
            );
        }
    }

    let p = project.id;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let n = Api::<Network>::new(store.docs())
            .get(p, net.id.as_id())
            .await
            .unwrap();
        let pe = Api::<Peering>::new(store.docs())
            .get(p, peering.id.as_id())
            .await
            .unwrap();
        let c = Api::<Cluster>::new(store.docs())
            .get(p, cluster.id.as_id())
            .await
            .unwrap();
        let m = Api::<Migration>::new(store.docs())
            .get(p, migration.id.as_id())
            .await
            .unwrap();
        let es = Api::<EndpointService>::new(store.docs())
            .get(p, service.id.as_id())
            .await
            .unwrap();
        let g = Api::<VpnGateway>::new(store.docs())
            .get(p, gateway.id.as_id())
            .await
            .unwrap();
        let vc = Api::<VpnClient>::new(store.docs())
            .get(p, client.id.as_id())
            .await
            .unwrap();
        if n.status == NetworkStatus::Active
            && es.status == EndpointServiceStatus::Available
            && g.status == VpnGatewayStatus::Ready
            && vc.status == VpnClientStatus::Pending
            && pe.status == PeeringStatus::Active
            && c.status == ClusterStatus::Running
            && m.status == MigrationStatus::Copying
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for everything to converge: network {} ({}), peering {} ({}), \
             cluster {} ({}), migration {} ({}), endpoint service {} ({}), vpn gateway {} \
             ({}), vpn client {} ({})",
            n.status,
            n.status_message,
            pe.status,
            pe.status_message,
            c.status,
            c.status_message,
            m.status,
            m.status_message,
            es.status,
            es.status_message,
            g.status,
            g.status_message,
            vc.status,
            vc.status_message
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = kernel_objects();
    for expected in [
        format!("namespace {}", driver.router_namespace(&net)),
        format!("namespace {}", driver.node_namespace(&cluster, 0)),
        format!("namespace {PREFIX}-inet"),
        format!("namespace {}", driver.migration_namespace(&migration)),
    ] {
        assert!(before.contains(&expected), "{expected} in {before:#?}");
    }

    // A crash: the controller stops wherever it is. Meanwhile someone leaves an orphan.
    controller.abort();
    let _ = controller.await;
    run("ip", &["netns", "add", &format!("{PREFIX}-r-00000000")]);

    // The restart: the local provider starts again on the same store and sweeps.
    let again = isthmus_server::local::start(&config, store.as_ref())
        .await
        .unwrap()
        .expect("the local provider runs as root");
    cleanup.0 = Some(again);
    let after = kernel_objects();
    let lost: Vec<_> = before.difference(&after).collect();
    assert!(lost.is_empty(), "the sweep removed live objects: {lost:#?}");
    let gained: Vec<_> = after.difference(&before).collect();
    assert!(gained.is_empty(), "the orphan stays: {gained:#?}");
}
