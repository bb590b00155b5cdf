//! Analyses per second on a large state: 10,000 networks, each with one single-node
//! cluster and one active peering of 10 routes (100,000 peering routes in all); every
//! 500th cluster also has public access on with an 8,000-entry public allow-list and an
//! 8,000-entry private allow-list. Queried over the private path from random sources
//! inside and outside the routes, and over the public path from random internet
//! addresses inside and outside the list. Also the cost of indexing the snapshot (which
//! the API pays once per request) and of validating an 8,000-entry allow-list.
//!
//! Run: cargo bench -p isthmus-core --bench reach  (the `thrpt` lines are analyses/second)

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
/// Every this many clusters has public access and both allow-lists full.
const PUBLIC_EVERY: u32 = 500;
const ALLOWLIST: u32 = rules::MAX_ALLOWLIST_ENTRIES as u32;

/// 8,000 public entries: 4,000 /24s of 11.0.0.0/8 and 4,000 /32s of 12.0.0.0/8.
fn public_allowlist() -> Vec<AllowlistEntryInput> {
    (0..ALLOWLIST)
        .map(|i| {
            let (base, cidr) = if i % 2 == 0 {
                (
                    u32::from(Ipv4Addr::new(11, 0, 0, 0)) + ((i / 2) << 8),
                    "/24",
                )
            } else {
                (u32::from(Ipv4Addr::new(12, 0, 0, 0)) + i / 2, "/32")
            };
            AllowlistEntryInput {
                cidr: Ipv4Addr::from(base).to_string() + cidr,
                comment: format!("office {i}"),
                expires_at: None,
            }
        })
        .collect()
}

/// 8,000 private entries: /28s from 100.64.0.0 up (where the peering routes are).
fn private_allowlist() -> Vec<AllowlistEntryInput> {
    (0..ALLOWLIST)
        .map(|i| AllowlistEntryInput {
            cidr: Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + (i << 4)).to_string()
                + "/28",
            comment: String::new(),
            expires_at: None,
        })
        .collect()
}

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
    let public = rules::validate_allowlist("public", &public_allowlist()).unwrap();
    let private = rules::validate_allowlist("private", &private_allowlist()).unwrap();
    let mut endpoints = HashSet::new();
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
                network_id: format!("vpc-{i:08x}"),
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
        if i % PUBLIC_EVERY == 0 {
            cluster.public_access = PublicAccess {
                enabled: true,
                allowlist: public.clone(),
            };
            cluster.private_allowlist = private.clone();
            rules::assign_public_endpoint(&mut cluster, &endpoints).unwrap();
            endpoints.insert(cluster.public_endpoint.as_ref().unwrap().ip);
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
    let entries: usize = snap
        .clusters
        .iter()
        .map(|c| c.public_access.allowlist.len() + c.private_allowlist.len())
        .sum();
    assert_eq!(entries, (NETWORKS / PUBLIC_EVERY * 2 * ALLOWLIST) as usize);
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
    let public: Vec<String> = snap
        .clusters
        .iter()
        .filter_map(|c| c.public_endpoint.as_ref().map(|e| e.dns_name.clone()))
        .collect();
    group.bench_function("analyze public endpoint (8,000-entry allow-lists)", |b| {
        b.iter(|| {
            let to = &public[rng.gen_range(0..public.len())];
            // Half the sources fall inside the list's /24s, half in 13.0.0.0/8 (outside).
            let base = if rng.gen_bool(0.5) { 11 } else { 13 };
            let ip = Ipv4Addr::from(
                u32::from(Ipv4Addr::new(base, 0, 0, 0)) + rng.gen_range(0..(ALLOWLIST / 2) << 8),
            );
            black_box(index.analyze(&Source::Ip(ip), to, Some(8443)).unwrap())
        })
    });
    let narrowed: Vec<String> = snap
        .clusters
        .iter()
        .filter(|c| !c.private_allowlist.is_empty())
        .map(|c| c.id.to_string())
        .collect();
    group.bench_function(
        "analyze private path (8,000-entry private allow-list)",
        |b| {
            b.iter(|| {
                let to = &narrowed[rng.gen_range(0..narrowed.len())];
                let ip = Ipv4Addr::from(
                    u32::from(Ipv4Addr::new(100, 64, 0, 0)) + rng.gen_range(0..1 << 18),
                );
                black_box(index.analyze(&Source::Ip(ip), to, Some(8443)).unwrap())
            })
        },
    );
    group.finish();
    let mut group = c.benchmark_group("allowlist");
    let input = public_allowlist();
    group.bench_function("validate an 8,000-entry allow-list", |b| {
        b.iter(|| black_box(rules::validate_allowlist("public", &input).unwrap()))
    });
    group.finish();
    let mut group = c.benchmark_group("reach-index");
    group.sample_size(10);
    group.bench_function(
        "index a snapshot (10k networks, 100k routes, 320k allow-list entries)",
        |b| b.iter(|| drop(black_box(ReachIndex::new(&snap)))),
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
