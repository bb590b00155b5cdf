//! Provisioning side by side with netavark (issue 16, goal 6; run as root:
//! `cargo bench -p isthmus-driver-local --bench provision`). Times, in the same run:
//! - Isthmus: a network (router namespace, bridge, firewall) and one node namespace
//!   attached to it, from nothing; and one more node namespace on an existing network;
//! - netavark (Debian's, `/usr/lib/podman/netavark`, its default iptables firewall): the
//!   same topology, a bridge network and one container namespace, from nothing (`setup`
//!   creates the bridge); and one more container on the existing bridge.
//!
//! netavark runs inside a namespace of ours (its "host"), never in the root namespace.
//! Each figure is the median of `ROUNDS`. Prints `row` lines for scripts/bench. Everything
//! lives under the prefix `isthf3` and is removed at the end (and at the start).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use isthmus_driver::NodeState;
use isthmus_driver_local::netns;

const PREFIX: &str = "isthf3";
const ROUNDS: usize = 9;
const NETAVARK: &str = "/usr/lib/podman/netavark";

// The root tests' fixtures: a driver that purges its prefix when dropped, and builders.
#[path = "../tests/common/mod.rs"]
mod common;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// netavark's input: one bridge network `isthf3` and the container's place on it.
fn netavark_config(container: &str, ip: &str) -> String {
    serde_json::json!({
        "container_id": container,
        "container_name": container,
        "networks": { "isthf3": { "interface_name": "eth0", "static_ips": [ip] } },
        "network_info": { "isthf3": {
            "dns_enabled": false, "driver": "bridge", "internal": false, "ipv6_enabled": false,
            "id": "6973746866330000000000000000000000000000000000000000000000000000",
            "name": "isthf3", "network_interface": "isthf3br",
            "subnets": [{ "gateway": "10.88.0.1", "subnet": "10.88.0.0/16" }]
        }}
    })
    .to_string()
}

/// Runs `netavark setup` for container namespace `ns` from inside `host_ns`; its time.
fn netavark_setup(host_ns: &str, config_dir: &str, ns: &str, ip: &str) -> Result<Duration> {
    let input = netavark_config(ns, ip);
    let start = Instant::now();
    let mut child = Command::new("ip")
        .args([
            "netns", "exec", host_ns, NETAVARK, "--config", config_dir, "setup",
        ])
        .arg(format!("/run/netns/{ns}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("start netavark (apt-get install netavark iptables)")?;
    child
        .stdin
        .take()
        .context("netavark stdin")?
        .write_all(input.as_bytes())?;
    let out = child.wait_with_output()?;
    let took = start.elapsed();
    if !out.status.success() {
        bail!("netavark setup: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(took)
}

/// One netavark round in a fresh host namespace: (first container, second container).
fn netavark_round(round: usize, config_dir: &str) -> Result<(Duration, Duration)> {
    let host = format!("{PREFIX}-nvh{round}");
    let (c1, c2) = (
        format!("{PREFIX}-nva{round}"),
        format!("{PREFIX}-nvb{round}"),
    );
    for ns in [&host, &c1, &c2] {
        netns::create(ns)?;
    }
    let first = netavark_setup(&host, config_dir, &c1, "10.88.0.2")?;
    let second = netavark_setup(&host, config_dir, &c2, "10.88.0.3")?;
    for ns in [&c1, &c2, &host] {
        netns::delete(ns)?;
    }
    Ok((first, second))
}

struct RemoveDir(std::path::PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let fx = common::Fixture::new(PREFIX);
    let d = fx.driver.as_ref();
    // netavark's state directory (its lock file and IPAM database), removed at the end.
    let config_dir = std::env::temp_dir().join(format!("{PREFIX}-netavark-{}", std::process::id()));
    std::fs::create_dir_all(&config_dir)?;
    let _remove = RemoveDir(config_dir.clone());
    let config_dir = config_dir.to_str().context("temp dir")?.to_string();

    let (mut ours_first, mut ours_next, mut nv_first, mut nv_next) =
        (vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        // Isthmus: a fresh network each round, then a node, then one more node.
        let net = common::network(&format!("172.29.{}.0/24", 60 + round));
        let gw = |host: u8| format!("172.29.{}.{host}", 60 + round);
        let first = common::cluster(&net, &[&gw(2)]);
        let next = common::cluster(&net, &[&gw(3)]);
        let start = Instant::now();
        d.ensure_network(&net).await?;
        let seen = d.ensure_nodes(&net, &first).await?;
        ours_first.push(start.elapsed());
        let start = Instant::now();
        let seen_next = d.ensure_nodes(&net, &next).await?;
        ours_next.push(start.elapsed());
        anyhow::ensure!(
            seen.iter()
                .chain(&seen_next)
                .all(|n| n.state == NodeState::Running),
            "nodes not running: {seen:?} {seen_next:?}"
        );
        d.delete_nodes(&net, &next).await?;
        d.delete_nodes(&net, &first).await?;
        d.delete_network(&net).await?;

        let (a, b) = netavark_round(round, &config_dir)?;
        nv_first.push(a);
        nv_next.push(b);
    }
    let rows = [
        (
            "provision: bridge network + one node/container namespace (ms)",
            median(ours_first),
            median(nv_first),
        ),
        (
            "provision: one more node/container namespace on it (ms)",
            median(ours_next),
            median(nv_next),
        ),
    ];
    for (measure, ours, theirs) in rows {
        println!(
            "row\t{measure}\t{:.1}\tnetavark {:.1}\t{:.2}\t≤ 0.5",
            ms(ours),
            ms(theirs),
            ms(ours) / ms(theirs)
        );
    }
    Ok(())
}
