//! The figures of the `api` and `reach` sections of `scripts/bench`, printed as the
//! `row` lines that script tabulates (scripts/bench.d/README.md). One server in this
//! process on loopback (SQLite in a temp dir, the controller running against the
//! simulated clouds), 16 concurrent clients over keep-alive connections.
//!
//! - `api`: authenticated `GET` of a network against `GET /healthz` on the same server,
//!   side by side, for a fixed time each; then creates per second.
//! - `reach`: `POST …/reachability` on a project of 1,000 networks, each with a peering of
//!   ten routes (10,000 routes in all) and a cluster in every 100th network.
//!
//! Run: `cargo bench -p isthmus-server --bench api_rows -- api` (or `-- reach`).
//! Prints figures; asserts nothing about speed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use isthmus_server::serve::{self, ServeConfig};
use serde_json::{json, Value};
use tokio::net::TcpListener;

const CONCURRENCY: usize = 16;
/// How long each side of a comparison is driven.
const MEASURE: Duration = Duration::from_secs(4);
const WARM_UP: Duration = Duration::from_millis(500);

/// Requests per second and the sorted latencies of one timed run.
struct Run {
    rate: f64,
    latencies: Vec<Duration>,
}

impl Run {
    fn p99_ms(&self) -> f64 {
        let i = ((self.latencies.len() as f64 - 1.0) * 0.99).round() as usize;
        self.latencies[i].as_secs_f64() * 1e3
    }
}

/// Drives `make(i)` from CONCURRENCY workers, `total` calls or until `until` passes.
async fn drive<F, Fut>(total: usize, until: Option<Duration>, make: F) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    drive_from(CONCURRENCY, total, until, make).await
}

/// [`drive`] from `workers` workers: with one, a latency is one request's own cost
/// rather than its wait behind the others.
async fn drive_from<F, Fut>(workers: usize, total: usize, until: Option<Duration>, make: F) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (make, next) = (make.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || until.is_some_and(|u| start.elapsed() >= u) {
                    break;
                }
                let t = Instant::now();
                make(i).await;
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("worker"));
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort();
    Run {
        rate: latencies.len() as f64 / secs,
        latencies,
    }
}

struct Bench {
    base: String,
    auth: String,
    client: reqwest::Client,
    state: isthmus_server::AppState,
}

impl Bench {
    async fn post(&self, path: &str, body: Value) -> Value {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header("authorization", &self.auth)
            .json(&body)
            .send()
            .await
            .expect("post");
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path}: {status} {v:#}");
        v
    }

    async fn get(&self, path: &str) -> Value {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .header("authorization", &self.auth)
            .send()
            .await
            .expect("get");
        resp.json().await.unwrap_or(Value::Null)
    }

    /// Creates `count` objects at `path` from CONCURRENCY clients; returns the run and
    /// the ids in order of `i`.
    async fn create_many(
        self: &Arc<Self>,
        path: &str,
        count: usize,
        body: impl Fn(usize) -> Value + Send + Sync + 'static,
    ) -> (Run, Vec<String>) {
        let ids = Arc::new(std::sync::Mutex::new(vec![String::new(); count]));
        let (me, out, path) = (self.clone(), ids.clone(), path.to_string());
        let body = Arc::new(body);
        let run = drive(count, None, move |i| {
            let (me, out, path, body) = (me.clone(), out.clone(), path.clone(), body.clone());
            async move {
                let v = me.post(&path, body(i)).await;
                out.lock().unwrap()[i] = v["id"].as_str().expect("id").to_string();
            }
        })
        .await;
        let ids = ids.lock().unwrap().clone();
        (run, ids)
    }

    /// Waits until the audit log has been quiet for a second (the controller done with
    /// what the set-up made), at most a minute.
    async fn settle(&self) {
        let mut last = -1;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let seq = self.state.store.last_event_seq().await.expect("seq");
            if seq == last {
                return;
            }
            last = seq;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        eprintln!("the controller did not settle within a minute; measuring anyway");
    }
}

fn row(measure: &str, isthmus: String, peer: String, ratio: String, goal: &str) {
    println!("row\t{measure}\t{isthmus}\t{peer}\t{ratio}\t{goal}");
}

fn network_body(i: usize) -> Value {
    json!({"name": format!("n{i}"), "provider": "aws", "region": "us-east-1",
           "cidr_block": format!("10.{}.{}.0/24", i / 256, i % 256)})
}

