//! Cold resync: how long a freshly started controller takes to visit every live key once,
//! with 10,000 networks and 100,000 peerings on the simulated clouds, all already active
//! (so each visit is a read, an observation, and no write).
//!
//! `cargo bench -p isthmus-server --bench resync` (plain main, prints its figures).
//! Scale with ISTHMUS_BENCH_NETWORKS and ISTHMUS_BENCH_PEERINGS_PER_NETWORK.
//! The database lives on /dev/shm when it exists, so setup is not bound by fsync.

#[path = "common/rss.rs"]
mod rss;

use std::sync::Arc;
use std::time::{Duration, Instant};

use isthmus_core::resources::{Network, Peering, Provider};
use isthmus_core::state::PeeringStatus;
use isthmus_driver::sim::{CustomerActionKind, CustomerVpc, SimClouds, SimConfig};
use isthmus_server::controller::{Controller, ControllerConfig, ControllerHandle};
use isthmus_store::api::{Api, Env};
use isthmus_store::sqlite::SqliteStore;
use isthmus_store::{Actor, ObjectKey, Store};
use serde_json::json;

const NETWORKS_PER_PROJECT: usize = 100;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let networks = env_or("ISTHMUS_BENCH_NETWORKS", 10_000);
    let per_network = env_or("ISTHMUS_BENCH_PEERINGS_PER_NETWORK", 10);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(networks, per_network))
}

async fn run(networks: usize, per_network: usize) -> anyhow::Result<()> {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")?
    } else {
        tempfile::tempdir()?
    };
    let store = SqliteStore::open(&base.path().join("isthmus.db")).await?;
    let store: Arc<dyn Store> = Arc::new(store);
    let sim = SimClouds::open(SimConfig::default())?;
    let drivers = sim.provisioners(&[Provider::Aws]);
    sim.create_customer_vpc(CustomerVpc {
        cloud: Provider::Aws,
        account_id: "123456789012".into(),
        network_id: "vpc-0a0b0c0d".into(),
        region: "eu-west-1".into(),
        cidr_block: "192.168.0.0/16".into(),
    })
    .map_err(anyhow::Error::msg)?;

    let t = Instant::now();
    let (nets, peerings) = insert(&store, networks, per_network).await?;
    println!(
        "setup: inserted {} networks and {} peerings in {:.1?}",
        nets.len(),
        peerings.len(),
        t.elapsed()
    );

    // Bring everything to active with the controller itself, so the stored status is
    // exactly what a reconcile computes (the measured pass then writes nothing).
    let t = Instant::now();
    let warm_config = ControllerConfig {
        resync_interval: Duration::from_secs(3600),
        pending_interval: Duration::from_secs(3600),
        ..ControllerConfig::default()
    };
    let (warm, task) = Controller::start(store.clone(), drivers.clone(), warm_config);
    settle(&warm).await;
    for p in &peerings {
        sim.customer_action(p.id, CustomerActionKind::Accept)
            .map_err(anyhow::Error::msg)?;
    }
    for p in &peerings {
        warm.enqueue(ObjectKey::of::<Peering>(p.id.0));
    }
    settle(&warm).await;
    task.abort();
    let _ = task.await;
    let active = count_active(&store, &peerings).await?;
    println!(
        "setup: brought to active in {:.1?} ({active} of {} peerings active)",
        t.elapsed(),
        peerings.len()
    );

    let keys = store.list_live().await?.len() as u64;
    let config = ControllerConfig {
        resync_interval: Duration::from_secs(3600),
        ..ControllerConfig::default()
    };
    let workers = config.workers;
    let t = Instant::now();
    let (cold, task) = Controller::start(store.clone(), drivers, config);
    while cold.stats().reconciles < keys {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let took = t.elapsed();
    let stats = cold.stats();
    task.abort();
    println!(
        "cold resync: visited {keys} keys ({} networks, {} peerings) in {:.2?} with {workers} workers = {:.0} keys/s, {} errors",
        nets.len(),
        peerings.len(),
        took,
        keys as f64 / took.as_secs_f64(),
        stats.errors
    );
    println!(
        "peak RSS of the process (store, controller, simulated clouds): {:.1} MiB",
        rss::peak_rss_mib()
    );
    Ok(())
}

async fn insert(
    store: &Arc<dyn Store>,
    networks: usize,
    per_network: usize,
) -> anyhow::Result<(Vec<Network>, Vec<Peering>)> {
    let actor = Actor("bench".into());
    let mut nets = Vec::with_capacity(networks);
    let mut peerings = Vec::with_capacity(networks * per_network);
    let mut project = None;
    for n in 0..networks {
        if n % NETWORKS_PER_PROJECT == 0 {
            let req = serde_json::from_value(json!({"name": format!("p{n}")}))?;
            project = Some(store.create_project(&actor, &req, None).await?.id);
        }
        let project = project.expect("made above");
        // Distinct /24s within a project: 10.<i / 256>.<i % 256>.0/24.
        let i = n % NETWORKS_PER_PROJECT;
        let req = serde_json::from_value(json!({
            "name": format!("n{n}"), "provider": "aws", "region": "eu-west-1",
            "cidr_block": format!("10.{}.{}.0/24", i / 256, i % 256),
        }))?;
        let net = Api::<Network>::new(store.docs())
            .create(&actor, project, &req, &Env::default(), None)
            .await?
            .resource;
        for j in 0..per_network {
            let req = serde_json::from_value(json!({
                "name": format!("p{j}"), "network_id": net.id.to_string(),
                "peer": {"account_id": "123456789012", "network_id": "vpc-0a0b0c0d", "region": "eu-west-1"},
                "routes": [format!("192.168.{j}.0/24")],
            }))?;
            peerings.push(
                Api::<Peering>::new(store.docs())
                    .create(&actor, project, &req, &Env::default(), None)
                    .await?
                    .resource,
            );
        }
        nets.push(net);
    }
    Ok((nets, peerings))
}

/// Waits until the controller has nothing queued to run now and has stopped reconciling
/// (waiting handshakes stay scheduled for later).
async fn settle(handle: &ControllerHandle) {
    let mut last = u64::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let s = handle.stats();
        if s.queue_depth == 0 && s.reconciles == last {
            return;
        }
        last = s.reconciles;
    }
}

async fn count_active(store: &Arc<dyn Store>, peerings: &[Peering]) -> anyhow::Result<usize> {
    let mut active = 0;
    let api = Api::<Peering>::new(store.docs());
    for p in peerings {
        if let Some(now) = api.load(p.id.0).await? {
            active += usize::from(now.status == PeeringStatus::Active);
        }
    }
    Ok(active)
}
