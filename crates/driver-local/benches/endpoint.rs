//! Private endpoint figures of the local driver, in one run (as root: `cargo bench -p
//! isthmus-driver-local --bench endpoint`):
//! - accept → first packet: from the operator's decision reaching the provisioner (one
//!   `ensure`) until a lab host's first TCP connection through the endpoint succeeds;
//! - TCP throughput (iperf3) lab host → node through an endpoint (DNAT + SNAT + policy
//!   routing, two bridges), through a peering (two routers, a bridge, the firewall), and
//!   over a bare veth pair.
//!
//! Everything lives in namespaces under the prefix `isthe6` and is removed at the end.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::Utc;
use isthmus_core::kinds::endpoint_connection::{merge_observed, Decision};
use isthmus_core::kinds::endpoint_service::{EndpointService, EndpointServiceStatus};
use isthmus_core::resources::Provider;
use isthmus_driver::Provisioner;
use isthmus_driver_local::probe::{self, EchoServer};
use isthmus_driver_local::{netns, nl, LabHostSpec, LabVpcSpec, LocalDriver};

const PREFIX: &str = "isthe6";
const PORT: u16 = 8443;

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

/// TCP throughput from `client_ns` to `target` with an iperf3 server in `server_ns`
/// listening on `listen` (Gbit/s).
fn iperf(server_ns: &str, listen: Ipv4Addr, client_ns: &str, target: Ipv4Addr) -> Result<f64> {
    let port = PORT.to_string();
    let mut server = Command::new("ip")
        .args(["netns", "exec", server_ns, "iperf3", "-s", "-1", "-B"])
        .args([&listen.to_string(), "-p", &port])
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("start iperf3 server (apt-get install iperf3)")?;
    std::thread::sleep(Duration::from_millis(300));
    let out = Command::new("ip")
        .args(["netns", "exec", client_ns, "iperf3", "-c"])
        .args([&target.to_string(), "-p", &port, "-t", "3", "-J"])
        .output()
        .context("run iperf3 client")?;
    let _ = server.wait();
    if !out.status.success() {
        bail!("iperf3: {}", String::from_utf8_lossy(&out.stdout));
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let bps = report["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .context("iperf3 report")?;
    Ok(bps / 1e9)
}

/// Two namespaces joined by nothing but a veth pair (the baseline).
fn bare_veth_pair(d: &LocalDriver) -> Result<(String, String)> {
    let (a, b) = (
        d.names().lab_host_ns("bare", "a"),
        d.names().lab_host_ns("bare", "b"),
    );
    netns::create(&a)?;
    netns::create(&b)?;
    let (link, b_ns) = (format!("{PREFIX}z00000001"), b.clone());
    netns::netlink_in(Some(&a), move |h| async move {
        nl::create_veth_into(&h, &link, "eth0", &b_ns).await?;
        let l = nl::require_link(&h, &link).await?;
        nl::ensure_address(&h, l.index, Ipv4Addr::new(172, 28, 9, 1), 30).await?;
        nl::set_up(&h, l.index).await
    })?;
    netns::netlink_in(Some(&b), |h| async move {
        let l = nl::require_link(&h, "eth0").await?;
        nl::ensure_address(&h, l.index, Ipv4Addr::new(172, 28, 9, 2), 30).await?;
        nl::set_up(&h, l.index).await
    })?;
    Ok((a, b))
}

#[tokio::main]
async fn main() -> Result<()> {
    let fx = common::Fixture::new(PREFIX);
    let d = fx.driver.as_ref();
    let net = common::network("10.83.0.0/24");
    let mut db = common::cluster(&net, &["10.83.0.2"]);
    db.engine = "probe".into();
    d.ensure_network(&net).await?;
    d.ensure_nodes(&net, &db).await?;
    let node_ns = d.node_namespace(&db, 0);
    let node_ip = db.nodes[0].ip;

    // The customer's VPC on the platform's very CIDR, with an endpoint.
    let customer = d.ensure_lab_vpc(&lab("customer", "10.83.0.0/24")).await?;
    let client = customer.hosts[0].namespace.clone();
    let now = Utc::now();
    let mut s = EndpointService {
        id: common::new_id().into(),
        project_id: db.project_id,
        name: "bench".into(),
        cluster_id: db.id,
        provider: Provider::Local,
        region: "local".into(),
        allowed_principals: vec!["customer".into()],
        acceptance_required: true,
        service_name: "isthmus.local.bench".into(),
        cluster_dns_name: db.dns_name.clone(),
        connections: vec![],
        customer_actions: vec![],
        warnings: vec![],
        status: EndpointServiceStatus::Provisioning,
        status_message: String::new(),
        generation: 1,
        observed_generation: 0,
        conditions: vec![],
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let ep = d
        .create_lab_endpoint("customer", "db", &s.service_name, None)
        .await?;
    let seen = d.ensure(&s, &db).await?;
    s.connections = merge_observed(Provider::Local, "bench", &[], &seen.connections, now);
    s.connections[0].decision = Decision::Accepted;

    let echo = EchoServer::start(&node_ns, SocketAddr::from((node_ip, PORT)))?;
    let to = SocketAddr::from((ep.ip, PORT));
    let start = Instant::now();
    d.ensure(&s, &db).await?;
    let applied = start.elapsed();
    let mut attempts = 0;
    loop {
        attempts += 1;
        if probe::connect(&client, to, Duration::from_millis(200)).is_ok() {
            break;
        }
        if start.elapsed() > Duration::from_secs(10) {
            bail!("no connection through the endpoint 10 s after the accept");
        }
    }
    let first = start.elapsed();
    println!(
        "accept → first packet  {:.1} ms  (ensure {:.1} ms, {attempts} connect attempt(s))",
        first.as_secs_f64() * 1e3,
        applied.as_secs_f64() * 1e3
    );
    drop(echo);

    let node_addr = d.lab_endpoint("customer", "db").unwrap().node_ips[0];
    let through_endpoint = iperf(&node_ns, node_ip, &client, node_addr)?;

    let peered = d.ensure_lab_vpc(&lab("peered", "172.16.83.0/24")).await?;
    let link = common::peering(&net, "peered", &["172.16.83.0/24"]);
    d.ensure_peering(&net, &link).await?;
    let through_peering = iperf(&node_ns, node_ip, &peered.hosts[0].namespace, node_ip)?;

    let (a, b) = bare_veth_pair(d)?;
    let bare = iperf(
        &a,
        Ipv4Addr::new(172, 28, 9, 1),
        &b,
        Ipv4Addr::new(172, 28, 9, 1),
    )?;
    println!(
        "throughput  endpoint {through_endpoint:.2} Gbit/s  peering {through_peering:.2} Gbit/s  \
         bare veth pair {bare:.2} Gbit/s"
    );
    // The rows of `scripts/bench` (scripts/bench.d/endpoint).
    println!(
        "row\tEndpoint: accept → first packet (driver: ensure, then connect)\t{:.1} ms\t-\t-\t-",
        first.as_secs_f64() * 1e3
    );
    for (peer, figure) in [("a peering", through_peering), ("a bare veth pair", bare)] {
        println!(
            "row\tEndpoint: throughput lab host → node (against {peer})\t{through_endpoint:.2} Gbit/s\t{figure:.2} Gbit/s\t{:.2}\t-",
            through_endpoint / figure
        );
    }
    Ok(())
}
