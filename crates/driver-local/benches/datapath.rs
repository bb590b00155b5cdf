//! The data path side by side with a bare veth pair (issue 16, goal 5; run as root:
//! `cargo bench -p isthmus-driver-local --bench datapath`). TCP throughput (iperf3) from
//! a lab VPC's host to a cluster node through a peering (lab router, peering link,
//! network router with its firewall, bridge) against two namespaces joined by a bare
//! veth pair as the kernel makes it, and through a second peering (to a second network)
//! that allows 10,000 prefixes; each round measures every figure once, in turn. Each
//! figure is the median of `ROUNDS` rounds. Prints `row` lines for scripts/bench.
//! Everything lives under the prefix `isthf2` and is removed at the end (and at the
//! start).
//!
//! The project's links take GSO packets of up to 512 KiB (`nl::GSO_IPV4_MAX`, IPv4 BIG
//! TCP); the kernel's default is 64 KiB. So a fourth figure, a bare pair given the same
//! limit, shows what the peering's extra hops cost on their own.
//!
//! The iperf3 client and server are pinned to CPUs 0 and 1 (when there are two), the same
//! for every figure: unpinned, where the scheduler puts them moves single runs by 20-30%.
//! On a machine shared with builds, runs still vary by 2-3x; compare the ratios of one
//! run, not figures across runs. (An nftables flowtable for established flows was
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
const ROUNDS: usize = 5;
/// The IPv4 GSO limit the kernel gives a new link.
const KERNEL_GSO_MAX: u32 = 65_536;

// The root tests' fixtures: a driver that purges its prefix when dropped, and builders.
#[path = "../tests/common/mod.rs"]
mod common;

/// TCP throughput from `client_ns` to an iperf3 server started in `server_ns` (Gbit/s).
fn iperf(server_ns: &str, server_ip: Ipv4Addr, client_ns: &str) -> Result<f64> {
    let ip = server_ip.to_string();
    let pinned = std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
    let cpu = |n: &'static str| if pinned { vec!["-A", n] } else { vec![] };
    let mut server = Command::new("ip")
        .args(["netns", "exec", server_ns, "iperf3", "-s", "-1", "-B", &ip])
        .args(cpu("1"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("start iperf3 server (apt-get install iperf3)")?;
    std::thread::sleep(Duration::from_millis(300));
    let out = Command::new("ip")
        .args(["netns", "exec", client_ns, "iperf3", "-c", &ip])
        .args(["-t", IPERF_SECONDS, "-J"])
        .args(cpu("0"))
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

/// Two namespaces (`a`, `b`) joined by nothing but a veth pair whose ends take IPv4 GSO
/// packets of `gso_max` bytes; `a` is 172.28.<n>.1, `b` 172.28.<n>.2.
fn bare_veth_pair(driver: &LocalDriver, n: u8, gso_max: u32) -> Result<(String, String)> {
    let names = driver.names();
    let pair = format!("bare{n}");
    let (a, b) = (names.lab_host_ns(&pair, "a"), names.lab_host_ns(&pair, "b"));
    netns::create(&a)?;
    netns::create(&b)?;
    let (link_a, b_ns) = (format!("{PREFIX}z0000000{n}"), b.clone());
    netns::netlink_in(Some(&a), move |h| async move {
        nl::create_veth_into(&h, &link_a, "eth0", &b_ns).await?;
        let link = nl::require_link(&h, &link_a).await?;
        nl::set_gso_ipv4_max(&h, link.index, gso_max).await?;
        nl::ensure_address(&h, link.index, Ipv4Addr::new(172, 28, n, 1), 30).await?;
        nl::set_up(&h, link.index).await
    })?;
    netns::netlink_in(Some(&b), move |h| async move {
        let link = nl::require_link(&h, "eth0").await?;
        nl::set_gso_ipv4_max(&h, link.index, gso_max).await?;
        nl::ensure_address(&h, link.index, Ipv4Addr::new(172, 28, n, 2), 30).await?;
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
    let client = customer.hosts[0].namespace.clone();
    // Two networks peered with the customer: one peering allows the client's /16 alone,
    // the other 9,999 more prefixes, so every round measures both.
    let mut nodes = vec![];
    for (cidr, node, extra) in [
        ("172.29.94.0/24", "172.29.94.2", 0u32),
        ("172.29.95.0/24", "172.29.95.2", 9_999),
    ] {
        let net = common::network(cidr);
        let db = common::cluster(&net, &[node]);
        d.ensure_network(&net).await?;
        d.ensure_nodes(&net, &db).await?;
        let mut link = common::peering(&net, "customer", &["172.16.0.0/16"]);
        link.routes.extend((0..extra).map(|i| {
            Cidr::new(Ipv4Addr::new(10, (i / 256) as u8, (i % 256) as u8, 0), 24).unwrap()
        }));
        let seen = d.ensure_peering(&net, &link).await?;
        anyhow::ensure!(seen.state == PeeringState::Active, "{}", seen.message);
        nodes.push((d.node_namespace(&db, 0), db.nodes[0].ip));
    }
    // As the kernel makes it (the kernel's default limit), and with the project's.
    let (a, b) = bare_veth_pair(d, 0, KERNEL_GSO_MAX)?;
    let (big_a, big_b) = bare_veth_pair(d, 1, nl::GSO_IPV4_MAX)?;

    let [mut peering, mut with_10k, mut bare, mut bare_big] = [(); 4].map(|_| vec![]);
    for _ in 0..ROUNDS {
        peering.push(iperf(&nodes[0].0, nodes[0].1, &client)?);
        with_10k.push(iperf(&nodes[1].0, nodes[1].1, &client)?);
        bare.push(iperf(&a, Ipv4Addr::new(172, 28, 0, 1), &b)?);
        bare_big.push(iperf(&big_a, Ipv4Addr::new(172, 28, 1, 1), &big_b)?);
    }
    println!("Gbit/s: peering {peering:.2?}, with 10,000 prefixes {with_10k:.2?}, bare veth pair {bare:.2?}, with the project's GSO limit {bare_big:.2?}");

    let (peering, bare, bare_big) = (median(peering), median(bare), median(bare_big));
    let with_10k = median(with_10k);
    println!(
        "row\tTCP through a peering vs a bare veth pair (Gbit/s)\t{peering:.2}\tveth {bare:.2}\t{:.2}\t≥ 0.9",
        peering / bare
    );
    println!(
        "row\tTCP through a peering vs a bare veth pair with the project's GSO limit (Gbit/s)\t{peering:.2}\tveth {bare_big:.2}\t{:.2}\t(the hops alone)",
        peering / bare_big
    );
    println!(
        "row\tTCP through a peering with 10,000 allowed prefixes (Gbit/s)\t{with_10k:.2}\twithout {peering:.2}\t{:.2}\t≥ 0.95",
        with_10k / peering
    );
    Ok(())
}
