//! Data-plane figures of the local driver (run as root: `cargo bench -p isthmus-driver-local`).
//! Prints: provisioning times, 100 peerings on one network, TCP throughput through a
//! peering vs a bare veth pair, and route-update time and throughput with 10,000 allowed
//! prefixes. Everything lives in namespaces under the prefix `isthd1` and is removed at
//! the end (and at the start, should an earlier run have been interrupted).

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use isthmus_core::Cidr;
use isthmus_driver::PeeringState;
use isthmus_driver_local::{netns, nl, LabHostSpec, LabVpcSpec, LocalDriver};

const PREFIX: &str = "isthd1";
const IPERF_SECONDS: &str = "3";

// The root tests' fixtures: a driver that purges its prefix when dropped, and builders.
#[path = "../tests/common/mod.rs"]
mod common;

fn lab(name: &str, cidr: &str) -> LabVpcSpec {
    LabVpcSpec {
        name: name.into(),
        cidr: cidr.parse().unwrap(),
        behind: None,
        hosts: vec![LabHostSpec {
            name: "client".into(),
            ip: None,
        }],
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// TCP throughput from `client_ns` to an iperf3 server started in `server_ns` (Gbit/s).
fn iperf(server_ns: &str, server_ip: Ipv4Addr, client_ns: &str) -> Result<f64> {
    let ip = server_ip.to_string();
    let mut server = Command::new("ip")
        .args([
            "netns", "exec", server_ns, "iperf3", "-s", "-1", "-B", &ip, "-p", "5201",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("start iperf3 server (apt-get install iperf3)")?;
    std::thread::sleep(Duration::from_millis(300));
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            client_ns,
            "iperf3",
            "-c",
            &ip,
            "-p",
            "5201",
            "-t",
            IPERF_SECONDS,
            "-J",
        ])
        .output()
        .context("run iperf3 client")?;
    let _ = server.wait();
    if !out.status.success() {
        bail!(
            "iperf3 client failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let bps = report["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .context("iperf3 report")?;
    Ok(bps / 1e9)
}

/// Two namespaces joined by nothing but a veth pair: the baseline for throughput.
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

#[tokio::main]
async fn main() -> Result<()> {
    let fx = common::Fixture::new(PREFIX);
    let d = fx.driver.as_ref();

    // 1. A network, a 3-node cluster and one peering, from nothing.
    let net = common::network("172.29.98.0/24");
    let db = common::cluster(&net, &["172.29.98.2", "172.29.98.3", "172.29.98.4"]);
    let customer = d.ensure_lab_vpc(&lab("customer", "172.16.0.0/16")).await?;
    let start = Instant::now();
    d.ensure_network(&net).await?;
    let t_network = start.elapsed();
    let start = Instant::now();
    d.ensure_nodes(&net, &db).await?;
    let t_nodes = start.elapsed();
    let mut link = common::peering(&net, "customer", &["172.16.0.0/16"]);
    let start = Instant::now();
    let seen = d.ensure_peering(&net, &link).await?;
    let t_peering = start.elapsed();
    assert_eq!(seen.state, PeeringState::Active, "{}", seen.message);
    println!(
        "provision  ensure_network {}  ensure_nodes(3) {}  ensure_peering {}",
        ms(t_network),
        ms(t_nodes),
        ms(t_peering)
    );

    // 2. TCP throughput lab host -> node through the peering, vs a bare veth pair.
    let node_ns = d.node_namespace(&db, 0);
    let through_peering = iperf(&node_ns, db.nodes[0].ip, &customer.hosts[0].namespace)?;
    let (a, b) = bare_veth_pair(d)?;
    let bare = iperf(&a, Ipv4Addr::new(172, 28, 0, 1), &b)?;
    println!("throughput  through peering (2 routers, bridge, firewall) {through_peering:.2} Gbit/s  bare veth pair {bare:.2} Gbit/s");

    // 3. 10,000 allowed prefixes: initial apply, a one-route update, throughput.
    let mut routes: Vec<Cidr> = vec!["172.16.0.0/16".parse()?];
    routes.extend(
        (0..9_999u32).map(|i| {
            Cidr::new(Ipv4Addr::new(10, (i / 256) as u8, (i % 256) as u8, 0), 24).unwrap()
        }),
    );
    link.routes = routes;
    let start = Instant::now();
    assert_eq!(
        d.ensure_peering(&net, &link).await?.state,
        PeeringState::Active
    );
    let t_bulk = start.elapsed();
    link.routes.push("10.200.0.0/16".parse()?);
    let start = Instant::now();
    assert_eq!(
        d.ensure_peering(&net, &link).await?.state,
        PeeringState::Active
    );
    let t_update = start.elapsed();
    let start = Instant::now();
    d.observe_peering(&net, &link).await?;
    let t_observe = start.elapsed();
    let with_10k = iperf(&node_ns, db.nodes[0].ip, &customer.hosts[0].namespace)?;
    println!(
        "10k prefixes  apply 9,999 new {}  add one (incl. read-back) {}  observe {}  throughput {with_10k:.2} Gbit/s",
        ms(t_bulk),
        ms(t_update),
        ms(t_observe)
    );

    // 4. 100 peerings on one network, each to its own lab VPC.
    let net2 = common::network("172.29.99.0/24");
    d.ensure_network(&net2).await?;
    let mut peerings = vec![];
    for i in 0..100u64 {
        let name = format!("vpc{i}");
        d.ensure_lab_vpc(&LabVpcSpec {
            name: name.clone(),
            cidr: format!("10.{}.0.0/16", i + 1).parse()?,
            behind: None,
            hosts: vec![],
        })
        .await?;
        peerings.push(common::peering(
            &net2,
            &name,
            &[&format!("10.{}.0.0/16", i + 1)],
        ));
    }
    let start = Instant::now();
    for p in &peerings {
        assert_eq!(
            d.ensure_peering(&net2, p).await?.state,
            PeeringState::Active
        );
    }
    let t_100 = start.elapsed();
    let start = Instant::now();
    for p in &peerings {
        assert_eq!(
            d.observe_peering(&net2, p).await?.state,
            PeeringState::Active
        );
    }
    let t_100_observe = start.elapsed();
    println!(
        "100 peerings  ensure {} ({} each)  observe all {}",
        ms(t_100),
        ms(t_100 / 100),
        ms(t_100_observe)
    );
    Ok(())
}
