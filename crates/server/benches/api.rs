//! API benchmark: creates per second and GET latency through the real HTTP stack (axum
//! on loopback, SQLite in a temp dir, the controller reconciling against the simulated
//! clouds meanwhile), and the process's peak memory. Prints figures; asserts nothing
//! about speed. Run: `cargo bench -p isthmus-server --bench api`.
//! Sizes: ISTHMUS_BENCH_CREATES (default 2000), ISTHMUS_BENCH_GETS (default 10000).

use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/rss.rs"]
mod rss;

use isthmus_server::serve::{self, ServeConfig};
use serde_json::{json, Value};
use tokio::net::TcpListener;

const CONCURRENCY: usize = 16;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Runs `total` requests made by `make(i)` over CONCURRENCY workers; returns each latency.
async fn drive<F, Fut>(total: usize, make: F) -> Vec<Duration>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let make = Arc::new(make);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (make, next) = (make.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                make(i).await;
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::with_capacity(total);
    for t in tasks {
        all.extend(t.await.expect("worker"));
    }
    all
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let creates = env_usize("ISTHMUS_BENCH_CREATES", 2000);
    let gets = env_usize("ISTHMUS_BENCH_GETS", 10000);
    let dir = tempfile::tempdir()?;
    let config = ServeConfig::new(dir.path());
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

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()?;
    let auth = format!("Bearer {token}");
    let project: Value = client
        .post(format!("{base}/v1/projects"))
        .header("authorization", &auth)
        .json(&json!({"name": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    let p = project["id"].as_str().expect("project id").to_string();

    // Creates: distinct /24s in 10.0.0.0/8 (65,536 of them), so every create passes the
    // overlap rule against all the networks before it.
    let networks_url = format!("{base}/v1/projects/{p}/networks");
    let ids = Arc::new(std::sync::Mutex::new(Vec::with_capacity(creates)));
    let started_at = Instant::now();
    let create_lat = {
        let (client, auth, url, ids) = (
            client.clone(),
            auth.clone(),
            networks_url.clone(),
            ids.clone(),
        );
        drive(creates, move |i| {
            let (client, auth, url, ids) = (client.clone(), auth.clone(), url.clone(), ids.clone());
            async move {
                let body = json!({"name": format!("n{i}"), "provider": "aws", "region": "us-east-1",
                                  "cidr_block": format!("10.{}.{}.0/24", i / 256, i % 256)});
                let resp = client
                    .post(&url)
                    .header("authorization", &auth)
                    .json(&body)
                    .send()
                    .await
                    .expect("create");
                assert_eq!(resp.status(), 201, "create {i}");
                let v: Value = resp.json().await.expect("json");
                ids.lock()
                    .unwrap()
                    .push(v["id"].as_str().unwrap().to_string());
            }
        })
        .await
    };
    let create_secs = started_at.elapsed().as_secs_f64();

    let ids = Arc::new(ids.lock().unwrap().clone());
    let started_at = Instant::now();
    let mut get_lat = {
        let (client, auth, url, ids) = (
            client.clone(),
            auth.clone(),
            networks_url.clone(),
            ids.clone(),
        );
        drive(gets, move |i| {
            let (client, auth, url, ids) = (client.clone(), auth.clone(), url.clone(), ids.clone());
            async move {
                let id = &ids[(i * 7919) % ids.len()];
                let resp = client
                    .get(format!("{url}/{id}"))
                    .header("authorization", &auth)
                    .send()
                    .await
                    .expect("get");
                assert_eq!(resp.status(), 200);
                let _ = resp.bytes().await;
            }
        })
        .await
    };
    let get_secs = started_at.elapsed().as_secs_f64();
    get_lat.sort();
    let mut create_sorted = create_lat;
    create_sorted.sort();

    println!("api bench ({CONCURRENCY} concurrent clients on loopback, SQLite in a temp dir, controller running)");
    println!(
        "  creates: {creates} networks in {create_secs:.2} s = {:.0} creates/s (p50 {:?}, p99 {:?})",
        creates as f64 / create_secs,
        percentile(&create_sorted, 0.50),
        percentile(&create_sorted, 0.99)
    );
    println!(
        "  GET network: {gets} in {get_secs:.2} s = {:.0}/s, p50 {:?}, p99 {:?}",
        gets as f64 / get_secs,
        percentile(&get_lat, 0.50),
        percentile(&get_lat, 0.99)
    );
    println!(
        "  peak RSS of the process (server + load generator): {:.1} MiB",
        rss::peak_rss_mib()
    );
    let _ = stop_tx.send(());
    let _ = server.await;
    Ok(())
}
