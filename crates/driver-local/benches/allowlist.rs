//! Allow-list figures of the local driver (run as root: `cargo bench -p isthmus-driver-local
//! --bench allowlist`). Prints the time `ensure_nodes` takes to apply an 8,000-entry public
//! allow-list the first time, to replace it with 8,000 other entries (element change), to
//! replace it with a list that widens entries (set swap), and to add one entry; and the
//! time of `observe_nodes` (drift check) with 8,000 entries. Everything lives in
//! namespaces under the prefix `isthd2` and is removed at the end (and at the start).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use chrono::Utc;
use isthmus_core::resources::{
    AllowlistEntry, Cluster, Network, Node, Provider, PublicAccess, PublicEndpoint, Topology,
};
use isthmus_core::state::{ClusterStatus, NetworkStatus, NodeStatus};
use isthmus_core::{Cidr, Id};
use isthmus_driver::{Driver, NodeState};
use isthmus_driver_local::{LocalConfig, LocalDriver};

const PREFIX: &str = "isthd2";
const ENTRIES: u32 = 8_000;

struct Cleanup(Arc<LocalDriver>);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let report = self.0.purge();
        if !report.errors.is_empty() {
            eprintln!("cleanup errors: {:?}", report.errors);
        }
    }
}

fn id(n: u64) -> Id {
    Id::from_parts(
        Utc::now().timestamp() as u32,
        (u64::from(std::process::id()) << 32 | n).to_be_bytes(),
    )
}

fn network() -> Network {
    let now = Utc::now();
    Network {
        id: id(1).into(),
        project_id: id(0).into(),
        name: "bench".into(),
        provider: Provider::Local,
        region: "local".into(),
        cidr_block: "172.29.95.0/24".parse().unwrap(),
        status: NetworkStatus::Provisioning,
        status_message: String::new(),
        provider_network_id: None,
        generation: 1,
        observed_generation: 0,
        conditions: vec![],
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

fn cluster(net: &Network) -> Cluster {
    let now = Utc::now();
    Cluster {
        private_allowlist: Vec::new(),
        public_endpoint: Some(PublicEndpoint {
            dns_name: "public-bench.isthmus.internal".into(),
            ip: Ipv4Addr::new(198, 18, 0, 1),
        }),
        warnings: Vec::new(),
        id: id(2).into(),
        project_id: net.project_id,
        name: "db".into(),
        network_id: net.id,
        engine: "kurrentdb".into(),
        topology: Topology::ThreeNodeMultiZone,
        public_access: PublicAccess::default(),
        egress_allowlist: vec![],
        dns_name: String::new(),
        nodes: (0..3u8)
            .map(|i| Node {
                index: u32::from(i),
                ip: Ipv4Addr::new(172, 29, 95, 2 + i),
                dns_name: String::new(),
                zone: String::new(),
                status: NodeStatus::Provisioning,
            })
            .collect(),
        addresses: vec![],
        status: ClusterStatus::Provisioning,
        status_message: String::new(),
        generation: 1,
        observed_generation: 0,
        conditions: vec![],
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

/// 8,000 disjoint /24s; `variant` picks the third octet, so two variants share nothing.
fn list(variant: u8, len: u8) -> Vec<AllowlistEntry> {
    (0..ENTRIES)
        .map(|i| {
            let (a, b) = (11 + (i / 256) as u8, (i % 256) as u8);
            AllowlistEntry {
                cidr: Cidr::containing(Ipv4Addr::new(a, b, variant, 0), len),
                comment: String::new(),
            }
        })
        .collect()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

async fn timed_ensure(d: &LocalDriver, net: &Network, db: &Cluster) -> Result<Duration> {
    let start = Instant::now();
    let seen = d.ensure_nodes(net, db).await?;
    let took = start.elapsed();
    ensure!(
        seen.iter().all(|n| n.state == NodeState::Running),
        "nodes not running after apply: {seen:?}"
    );
    Ok(took)
}

#[tokio::main]
async fn main() -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("the allow-list bench creates network namespaces: run it as root");
    }
    let driver = LocalDriver::new(LocalConfig {
        prefix: PREFIX.into(),
    })?;
    driver.purge();
    let _cleanup = Cleanup(driver.clone());
    let d = driver.as_ref();
    let net = network();
    let mut db = cluster(&net);
    d.ensure_network(&net).await?;
    d.ensure_nodes(&net, &db).await?;
    d.ensure_internet().await?;

    let start = Instant::now();
    d.observe_nodes(&net, &db).await?;
    let t_observe_off = start.elapsed();

    db.public_access = PublicAccess {
        enabled: true,
        allowlist: list(1, 24),
    };
    let t_first = timed_ensure(d, &net, &db).await?;
    let start = Instant::now();
    d.observe_nodes(&net, &db).await?;
    let t_observe = start.elapsed();

    db.public_access.allowlist = list(2, 24);
    let t_replace = timed_ensure(d, &net, &db).await?;

    // Every /24 widened to its /23: each added prefix overlaps a removed one (set swap).
    db.public_access.allowlist = list(2, 23);
    let t_swap = timed_ensure(d, &net, &db).await?;

    db.public_access.allowlist.push(AllowlistEntry {
        cidr: "203.0.113.10/32".parse()?,
        comment: String::new(),
    });
    let t_add_one = timed_ensure(d, &net, &db).await?;

    println!(
        "public allow-list of {ENTRIES} entries, ensure_nodes (3 nodes, incl. its observe {}):",
        ms(t_observe)
    );
    println!(
        "  first apply (internet uplink, endpoint, set)              {}",
        ms(t_first)
    );
    println!(
        "  replace with {ENTRIES} other entries       {}",
        ms(t_replace)
    );
    println!("  replace with widened entries (set swap) {}", ms(t_swap));
    println!(
        "  add one entry                           {}",
        ms(t_add_one)
    );
    println!(
        "  observe_nodes without a public list {}  with {ENTRIES} entries {}",
        ms(t_observe_off),
        ms(t_observe)
    );
    Ok(())
}
