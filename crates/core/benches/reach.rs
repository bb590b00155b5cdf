//! Analyses per second on a large state: 10,000 networks, each with one single-node
//! cluster and one active peering of 10 routes (100,000 peering routes in all), queried
//! from random sources inside and outside the routes. Also the cost of indexing the
//! snapshot, which the API pays once per request.
//!
//! Run: cargo bench -p isthmus-core --bench reach  (the `thrpt` line is analyses/second)

use std::collections::HashSet;
use std::hint::black_box;
use std::net::Ipv4Addr;

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use isthmus_core::reach::{ReachIndex, ReachSnapshot, Source};
use isthmus_core::resources::*;
use isthmus_core::state::{ClusterStatus, NetworkStatus, NodeStatus, PeeringStatus};
use isthmus_core::{rules, Id, ProjectId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const NETWORKS: u32 = 10_000;
const ROUTES_PER_PEERING: u32 = 10;

fn id<T: From<Id>>(n: u32, kind: u8) -> T {
    let [a, b, c, d] = n.to_be_bytes();
    T::from(Id::from_parts(1_700_000_000, [kind, a, b, c, d, 0, 0, 0]))
}

/// Network i is 10.(i/256).(i%256).0/24; its peering routes are ten /24s of
/// 100.64.0.0/10 starting at /24 number 10·i (wrapping), so every network's routes are
/// disjoint among themselves.
fn snapshot() -> ReachSnapshot {
    let now = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let project = ProjectId::from(Id::from_parts(1, [1; 8]));
    let mut snap = ReachSnapshot::default();
    for i in 0..NETWORKS {
        let req = NetworkCreate {
            name: format!("net-{i}"),
            provider: Provider::Aws,
            region: "us-east-1".into(),
            cidr_block: format!("10.{}.{}.0/24", i / 256, i % 256),
        };
        let mut network = rules::new_network(id(i, 1), project, &req, &[], now).unwrap();
        network.status = NetworkStatus::Active;
        let routes = (0..ROUTES_PER_PEERING)
            .map(|j| {
                let slot = (i * ROUTES_PER_PEERING + j) % (1 << 14);
                Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + (slot << 8)).to_string()
                    + "/24"
            })
            .collect();
        let preq = PeeringCreate {
            transit_routes: Vec::new(),
            name: format!("peer-{i}"),
            network_id: network.id.to_string(),
            peer: PeerSpec {
                account_id: "123456789012".into(),
                network_id: format!("vpc-{i}"),
                region: "us-east-1".into(),
            },
            routes,
            allow_gateway_transit: false,
        };
        let mut peering = rules::new_peering(id(i, 2), project, &preq, &network, &[], now).unwrap();
        peering.status = PeeringStatus::Active;
        let creq = ClusterCreate {
            private_allowlist: None,
            name: format!("db-{i}"),
            network_id: network.id.to_string(),
            engine: "probe".into(),
            topology: Topology::SingleNode,
            public_access: None,
            egress_allowlist: None,
        };
        let mut cluster = rules::new_cluster(
            id(i, 3),
            project,
            &creq,
            &network,
            &HashSet::new(),
            "isthmus.internal",
            now,
        )
        .unwrap();
        cluster.status = ClusterStatus::Running;
        for n in &mut cluster.nodes {
            n.status = NodeStatus::Running;
        }
        snap.networks.push(network);
        snap.peerings.push(peering);
        snap.clusters.push(cluster);
    }
    snap
}

fn bench(c: &mut Criterion) {
    let snap = snapshot();
    let routes: usize = snap.peerings.iter().map(|p| p.routes.len()).sum();
    assert_eq!(routes, (NETWORKS * ROUTES_PER_PEERING) as usize);
    let index = ReachIndex::new(&snap);
    let clusters: Vec<String> = snap.clusters.iter().map(|c| c.id.to_string()).collect();
    let mut rng = StdRng::seed_from_u64(5);

    let mut group = c.benchmark_group("reach");
    group.throughput(Throughput::Elements(1));
    group.bench_function("analyze (10k networks, 100k routes)", |b| {
        b.iter(|| {
            let cluster = &clusters[rng.gen_range(0..clusters.len())];
            // Half the sources fall inside 100.64.0.0/10 (some peering's routes).
            let ip = if rng.gen_bool(0.5) {
                Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + rng.gen_range(0..1 << 22))
            } else {
                Ipv4Addr::from(rng.gen::<u32>())
            };
            black_box(index.analyze(&Source::Ip(ip), cluster, Some(8443)).unwrap())
        })
    });
    group.finish();
    let mut group = c.benchmark_group("reach-index");
    group.sample_size(10);
    group.bench_function("index a snapshot (10k networks, 100k routes)", |b| {
        b.iter(|| drop(black_box(ReachIndex::new(&snap))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
