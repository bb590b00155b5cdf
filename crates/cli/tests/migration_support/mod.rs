//! Helpers of the live-migration end-to-end tests: a self-hosted NATS JetStream source on a
//! lab host, the engine's steady writer there (the real binary), clients of the source, and
//! a replicator killer.
#![allow(dead_code)] // each test binary uses its own part of the harness

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use isthmus_driver_local::netns;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use crate::lab_host;
use crate::local_support::LocalLab;
use crate::support::BIN;

pub const SOURCE_IP: &str = "172.16.0.10";
pub const OTHER_IP: &str = "172.16.0.20";
pub const PROCESSED: u64 = 737;

pub fn events() -> u64 {
    if std::env::var("ISTHMUS_LONG").is_ok_and(|v| v == "1") {
        100_000
    } else {
        10_000
    }
}

/// A nats-server with JetStream on a lab host, killed when dropped.
pub struct SourceServer {
    child: Child,
    _dir: tempfile::TempDir,
}

impl SourceServer {
    pub fn start(ns: &str) -> SourceServer {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "nats-server",
                "-js",
                "-a",
                SOURCE_IP,
                "-p",
                "4222",
            ])
            .arg("-sd")
            .arg(dir.path())
            .args(["-n", "lab-source"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server on the lab host");
        SourceServer { child, _dir: dir }
    }
}

impl Drop for SourceServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `isthmus migrate-engine write` on the lab host, stopped with SIGINT.
pub struct SteadyWriter(Child);

impl SteadyWriter {
    pub fn start(ns: &str, stream: &str, rate: u64) -> SteadyWriter {
        Self::start_at(ns, &format!("nats://{SOURCE_IP}:4222"), stream, rate)
    }

    /// A writer of the source at `servers` (comma-separated: a cluster's nodes).
    pub fn start_at(ns: &str, servers: &str, stream: &str, rate: u64) -> SteadyWriter {
        let child = Command::new("ip")
            .args(["netns", "exec", ns, BIN, "migrate-engine", "write"])
            .args(["--server", servers, "--stream", stream])
            .args(["--rate", &rate.to_string(), "--subjects", "8"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the steady writer");
        SteadyWriter(child)
    }

    /// Stops it and returns how many events it wrote.
    pub fn stop(mut self) -> u64 {
        kill(Pid::from_raw(self.0.id() as i32), Signal::SIGINT).unwrap();
        let output = std::mem::replace(&mut self.0, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        let line: Value = serde_json::from_slice(&output.stdout).expect("the writer's count");
        line["written"].as_u64().expect("written")
    }
}

impl Drop for SteadyWriter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `job` with a plain (no TLS) client of the lab source, from the lab host.
pub fn on_source<T: Send + 'static, Fut>(
    ns: &str,
    job: impl FnOnce(jetstream::Context) -> Fut + Send + 'static,
) -> anyhow::Result<T>
where
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    lab_host::run(ns, move || async move {
        let client = async_nats::connect(format!("nats://{SOURCE_IP}:4222")).await?;
        job(jetstream::new(client)).await
    })
}

/// Whether namespace `ns` can open a TCP connection to `addr`.
pub fn connects_from(ns: &str, addr: SocketAddr) -> bool {
    netns::run_in(Some(ns), move || {
        Ok(TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok())
    })
    .unwrap()
}

/// SIGKILLs the replicator (`isthmus migrate-engine run`) of the server whose data dir is
/// `data_dir`; returns whether one was running.
pub fn kill_replicator(data_dir: &std::path::Path) -> bool {
    kill_matching(data_dir, "migrations", |args| {
        args.windows(2)
            .any(|w| w[0] == "migrate-engine" && w[1] == "run")
    }) > 0
}

/// SIGKILLs the nats-server of node `index` of the clusters of the server whose data dir
/// is `data_dir` (the node supervisor starts it again); returns whether one was running.
pub fn kill_target_node(data_dir: &std::path::Path, index: u32) -> bool {
    let node_dir = format!("/{index}/");
    kill_matching(data_dir, "nodes", |args| {
        args.first().is_some_and(|p| p.ends_with("nats-server"))
            && args.iter().any(|a| a.contains(&node_dir))
    }) > 0
}

/// SIGKILLs every process whose arguments name a path under `data_dir/under` and that
/// `select` picks; returns how many.
fn kill_matching(
    data_dir: &std::path::Path,
    under: &str,
    select: impl Fn(&[String]) -> bool,
) -> usize {
    let marker = data_dir.join(under).to_string_lossy().into_owned();
    let mut killed = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if select(&args)
            && args.iter().any(|a| a.contains(&marker))
            && kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok()
        {
            killed += 1;
        }
    }
    killed
}

/// The last sequence of `stream` on the lab source (what the source holds, whatever a
/// writer stopped mid-publish counted).
pub fn source_last_seq(ns: &str, stream: &'static str) -> u64 {
    on_source(ns, move |js| async move {
        let mut stream = js.get_stream(stream).await?;
        Ok(stream.info().await?.state.last_sequence)
    })
    .unwrap()
}

/// Replicator kills and target node kills, alternating: 20, or 100 with `ISTHMUS_LONG=1`.
pub fn kill_count() -> usize {
    if std::env::var("ISTHMUS_LONG").is_ok_and(|v| v == "1") {
        100
    } else {
        20
    }
}

/// The seed of the random kill points: `ISTHMUS_SEED` to replay a run, else the clock.
/// Printed, so a failing run can be replayed.
pub fn seed() -> u64 {
    let seed = std::env::var("ISTHMUS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("random seed {seed} (replay with ISTHMUS_SEED={seed})");
    seed
}

/// xorshift64*: enough randomness for kill points, and replayable from the seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// Kills the replicator or one of the target's three nodes, chosen at random, after a
/// random pause of 0.05–1.5 s, [`kill_count`] times (the controller starts each again);
/// prints the seed and how many of each.
pub fn chaos(data_dir: &std::path::Path) {
    let mut rng = Rng::new(seed());
    let (mut kills, mut node_kills) = (0, 0);
    while kills + node_kills < kill_count() {
        std::thread::sleep(Duration::from_millis(50 + rng.below(1450)));
        match rng.below(4) {
            0 | 1 => kills += usize::from(kill_replicator(data_dir)),
            node => {
                let index = (rng.below(3) + node - 2) as u32 % 3;
                node_kills += usize::from(kill_target_node(data_dir, index));
            }
        }
    }
    eprintln!("killed the replicator {kills} times and a target node {node_kills} times");
}

/// Polls migration `id` until `check` holds, for at most `limit`, and returns it as last
/// seen; fails naming what never happened and the migration as it was then.
pub fn until_migration(
    lab: &LocalLab,
    id: &str,
    what: &str,
    limit: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let m = lab.cli.json(&format!("migration get {id}"));
        if check(&m) {
            return m;
        }
        assert!(Instant::now() < deadline, "never {what}:\n{m:#}");
        std::thread::sleep(Duration::from_millis(250));
    }
}
