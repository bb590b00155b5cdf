//! Allow-list figures of the local driver (run as root: `cargo bench -p isthmus-driver-local
//! --bench allowlist`). Prints the time `ensure_nodes` takes to apply an 8,000-entry public
//! allow-list the first time, to replace it with 8,000 other entries (element change), to
//! replace it with a list that widens entries (set swap), and to add one entry; and the
//! time of `observe_nodes` (drift check) with 8,000 entries. Everything lives in
//! namespaces under the prefix `isthd2` and is removed at the end (and at the start).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use isthmus_core::resources::{AllowlistEntry, Cluster, Network};
use isthmus_core::Cidr;
use isthmus_driver::NodeState;
use isthmus_driver_local::LocalDriver;

const PREFIX: &str = "isthd2";
const ENTRIES: u32 = 8_000;

// The root tests' fixtures: a driver that purges its prefix when dropped, and builders.
#[path = "../tests/common/mod.rs"]
mod common;

/// 8,000 disjoint /24s; `variant` picks the third octet, so two variants share nothing.
fn list(variant: u8, len: u8) -> Vec<AllowlistEntry> {
    (0..ENTRIES)
        .map(|i| {
            let (a, b) = (11 + (i / 256) as u8, (i % 256) as u8);
            AllowlistEntry {
                cidr: Cidr::containing(Ipv4Addr::new(a, b, variant, 0), len),
                comment: String::new(),
                expires_at: None,
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
    let fx = common::Fixture::new(PREFIX);
    let d = fx.driver.as_ref();
    let net = common::network("172.29.95.0/24");
    let mut db = common::cluster(&net, &["172.29.95.2", "172.29.95.3", "172.29.95.4"]);
    d.ensure_network(&net).await?;
    d.ensure_nodes(&net, &db).await?;
    d.ensure_internet().await?;

    let start = Instant::now();
    d.observe_nodes(&net, &db).await?;
    let t_observe_off = start.elapsed();

    common::open_public(&mut db, "198.18.0.1", &[]);
    db.public_access.allowlist = list(1, 24);
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
        expires_at: None,
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
