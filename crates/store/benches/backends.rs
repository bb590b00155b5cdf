//! SQLite against PostgreSQL, straight on the store (no HTTP), in one run: network creates
//! per second from one caller and from 16 concurrent callers (each a validated, audited,
//! durable write; PostgreSQL with fsync on, over a unix socket), with the concurrent
//! creates' p99 latency, and point reads per second. Prints the figures; asserts nothing.
//!
//! Run: `cargo bench -p isthmus-store --bench backends`

use std::sync::Arc;
use std::time::Instant;

use isthmus_core::resources::{Network, NetworkCreate, ProjectCreate, Provider};
use isthmus_store::api::{Api, Env};
use isthmus_store::postgres::PgStore;
use isthmus_store::sqlite::SqliteStore;
use isthmus_store::testing::TestPostgres;
use isthmus_store::{Actor, Store};

const CREATES: u64 = 800;
const READS: u64 = 4000;
const CALLERS: u64 = 16;

fn network(i: u64) -> NetworkCreate {
    NetworkCreate {
        name: format!("n{i}"),
        provider: Provider::Aws,
        region: "us-east-1".into(),
        cidr_block: format!("10.{}.{}.0/24", (i / 256) % 256, i % 256),
    }
}

/// One backend's figures.
struct Figures {
    serial: f64,
    concurrent: f64,
    p99_ms: f64,
    reads: f64,
}

async fn measure(name: &str, store: Arc<dyn Store>) -> Figures {
    let actor = Actor("token:bench".into());
    let project = |n: &str| ProjectCreate { name: n.into() };
    let p = store
        .create_project(&actor, &project("one"), None)
        .await
        .unwrap()
        .id;
    let started = Instant::now();
    let mut ids = Vec::new();
    for i in 0..CREATES {
        let n = Api::<Network>::new(store.docs())
            .create(&actor, p, &network(i), &Env::default(), None)
            .await
            .unwrap();
        ids.push(n.resource.id);
    }
    let serial = CREATES as f64 / started.elapsed().as_secs_f64();

    let q = store
        .create_project(&actor, &project("many"), None)
        .await
        .unwrap()
        .id;
    let started = Instant::now();
    let callers: Vec<_> = (0..CALLERS)
        .map(|c| {
            let store = store.clone();
            let actor = actor.clone();
            tokio::spawn(async move {
                let mut took = Vec::new();
                for i in 0..CREATES / CALLERS {
                    let one = Instant::now();
                    Api::<Network>::new(store.docs())
                        .create(&actor, q, &network(c * 1000 + i), &Env::default(), None)
                        .await
                        .unwrap();
                    took.push(one.elapsed());
                }
                took
            })
        })
        .collect();
    let mut took = Vec::new();
    for c in callers {
        took.extend(c.await.unwrap());
    }
    let concurrent = CREATES as f64 / started.elapsed().as_secs_f64();
    took.sort();
    let p99_ms = took[took.len() * 99 / 100].as_secs_f64() * 1000.0;

    let started = Instant::now();
    for i in 0..READS {
        let id = ids[(i % CREATES) as usize];
        Api::<Network>::new(store.docs())
            .get(p, id.as_id())
            .await
            .unwrap();
    }
    let reads = READS as f64 / started.elapsed().as_secs_f64();
    println!(
        "{name:<10} creates/s: {serial:>7.0} (1 caller) {concurrent:>7.0} ({CALLERS} callers, p99 {p99_ms:.1} ms)   GETs/s: {reads:>7.0}"
    );
    Figures {
        serial,
        concurrent,
        p99_ms,
        reads,
    }
}

/// The figures as `scripts/bench` rows: SQLite in the Isthmus column, PostgreSQL as the
/// peer (the same store code on the other backend).
fn rows(sqlite: &Figures, pg: &Figures) {
    let row = |measure: &str, a: f64, b: f64, goal: &str| {
        println!("row\t{measure}\t{a:.0}\t{b:.0}\t{:.2}\t{goal}", a / b);
    };
    row(
        "store creates/s, 1 caller (SQLite vs PostgreSQL)",
        sqlite.serial,
        pg.serial,
        "-",
    );
    row(
        "store creates/s, 16 callers (SQLite vs PostgreSQL)",
        sqlite.concurrent,
        pg.concurrent,
        ">= 2000 (SQLite)",
    );
    println!(
        "row\tstore create p99 ms, 16 callers (SQLite vs PostgreSQL)\t{:.1}\t{:.1}\t{:.2}\t< 10 ms (SQLite)",
        sqlite.p99_ms,
        pg.p99_ms,
        sqlite.p99_ms / pg.p99_ms
    );
    row(
        "store GETs/s (SQLite vs PostgreSQL)",
        sqlite.reads,
        pg.reads,
        "-",
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pg = TestPostgres::start_durable().expect("start PostgreSQL");
    runtime.block_on(async {
        let sqlite = SqliteStore::open(&dir.path().join("isthmus.db"))
            .await
            .unwrap();
        let sqlite = measure("sqlite", Arc::new(sqlite)).await;
        let url = pg.fresh_database().await.unwrap();
        let postgres = PgStore::connect(&url).await.unwrap();
        let postgres = measure("postgres", Arc::new(postgres)).await;
        rows(&sqlite, &postgres);
    });
}
