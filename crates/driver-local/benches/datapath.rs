//! The data path side by side with a bare veth pair (issue 16, goal 5; run as root:
//! `cargo bench -p isthmus-driver-local --bench datapath`). TCP throughput (iperf3) from
//! a lab VPC's host to a cluster node through a peering (lab router, peering link,
//! network router with its firewall, bridge) against two namespaces joined by a bare
//! veth pair, measured alternately in the same run; then through the same peering with
//! 10,000 allowed prefixes. Each figure is the median of `ROUNDS` runs. Prints `row`
//! lines for scripts/bench. Everything lives under the prefix `isthf2` and is removed at
//! the end (and at the start).
//!
//! On a machine shared with builds, single iperf3 runs vary by 2-3x; compare the ratio of
//! one run, not figures across runs. (An nftables flowtable for established flows was
//! considered: this machine's kernel is built without `CONFIG_NF_FLOW_TABLE`.)

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use isthmus_core::Cidr;
use isthmus_driver::PeeringState;
use isthmus_driver_local::{netns, nl, LabHostSpec, LabVpcSpec, LocalDriver};

const PREFIX: &str = "isthf2";
const IPERF_SECONDS: &str = "3";
const ROUNDS: usize = 3;

// The root tests' fixtures: a driver that purges its prefix when dropped, and builders.
#[path = "../tests/common/mod.rs"]
mod common;

/// TCP throughput from `client_ns` to an iperf3 server started in `server_ns` (Gbit/s).
fn iperf(server_ns: &str, server_ip: Ipv4Addr, client_ns: &str) -> Result<f64> {
    let ip = server_ip.to_string();
    let mut server = Command::new("ip")
        .args(["netns", "exec", server_ns, "iperf3", "-s", "-1", "-B", &ip])
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("start iperf3 server (apt-get install iperf3)")?;
    std::thread::sleep(Duration::from_millis(300));
    let out = Command::new("ip")
        .args(["netns", "exec", client_ns, "iperf3", "-c", &ip])
        .args(["-t", IPERF_SECONDS, "-J"])
        .output()
        .context("run iperf3 client")?;
    let _ = server.wait();
    if !out.status.success() {
        bail!("iperf3 client: {}", String::from_utf8_lossy(&out.stdout));
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let bps = report["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .context("iperf3 report")?;
    Ok(bps / 1e9)
}

/// Two namespaces joined by nothing but a veth pair: the baseline.
fn bare_veth_pair(driver: &LocalDriver) -> Result<(String, String)> {
    let names = driver.names();
    let (a, b) = (
        names.lab_host_ns("bare", "a"),
        names.lab_host_ns("bare", "b"),
    );
    netns::create(&a)?;
    netns::create(&b)?;
    let (link_a, b_ns) = (format!("{PREFIX}z00000001"), b.clone());
    netns::netlink_in(Some(&a), move |h| async move {
        nl::create_veth_into(&h, &link_a, "eth0", &b_ns).await?;
        let link = nl::require_link(&h, &link_a).await?;
        nl::ensure_address(&h, link.index, Ipv4Addr::new(172, 28, 0, 1), 30).await?;
        nl::set_up(&h, link.index).await
    })?;
    netns::netlink_in(Some(&b), |h| async move {
        let link = nl::require_link(&h, "eth0").await?;
        nl::ensure_address(&h, link.index, Ipv4Addr::new(172, 28, 0, 2), 30).await?;
        nl::set_up(&h, link.index).await
    })?;
    Ok((a, b))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> Result<()> {
    let fx = common::Fixture::new(PREFIX);
    let d = fx.driver.as_ref();
    let net = common::network("172.29.94.0/24");
    let db = common::cluster(&net, &["172.29.94.2"]);
    let customer = d
        .ensure_lab_vpc(&LabVpcSpec {
            name: "customer".into(),
            cidr: "172.16.0.0/16".parse()?,
            behind: None,
            hosts: vec![LabHostSpec {
                name: "client".into(),
                ip: None,
            }],
        })
        .await?;
    d.ensure_network(&net).await?;
    d.ensure_nodes(&net, &db).await?;
    let mut link = common::peering(&net, "customer", &["172.16.0.0/16"]);
    let seen = d.ensure_peering(&net, &link).await?;
    anyhow::ensure!(seen.state == PeeringState::Active, "{}", seen.message);
    let (a, b) = bare_veth_pair(d)?;
    let (node_ns, node_ip) = (d.node_namespace(&db, 0), db.nodes[0].ip);
    let client = customer.hosts[0].namespace.clone();

    let (mut peering, mut bare) = (vec![], vec![]);
    for _ in 0..ROUNDS {
        peering.push(iperf(&node_ns, node_ip, &client)?);
        bare.push(iperf(&a, Ipv4Addr::new(172, 28, 0, 1), &b)?);
    }
    println!("peering {peering:.2?} Gbit/s, bare veth pair {bare:.2?} Gbit/s");

    // 10,000 allowed prefixes on the same peering (the client's own /16 among them).
    link.routes.extend(
        (0..9_999u32).map(|i| {
            Cidr::new(Ipv4Addr::new(10, (i / 256) as u8, (i % 256) as u8, 0), 24).unwrap()
        }),
    );
    let seen = d.ensure_peering(&net, &link).await?;
    anyhow::ensure!(seen.state == PeeringState::Active, "{}", seen.message);
    let mut with_10k = vec![];
    for _ in 0..ROUNDS {
        with_10k.push(iperf(&node_ns, node_ip, &client)?);
    }
    println!("peering with 10,000 prefixes {with_10k:.2?} Gbit/s");

    let (peering, bare, with_10k) = (median(peering), median(bare), median(with_10k));
    println!(
        "row\tTCP through a peering vs a bare veth pair (Gbit/s)\t{peering:.2}\tveth {bare:.2}\t{:.2}\t≥ 0.9",
        peering / bare
    );
    println!(
        "row\tTCP through a peering with 10,000 allowed prefixes (Gbit/s)\t{with_10k:.2}\twithout {peering:.2}\t{:.2}\t≥ 0.95",
        with_10k / peering
    );
    Ok(())
}
