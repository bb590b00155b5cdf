//! Platform DNS throughput and latency on loopback with 10,000 clusters in the zone.
//!
//! A bounded Rust load generator: `QUERIES` A queries in total, spread over `SOCKETS`
//! concurrent UDP sockets, each waiting for its answer before asking again.
//! Run: `cargo bench -p isthmus-connect --bench dns`

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, Instant};

use hickory_server::proto::op::{Message, Query, ResponseCode};
use hickory_server::proto::rr::{Name, RecordType};
use isthmus_connect::dns::{ClusterRecords, DnsServer};
use isthmus_core::id::{ClusterId, Id};
use tokio::net::UdpSocket;

const CLUSTERS: u32 = 10_000;
const QUERIES: usize = 200_000;
const SOCKETS: usize = 8;
const ZONE: &str = "isthmus.internal";

fn cluster(n: u32) -> ClusterRecords {
    let mut unique = [0u8; 8];
    unique[..4].copy_from_slice(&n.to_be_bytes());
    let base = 0x0a00_0000 + n * 4;
    ClusterRecords {
        cluster_id: ClusterId::from(Id::from_parts(1_700_000_000, unique)),
        node_ips: (1..=3).map(|i| Ipv4Addr::from(base + i)).collect(),
        public_ip: None,
    }
}

/// Encoded queries cycling over cluster names and node names across the whole zone.
fn workload(clusters: &[ClusterRecords], count: usize, seed: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let c = &clusters[(i * 7919 + seed * 104_729) % clusters.len()];
            let name = match i % 4 {
                0 => format!("{}.{ZONE}.", c.cluster_id),
                n => format!("{}-{}.{ZONE}.", c.cluster_id, n - 1),
            };
            let mut message = Message::query();
            message.metadata.id = i as u16;
            message.add_query(Query::query(Name::from_str(&name).unwrap(), RecordType::A));
            message.to_vec().unwrap()
        })
        .collect()
}

struct Outcome {
    latencies: Vec<Duration>,
    failures: usize,
}

async fn client(server: SocketAddr, queries: Vec<Vec<u8>>) -> Outcome {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.connect(server).await.unwrap();
    let mut buf = vec![0u8; 1500];
    let mut outcome = Outcome {
        latencies: Vec::with_capacity(queries.len()),
        failures: 0,
    };
    for query in queries {
        let start = Instant::now();
        socket.send(&query).await.unwrap();
        match tokio::time::timeout(Duration::from_secs(1), socket.recv(&mut buf)).await {
            Ok(Ok(len)) => {
                let reply = Message::from_vec(&buf[..len]).unwrap();
                if reply.metadata.response_code == ResponseCode::NoError
                    && !reply.answers.is_empty()
                {
                    outcome.latencies.push(start.elapsed());
                } else {
                    outcome.failures += 1;
                }
            }
            _ => outcome.failures += 1,
        }
    }
    outcome
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let dns = DnsServer::start("127.0.0.1:0".parse().unwrap(), ZONE)
        .await
        .expect("start DNS");
    let clusters: Vec<ClusterRecords> = (0..CLUSTERS).map(cluster).collect();
    let load_start = Instant::now();
    dns.set_clusters(clusters.clone());
    let load_time = load_start.elapsed();

    let per_socket = QUERIES / SOCKETS;
    let workloads: Vec<_> = (0..SOCKETS)
        .map(|s| workload(&clusters, per_socket, s))
        .collect();
    let addr = dns.local_addr();
    let start = Instant::now();
    let tasks: Vec<_> = workloads
        .into_iter()
        .map(|w| tokio::spawn(client(addr, w)))
        .collect();
    let mut latencies = Vec::with_capacity(QUERIES);
    let mut failures = 0;
    for task in tasks {
        let outcome = task.await.unwrap();
        latencies.extend(outcome.latencies);
        failures += outcome.failures;
    }
    let elapsed = start.elapsed();
    latencies.sort();

    println!("platform DNS on loopback, {CLUSTERS} clusters (3 nodes each) in the zone");
    println!(
        "  zone load (set_clusters):  {:.1} ms",
        load_time.as_secs_f64() * 1e3
    );
    println!(
        "  queries answered:          {} of {}",
        latencies.len(),
        per_socket * SOCKETS
    );
    println!("  failed or timed out:       {failures}");
    println!("  concurrent sockets:        {SOCKETS}");
    println!(
        "  throughput:                {:.0} queries/s",
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  latency p50:               {:.1} µs",
        percentile(&latencies, 0.50).as_secs_f64() * 1e6
    );
    println!(
        "  latency p99:               {:.1} µs",
        percentile(&latencies, 0.99).as_secs_f64() * 1e6
    );
    dns.shutdown().await.expect("shut down");
}
