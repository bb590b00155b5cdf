//! How fast the route rules stay when a network carries 100,000 taken routes: one
//! `first_overlap` query, and `validate_routes` for a 50-route peering (the check every
//! peering create and update runs inside its store transaction).
//!
//! Run: cargo bench -p isthmus-core --bench overlap

use std::hint::black_box;
use std::net::Ipv4Addr;

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use isthmus_core::ipam::PrefixSet;
use isthmus_core::resources::{Network, NetworkCreate, Provider};
use isthmus_core::{rules, Cidr, Id, PeeringId, ProjectId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TAKEN_ROUTES: usize = 100_000;

fn network() -> Network {
    let req = NetworkCreate {
        name: "bench".into(),
        provider: Provider::Aws,
        region: "us-east-1".into(),
        cidr_block: "10.0.0.0/16".into(),
    };
    let now = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let project = ProjectId::from(Id::from_parts(1, [1; 8]));
    rules::new_network(Id::from_parts(1, [2; 8]).into(), project, &req, &[], now).unwrap()
}

/// A random /16 … /28 anywhere outside the network.
fn random_route(rng: &mut StdRng, network: &Network) -> Cidr {
    loop {
        let c = Cidr::containing(Ipv4Addr::from(rng.gen::<u32>()), rng.gen_range(16..=28));
        if !c.overlaps(&network.cidr_block) {
            return c;
        }
    }
}

/// Routes that overlap neither each other nor anything already in `set`.
fn disjoint_routes(
    rng: &mut StdRng,
    network: &Network,
    set: &PrefixSet<PeeringId>,
    n: usize,
) -> Vec<Cidr> {
    let mut chosen = PrefixSet::new();
    while chosen.len() < n {
        let c = random_route(rng, network);
        if set.first_overlap(&c).is_none() && chosen.first_overlap(&c).is_none() {
            chosen.insert(c, ());
        }
    }
    chosen.iter().map(|(c, _)| *c).collect()
}

fn bench_overlap(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(7);
    let network = network();
    let mut taken = PrefixSet::new();
    for (i, route) in disjoint_routes(&mut rng, &network, &PrefixSet::new(), TAKEN_ROUTES)
        .into_iter()
        .enumerate()
    {
        // 50 routes per peering, as many peerings as that takes.
        let owner = PeeringId::from(Id::from_parts(2, ((i / 50) as u64).to_be_bytes()));
        taken.insert(route, owner);
    }
    assert_eq!(taken.len(), TAKEN_ROUTES);

    let queries: Vec<Cidr> = (0..1024)
        .map(|_| random_route(&mut rng, &network))
        .collect();
    let mut next = 0;
    c.bench_function("first_overlap/100k_taken", |b| {
        b.iter(|| {
            next = (next + 1) % queries.len();
            black_box(taken.first_overlap(black_box(&queries[next])))
        })
    });

    let peering: Vec<String> = disjoint_routes(&mut rng, &network, &taken, 50)
        .iter()
        .map(Cidr::to_string)
        .collect();
    assert!(rules::validate_routes(&peering, &network, &taken).is_ok());
    c.bench_function("validate_routes/50_routes_vs_100k_taken", |b| {
        b.iter(|| {
            black_box(rules::validate_routes(
                black_box(&peering),
                &network,
                &taken,
            ))
        })
    });
}

criterion_group!(benches, bench_overlap);
criterion_main!(benches);
