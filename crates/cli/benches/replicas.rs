//! Several replicas, in one run (`scripts/bench.d/replicas` keeps its `row` lines): real
//! `isthmus serve` processes on loopback, the simulated clouds, and
//! - API creates/s and GETs/s (16 clients over keep-alive connections, spread round-robin
//!   over the replicas) on SQLite (one replica) and on PostgreSQL (one replica, two);
//! - the time from SIGKILL of the leader to another replica leading (median of three).
//!
//! PostgreSQL is the harness's throwaway PostgreSQL 15, with fsync on as an installation
//! runs it. Prints figures; asserts nothing about speed.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use isthmus_store::testing::TestPostgres;
use serde_json::{json, Value};
use support::{Sandbox, Server};

const CLIENTS: usize = 16;
const MEASURE: Duration = Duration::from_secs(4);
const TAKEOVERS: usize = 3;

struct Figures {
    creates: f64,
    gets: f64,
}

/// Replicas of one installation and an HTTP client for their API.
struct Installation {
    _sandbox: Sandbox,
    servers: Vec<Server>,
    token: String,
    http: reqwest::Client,
}

impl Installation {
    fn start(replicas: usize, database: Option<&str>) -> Installation {
        let sandbox = Sandbox::new();
        let args: Vec<&str> = match database {
            Some(url) => vec!["--database", url],
            None => vec![],
        };
        let servers: Vec<Server> = (0..replicas)
            .map(|_| Server::start(sandbox.data.path(), &args))
            .collect();
        let token = servers[0].admin_token.clone();
        Installation {
            _sandbox: sandbox,
            servers,
            token,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, i: usize) -> &str {
        &self.servers[i % self.servers.len()].url
    }

    async fn post(&self, i: usize, path: &str, body: Value) -> reqwest::Result<Value> {
        self.http
            .post(format!("{}{path}", self.url(i)))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }

    async fn get(&self, i: usize, path: &str) -> reqwest::Result<Value> {
        self.http
            .get(format!("{}{path}", self.url(i)))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }

    async fn leads(&self, i: usize) -> bool {
        match self.get(i, "/v1/leader").await {
            Ok(status) => status["leader"] == Value::Bool(true),
            Err(_) => false,
        }
    }
}

/// Calls `call(i)` from CLIENTS workers for MEASURE; returns successful calls per second.
async fn drive<F, Fut>(call: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (call, next, done) = (call.clone(), next.clone(), done.clone());
            tokio::spawn(async move {
                while start.elapsed() < MEASURE {
                    if call(next.fetch_add(1, Ordering::Relaxed)).await {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

async fn measure(inst: Arc<Installation>, label: &str) -> Figures {
    let project = inst
        .post(0, "/v1/projects", json!({"name": "bench"}))
        .await
        .expect("create the project");
    let networks = format!("/v1/projects/{}/networks", project["id"].as_str().unwrap());
    let creates = {
        let (inst, networks) = (inst.clone(), networks.clone());
        drive(move |i| {
            let (inst, networks) = (inst.clone(), networks.clone());
            async move {
                let body = json!({
                    "name": format!("n{i}"), "provider": "aws", "region": "us-east-1",
                    "cidr_block": format!("10.{}.{}.0/24", i / 256, i % 256),
                });
                inst.post(i, &networks, body).await.is_ok()
            }
        })
        .await
    };
    let one = inst
        .post(
            0,
            &networks,
            json!({"name": "read", "provider": "gcp", "region": "europe-west1", "cidr_block": "172.16.0.0/24"}),
        )
        .await
        .expect("create the network to read");
    let one = format!("{networks}/{}", one["id"].as_str().unwrap());
    let gets = {
        let inst = inst.clone();
        drive(move |i| {
            let (inst, one) = (inst.clone(), one.clone());
            async move { inst.get(i, &one).await.is_ok() }
        })
        .await
    };
    eprintln!("{label}: {creates:.0} creates/s, {gets:.0} GETs/s");
    Figures { creates, gets }
}

/// Kills the leader with SIGKILL and times until another replica leads; a fresh replica
/// replaces the dead one each round.
async fn takeovers(url: &str, inst: &mut Installation) -> Vec<Duration> {
    let data = inst._sandbox.data.path().to_path_buf();
    let mut times = Vec::new();
    for _ in 0..TAKEOVERS {
        let leader = loop {
            let mut leading = None;
            for i in 0..inst.servers.len() {
                if inst.leads(i).await {
                    leading = Some(i);
                }
            }
            if let Some(i) = leading {
                break i;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let dead = inst.servers.remove(leader);
        let killed = Instant::now();
        dead.kill();
        'wait: loop {
            for i in 0..inst.servers.len() {
                if inst.leads(i).await {
                    break 'wait;
                }
            }
            assert!(killed.elapsed() < Duration::from_secs(120), "no takeover");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let took = killed.elapsed();
        eprintln!("takeover after SIGKILL: {:.2} s", took.as_secs_f64());
        times.push(took);
        inst.servers
            .push(Server::start(&data, &["--database", url]));
    }
    times
}

fn row(measure: &str, isthmus: String, peer: String, ratio: String, goal: &str) {
    println!("row\t{measure}\t{isthmus}\t{peer}\t{ratio}\t{goal}");
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pg = TestPostgres::start_durable().expect("start the benchmark's PostgreSQL");
    let fresh = || {
        runtime
            .block_on(pg.fresh_database())
            .expect("create a database")
    };

    let sqlite = Arc::new(Installation::start(1, None));
    let on_sqlite = runtime.block_on(measure(sqlite.clone(), "SQLite, one replica"));
    drop(sqlite);
    let url = fresh();
    let pg_one = Arc::new(Installation::start(1, Some(&url)));
    let on_pg = runtime.block_on(measure(pg_one.clone(), "PostgreSQL, one replica"));
    drop(pg_one);
    let url = fresh();
    let pg_two = Arc::new(Installation::start(2, Some(&url)));
    let on_pg_two = runtime.block_on(measure(pg_two.clone(), "PostgreSQL, two replicas"));
    let mut pg_two = Arc::try_unwrap(pg_two).ok().expect("no client left");
    let mut times = runtime.block_on(takeovers(&url, &mut pg_two));
    times.sort();
    let median = times[times.len() / 2];

    let ratio = |a: f64, b: f64| format!("{:.2}", a / b);
    row(
        "API creates/s, PostgreSQL vs SQLite (1 replica)",
        format!("{:.0}", on_pg.creates),
        format!("{:.0}", on_sqlite.creates),
        ratio(on_pg.creates, on_sqlite.creates),
        "-",
    );
    row(
        "API GETs/s, PostgreSQL vs SQLite (1 replica)",
        format!("{:.0}", on_pg.gets),
        format!("{:.0}", on_sqlite.gets),
        ratio(on_pg.gets, on_sqlite.gets),
        "-",
    );
    row(
        "API creates/s, PostgreSQL 2 replicas vs 1",
        format!("{:.0}", on_pg_two.creates),
        format!("{:.0}", on_pg.creates),
        ratio(on_pg_two.creates, on_pg.creates),
        "-",
    );
    row(
        "API GETs/s, PostgreSQL 2 replicas vs 1",
        format!("{:.0}", on_pg_two.gets),
        format!("{:.0}", on_pg.gets),
        ratio(on_pg_two.gets, on_pg.gets),
        "-",
    );
    row(
        "leader takeover after SIGKILL (s, median of 3)",
        format!("{:.1}", median.as_secs_f64()),
        "-".into(),
        "-".into(),
        "< 20 s",
    );
}
