//! Soak: concurrent clients send a mix of GET, POST, PATCH and DELETE to a running server
//! for a fixed time; prints throughput, p50/p99 latency, the count of 5xx answers and the
//! server's resident memory at the start and the end. Asserts nothing.
//!
//! Run `./scripts/bench-soak`, which starts `isthmus serve` on loopback with a temp data
//! dir and runs this against it with:
//! ISTHMUS_URL, ISTHMUS_TOKEN (a superuser), ISTHMUS_SERVER_PID (whose RSS to read),
//! SOAK_SECONDS (default 60), SOAK_CLIENTS (default 16).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::Rng;
use reqwest::{Client, Method};
use serde_json::{json, Value};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `VmRSS` and `VmHWM` of a process, in MiB.
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[derive(Default)]
struct Tally {
    /// Latency of every request, by operation.
    latencies: BTreeMap<&'static str, Vec<Duration>>,
    /// Answers by status code.
    statuses: BTreeMap<u16, usize>,
    /// Requests that got no HTTP answer at all (connection errors, client timeouts).
    failures: usize,
}

struct Shared {
    client: Client,
    base: String,
    auth: String,
    project: String,
    /// Networks this run created and has not deleted.
    networks: Mutex<Vec<String>>,
    /// Next /24 in 10.0.0.0/8 for a create (distinct, so creates pass the overlap rule).
    next_cidr: AtomicUsize,
}

impl Shared {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Option<(u16, Value)> {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("authorization", &self.auth);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.ok()?;
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        Some((status, body))
    }

    fn pick_network(&self) -> Option<String> {
        self.networks
            .lock()
            .unwrap()
            .choose(&mut rand::thread_rng())
            .cloned()
    }

    /// One request of the mix; its operation name and answer.
    async fn one(&self) -> (&'static str, Option<(u16, Value)>) {
        let p = &self.project;
        let roll = rand::thread_rng().gen_range(0..100);
        let existing = self.pick_network();
        match (roll, existing) {
            (0..=19, _) | (_, None) => {
                let n = self.next_cidr.fetch_add(1, Ordering::Relaxed) % 65_536;
                let body = json!({"name": format!("soak-{n}"), "provider": "aws",
                    "region": "us-east-1", "cidr_block": format!("10.{}.{}.0/24", n / 256, n % 256)});
                let answer = self
                    .send(
                        Method::POST,
                        &format!("/v1/projects/{p}/networks"),
                        Some(body),
                    )
                    .await;
                if let Some((201, v)) = &answer {
                    if let Some(id) = v["id"].as_str() {
                        self.networks.lock().unwrap().push(id.to_string());
                    }
                }
                ("POST network", answer)
            }
            (20..=54, Some(id)) => (
                "GET network",
                self.send(
                    Method::GET,
                    &format!("/v1/projects/{p}/networks/{id}"),
                    None,
                )
                .await,
            ),
            (55..=69, _) => (
                "GET list",
                self.send(
                    Method::GET,
                    &format!("/v1/projects/{p}/networks?limit=50"),
                    None,
                )
                .await,
            ),
            (70..=87, Some(id)) => {
                let name = format!("renamed-{}", rand::thread_rng().gen::<u32>());
                (
                    "PATCH network",
                    self.send(
                        Method::PATCH,
                        &format!("/v1/projects/{p}/networks/{id}"),
                        Some(json!({"name": name})),
                    )
                    .await,
                )
            }
            (_, Some(id)) => {
                self.networks.lock().unwrap().retain(|n| *n != id);
                (
                    "DELETE network",
                    self.send(
                        Method::DELETE,
                        &format!("/v1/projects/{p}/networks/{id}"),
                        None,
                    )
                    .await,
                )
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Ok(base) = std::env::var("ISTHMUS_URL") else {
        println!("soak: needs a running server; run ./scripts/bench-soak");
        return Ok(());
    };
    let token = std::env::var("ISTHMUS_TOKEN")?;
    let pid: u32 = env_or("ISTHMUS_SERVER_PID", 0);
    let seconds: u64 = env_or("SOAK_SECONDS", 60);
    let clients: usize = env_or("SOAK_CLIENTS", 16);

    let client = Client::builder()
        .pool_max_idle_per_host(clients)
        .timeout(Duration::from_secs(30))
        .build()?;
    let auth = format!("Bearer {token}");
    let project: Value = client
        .post(format!("{base}/v1/projects"))
        .header("authorization", &auth)
        .json(&json!({"name": format!("soak-{}", std::process::id())}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let shared = Arc::new(Shared {
        client,
        base,
        auth,
        project: project["id"].as_str().expect("project id").to_string(),
        networks: Mutex::new(Vec::new()),
        next_cidr: AtomicUsize::new(0),
    });

    let (rss_start, _) = rss_mib(pid);
    println!(
        "soak: {clients} clients for {seconds} s against {}",
        shared.base
    );
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for _ in 0..clients {
        let shared = shared.clone();
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < end {
                let t = Instant::now();
                let (op, answer) = shared.one().await;
                let took = t.elapsed();
                tally.latencies.entry(op).or_default().push(took);
                match answer {
                    Some((status, _)) => *tally.statuses.entry(status).or_default() += 1,
                    None => tally.failures += 1,
                }
            }
            tally
        }));
    }
    let mut total = Tally::default();
    for worker in workers {
        let tally = worker.await?;
        for (op, lat) in tally.latencies {
            total.latencies.entry(op).or_default().extend(lat);
        }
        for (status, n) in tally.statuses {
            *total.statuses.entry(status).or_default() += n;
        }
        total.failures += tally.failures;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (rss_end, rss_peak) = rss_mib(pid);

    let mut all: Vec<Duration> = total.latencies.values().flatten().copied().collect();
    all.sort();
    let requests = all.len();
    println!(
        "requests: {requests} in {elapsed:.1} s = {:.0} req/s",
        requests as f64 / elapsed
    );
    println!(
        "latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(percentile(&all, 0.50)),
        ms(percentile(&all, 0.99)),
        ms(all.last().copied().unwrap_or_default())
    );
    for (op, lat) in &mut total.latencies {
        lat.sort();
        println!(
            "  {op:<15} {:>7} requests, p50 {:.2} ms, p99 {:.2} ms",
            lat.len(),
            ms(percentile(lat, 0.50)),
            ms(percentile(lat, 0.99))
        );
    }
    let server_errors: usize = total
        .statuses
        .iter()
        .filter(|(s, _)| **s >= 500)
        .map(|(_, n)| n)
        .sum();
    let by_status: Vec<String> = total
        .statuses
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    println!("5xx: {server_errors}; no answer: {}", total.failures);
    println!("statuses: {}", by_status.join(", "));
    if pid != 0 {
        println!(
            "server RSS: {rss_start:.1} MiB at start, {rss_end:.1} MiB at end (peak {rss_peak:.1} MiB)"
        );
    }
    Ok(())
}
