//! Store throughput and latency, straight on `SqliteStore` (no HTTP): how fast one
//! writer commits network creates (each a validated, audited, fsynced transaction), and
//! how long a point read takes.
//!
//! Run: `cargo bench -p isthmus-store --bench store`

use isthmus_core::resources::Network;
use isthmus_store::api::{Api, Env};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use isthmus_core::resources::{NetworkCreate, ProjectCreate, Provider};
use isthmus_core::ProjectId;
use isthmus_store::sqlite::SqliteStore;
use isthmus_store::{Actor, Store};
use tokio::runtime::Runtime;

/// Networks per project: the overlap rule reads every live network of the project, so a
/// realistic project size keeps the figure about the store, not about giant projects.
const NETWORKS_PER_PROJECT: u64 = 50;

fn actor() -> Actor {
    Actor("token:bench".into())
}

fn network(i: u64) -> NetworkCreate {
    NetworkCreate {
        name: format!("n{i}"),
        provider: Provider::Aws,
        region: "us-east-1".into(),
        cidr_block: format!("10.{}.{}.0/24", (i / 256) % 256, i % 256),
    }
}

async fn new_project(store: &SqliteStore) -> ProjectId {
    let req = ProjectCreate {
        name: "bench".into(),
    };
    store.create_project(&actor(), &req, None).await.unwrap().id
}

fn bench_create_network(c: &mut Criterion, rt: &Runtime, store: &SqliteStore) {
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(1));
    group.bench_function("create_network", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut elapsed = Duration::ZERO;
                let mut project = new_project(store).await;
                for i in 0..iters {
                    let slot = i % NETWORKS_PER_PROJECT;
                    if slot == 0 && i > 0 {
                        project = new_project(store).await;
                    }
                    let req = network(slot);
                    let start = Instant::now();
                    Api::<Network>::new(store.docs())
                        .create(&actor(), project, &req, &Env::default(), None)
                        .await
                        .unwrap();
                    elapsed += start.elapsed();
                }
                elapsed
            })
        })
    });
    group.bench_function("create_network_8_concurrent", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let projects: Vec<ProjectId> = {
                    let mut v = Vec::new();
                    for _ in 0..8 {
                        v.push(new_project(store).await);
                    }
                    v
                };
                let start = Instant::now();
                let tasks: Vec<_> = projects
                    .into_iter()
                    .enumerate()
                    .map(|(w, project)| {
                        let store = store.clone();
                        tokio::spawn(async move {
                            // Each worker takes every 8th request, in its own project.
                            for i in (w as u64..iters).step_by(8) {
                                let req = network(i / 8 % 60_000);
                                Api::<Network>::new(store.docs())
                                    .create(&actor(), project, &req, &Env::default(), None)
                                    .await
                                    .unwrap();
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

fn bench_get_network(c: &mut Criterion, rt: &Runtime, store: &SqliteStore) {
    let (project, id) = rt.block_on(async {
        let project = new_project(store).await;
        let n = Api::<Network>::new(store.docs())
            .create(&actor(), project, &network(0), &Env::default(), None)
            .await
            .unwrap();
        (project, n.resource.id)
    });
    c.bench_function("store/get_network", |b| {
        b.iter(|| {
            rt.block_on(Api::<Network>::new(store.docs()).get(project, id.as_id()))
                .unwrap()
        })
    });
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = rt
        .block_on(SqliteStore::open(&dir.path().join("bench.db")))
        .unwrap();
    bench_create_network(c, &rt, &store);
    bench_get_network(c, &rt, &store);
}

criterion_group! {
    name = store;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = benches
}
criterion_main!(store);