async fn api(b: Arc<Bench>, p: &str) {
    let creates = 2000;
    let (create, ids) = b
        .create_many(&format!("/v1/projects/{p}/networks"), creates, network_body)
        .await;
    b.settle().await;
    let ids = Arc::new(ids);
    let get_one = {
        let b = b.clone();
        let p = p.to_string();
        move |i: usize| {
            let (b, ids, p) = (b.clone(), ids.clone(), p.clone());
            async move {
                let id = &ids[(i * 7919) % ids.len()];
                let resp = b
                    .client
                    .get(format!("{}/v1/projects/{p}/networks/{id}", b.base))
                    .header("authorization", &b.auth)
                    .send()
                    .await
                    .expect("get");
                assert_eq!(resp.status(), 200);
                let _ = resp.bytes().await;
            }
        }
    };
    let health = {
        let b = b.clone();
        move |_| {
            let b = b.clone();
            async move {
                let resp = b
                    .client
                    .get(format!("{}/healthz", b.base))
                    .send()
                    .await
                    .expect("healthz");
                assert_eq!(resp.status(), 200);
                let _ = resp.bytes().await;
            }
        }
    };
    drive(usize::MAX, Some(WARM_UP), get_one.clone()).await;
    let healthz = drive(usize::MAX, Some(MEASURE), health.clone()).await;
    let gets = drive(usize::MAX, Some(MEASURE), get_one.clone()).await;
    let healthz_alone = drive_from(1, usize::MAX, Some(MEASURE), health).await;
    let get_alone = drive_from(1, usize::MAX, Some(MEASURE), get_one).await;
    row(
        "api: GET network, 16 conns (req/s; peer GET /healthz)",
        format!("{:.0}", gets.rate),
        format!("{:.0}", healthz.rate),
        format!("{:.2}x", gets.rate / healthz.rate),
        ">= 0.3x",
    );
    row(
        "api: GET network p99 (ms)",
        format!("{:.2}", gets.p99_ms()),
        format!("{:.2}", healthz.p99_ms()),
        "-".into(),
        "< 10 ms",
    );
    row(
        "api: GET network p99, 1 conn (ms; peer GET /healthz)",
        format!("{:.2}", get_alone.p99_ms()),
        format!("{:.2}", healthz_alone.p99_ms()),
        "-".into(),
        "< 10 ms",
    );
    row(
        "api: create network, 16 clients (creates/s)",
        format!("{:.0}", create.rate),
        "-".into(),
        "-".into(),
        ">= 2000/s (store helper)",
    );
    row(
        "api: create network p99 (ms)",
        format!("{:.2}", create.p99_ms()),
        "-".into(),
        "-".into(),
        "< 10 ms",
    );
}

async fn reach(b: Arc<Bench>, p: &str) {
    let networks = 1000;
    let (_, nets) = b
        .create_many(
            &format!("/v1/projects/{p}/networks"),
            networks,
            network_body,
        )
        .await;
    let nets = Arc::new(nets);
    let for_peerings = nets.clone();
    // Peering i's ten routes: /24s of 100.64.0.0/10 from number 10·i, disjoint.
    b.create_many(&format!("/v1/projects/{p}/peerings"), networks, move |i| {
        let routes: Vec<String> = (0..10)
            .map(|j| {
                let slot = (i * 10 + j) as u32;
                format!("100.{}.{}.0/24", 64 + (slot >> 8), slot & 0xff)
            })
            .collect();
        json!({"name": format!("peer-{i}"), "network_id": for_peerings[i],
               "peer": {"account_id": "123456789012", "network_id": format!("vpc-{i:08x}"),
                        "region": "us-east-1"},
               "routes": routes})
    })
    .await;
    let for_clusters = nets.clone();
    let (_, clusters) = b
        .create_many(&format!("/v1/projects/{p}/clusters"), 10, move |i| {
            json!({"name": format!("db-{i}"), "network_id": for_clusters[i * 100],
                   "engine": "probe", "topology": "single-node"})
        })
        .await;
    for c in &clusters {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let v = b.get(&format!("/v1/projects/{p}/clusters/{c}")).await;
            if v["status"] == "running" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    b.settle().await;
    let clusters = Arc::new(clusters);
    let ask = {
        let b = b.clone();
        let p = p.to_string();
        move |i: usize| {
            let (b, clusters, p) = (b.clone(), clusters.clone(), p.clone());
            async move {
                let c = i % clusters.len();
                // A source inside the first route of the cluster's network's peering.
                let slot = (c * 100 * 10) as u32;
                let from = format!("100.{}.{}.{}", 64 + (slot >> 8), slot & 0xff, 1 + i % 200);
                let resp = b
                    .client
                    .post(format!("{}/v1/projects/{p}/reachability", b.base))
                    .header("authorization", &b.auth)
                    .json(&json!({"from": from, "to": clusters[c]}))
                    .send()
                    .await
                    .expect("reachability");
                assert_eq!(resp.status(), 200);
                let _ = resp.bytes().await;
            }
        }
    };
    drive(usize::MAX, Some(WARM_UP), ask.clone()).await;
    let run = drive(usize::MAX, Some(MEASURE), ask.clone()).await;
    let alone = drive_from(1, usize::MAX, Some(MEASURE), ask).await;
    row(
        "reach: POST reachability, 1,000 networks/10,000 routes (req/s)",
        format!("{:.0}", run.rate),
        "-".into(),
        "-".into(),
        "-",
    );
    row(
        "reach: POST reachability p99, 16 conns (ms)",
        format!("{:.2}", run.p99_ms()),
        "-".into(),
        "-".into(),
        "< 5 ms",
    );
    row(
        "reach: POST reachability p99, 1 conn (ms)",
        format!("{:.2}", alone.p99_ms()),
        "-".into(),
        "-".into(),
        "< 5 ms",
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mode = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "api".into());
    // Where a figure's time goes: the server's own debug lines (scripts/bench.d/README.md),
    // on stderr, when RUST_LOG asks for them.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let dir = tempfile::tempdir()?;
    let mut config = ServeConfig::new(dir.path());
    config.dns_listen = "127.0.0.1:0".parse()?;
    let started = serve::start(&config).await?;
    let token = std::fs::read_to_string(dir.path().join(serve::ADMIN_TOKEN_FILE))?
        .trim()
        .to_string();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve::serve_on(listener, started.state.clone(), async {
        let _ = stop_rx.await;
    }));
    let b = Arc::new(Bench {
        base,
        auth: format!("Bearer {token}"),
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(CONCURRENCY)
            .build()?,
        state: started.state.clone(),
    });
    let project = b.post("/v1/projects", json!({"name": "bench"})).await;
    let p = project["id"].as_str().expect("project id").to_string();
    match mode.as_str() {
        "api" => api(b, &p).await,
        "reach" => reach(b, &p).await,
        other => anyhow::bail!("unknown mode {other}: api or reach"),
    }
    let _ = stop_tx.send(());
    let _ = server.await;
    Ok(())
}
