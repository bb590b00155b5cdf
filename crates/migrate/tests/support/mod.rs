//! Real nats-server processes on loopback for the migration tests: a random free port, a
//! JetStream store in a temporary directory, killed (SIGKILL) on drop, restartable on the
//! same port and store to play a node that crashed and came back.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream, Context};
use isthmus_migrate::{Endpoint, Migration, Mode, Settings, Spec, Status};

/// Bounded waits: everything here happens on loopback within seconds.
pub const WAIT: Duration = Duration::from_secs(60);
const READY: Duration = Duration::from_secs(15);

pub mod cluster;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn nats_server() -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("nats-server"))
        .find(|p| p.is_file())
        .expect("nats-server is not installed (scripts/setup installs it)")
}

pub struct NatsServer {
    pub port: u16,
    store: tempfile::TempDir,
    process: Option<Child>,
}

impl NatsServer {
    pub async fn start() -> NatsServer {
        let port = free_port();
        let mut server = NatsServer {
            port,
            store: tempfile::tempdir().unwrap(),
            process: None,
        };
        server.launch().await;
        server
    }

    async fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.store.path().join("nats.log"))
            .unwrap();
        let child = Command::new(nats_server())
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store.path().join("js"))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn nats-server");
        self.process = Some(child);
        let deadline = Instant::now() + READY;
        loop {
            let last = match async_nats::connect(self.url()).await {
                Ok(client) => {
                    let js = jetstream::new(client.clone());
                    match isthmus_migrate::streams::check_target(&client, &js).await {
                        Ok(_) => return,
                        Err(e) => format!("{e:#}"),
                    }
                }
                Err(e) => e.to_string(),
            };
            assert!(
                Instant::now() < deadline,
                "nats-server on {} never became ready ({last}):\n{}",
                self.port,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Child::id)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            urls: vec![self.url()],
            ..Default::default()
        }
    }

    pub async fn js(&self) -> Context {
        jetstream::new(async_nats::connect(self.url()).await.unwrap())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.store.path().join("nats.log")).unwrap_or_default()
    }

    /// SIGKILL: the server gets no chance to flush or say goodbye.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same port with the same store.
    pub async fn restart(&mut self) {
        self.kill();
        self.launch().await;
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A source stream `name` over `name.<subject>` subjects.
pub async fn create_stream(js: &Context, name: &str) {
    js.create_stream(stream::Config {
        name: name.to_string(),
        subjects: vec![format!("{}.>", name.to_lowercase())],
        ..Default::default()
    })
    .await
    .unwrap();
}

pub fn subjects(stream: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("{}.s{i}", stream.to_lowercase()))
        .collect()
}

pub fn spec(source: &NatsServer, target: &NatsServer, mode: Mode) -> Spec {
    Spec {
        source: source.endpoint(),
        target: target.endpoint(),
        streams: Vec::new(),
        mode,
        filters: Default::default(),
        transform: Default::default(),
        carried: Default::default(),
        settings: Settings {
            retry_after: Duration::from_millis(100),
            sample_every: Duration::from_millis(100),
            ..Default::default()
        },
    }
}

/// Starts a migration, retrying while a just-restarted target is still recovering.
pub async fn start(spec: Spec) -> Migration {
    let deadline = Instant::now() + WAIT;
    loop {
        match Migration::start(spec.clone()).await {
            Ok(migration) => return migration,
            Err(error) if Instant::now() < deadline => {
                eprintln!("start: {error:#}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("the migration never started: {error:#}"),
        }
    }
}

/// Waits until `done` holds for the migration's status; panics with the status otherwise.
pub async fn wait_for(migration: &Migration, what: &str, done: impl Fn(&Status) -> bool) -> Status {
    let deadline = Instant::now() + WAIT;
    loop {
        let status = migration.status();
        if done(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "never {what}: {status:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every source stream's last message, as the source has it now.
pub async fn source_ends(js: &Context, streams: &[&str]) -> Vec<u64> {
    let mut ends = Vec::new();
    let deadline = Instant::now() + WAIT;
    for name in streams {
        // A clustered source that just lost a node may be electing the stream's leader.
        loop {
            match isthmus_migrate::source::last_existing(js, name).await {
                Ok(end) => break ends.push(end),
                Err(e) if Instant::now() < deadline => eprintln!("the end of {name}: {e:#}"),
                Err(e) => panic!("the end of {name}: {e:#}"),
            }
        }
    }
    ends
}

/// Waits until every stream's copy reached the source's current end.
pub async fn wait_caught_up(migration: &Migration, source: &Context, streams: &[&str]) -> Status {
    let ends = source_ends(source, streams).await;
    wait_for(migration, "caught up", |status| {
        streams.iter().zip(&ends).all(|(name, end)| {
            status
                .streams
                .iter()
                .any(|s| s.stream == *name && s.copied_through >= *end)
        })
    })
    .await
}
