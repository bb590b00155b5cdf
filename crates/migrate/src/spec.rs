//! What a migration is asked to do (source, target, streams, mode, filters, transform,
//! settings) and how the engine connects to either side.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::filters::Filters;
use crate::transform::TransformSpec;

/// How to reach a NATS server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Endpoint {
    pub urls: Vec<String>,
    /// A CA certificate (PEM file) to verify the servers with.
    pub ca_file: Option<PathBuf>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
}

/// How the events are written to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Mode {
    /// One writer per stream: the target has the source's order.
    Ordered,
    /// Writers by subject hash: each subject keeps its order.
    Partitioned { partitions: usize },
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Publishes in flight per writer.
    pub window: usize,
    /// No progress for this long with events to copy: degraded.
    pub stall_after: Duration,
    /// Pause before a copy restarts from the checkpoint after an error.
    pub retry_after: Duration,
    /// How often the monitor samples the source and the rates.
    pub sample_every: Duration,
    /// The source consumer delivered nothing for this long while the source holds more:
    /// it is read again with a new consumer (see `StreamRun::next_source`).
    pub source_stall: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            window: 1024,
            stall_after: Duration::from_secs(30),
            retry_after: Duration::from_millis(500),
            sample_every: Duration::from_millis(500),
            // Above the client's own recovery (a missed heartbeat is declared after 10 s).
            source_stall: Duration::from_secs(15),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub source: Endpoint,
    pub target: Endpoint,
    /// Streams to copy; empty means all of the source's.
    pub streams: Vec<String>,
    pub mode: Mode,
    /// Messages not to copy.
    pub filters: Filters,
    /// Subject renames and the script over headers and payload.
    pub transform: TransformSpec,
    pub settings: Settings,
    /// Filter counts of an earlier engine of this migration (stream → copied through,
    /// counts): carried on, so the counters cover the whole migration, not one process.
    pub carried: BTreeMap<String, (u64, BTreeMap<String, u64>)>,
}

/// A connection that keeps reconnecting quickly: a migration outlives server restarts.
pub async fn connect(endpoint: &Endpoint, name: &str) -> anyhow::Result<async_nats::Client> {
    let mut options = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(5))
        // A link that drops packets (no reset) is found dead after two missed pings, and
        // a fresh connection made as soon as it is back, instead of waiting out TCP's
        // retransmission backoff on the old one.
        .ping_interval(Duration::from_secs(2))
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((100 * attempts as u64).min(1_000))
        });
    if let Some(ca) = &endpoint.ca_file {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    if let (Some(user), Some(password)) = (&endpoint.user, &endpoint.password) {
        options = options.user_and_password(user.clone(), password.clone());
    }
    if let Some(token) = &endpoint.token {
        options = options.token(token.clone());
    }
    // Each URL on its own: async-nats does not split a comma-separated list.
    let servers = endpoint
        .urls
        .iter()
        .map(|u| {
            u.parse::<async_nats::ServerAddr>()
                .with_context(|| format!("server URL {u}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let urls = endpoint.urls.join(",");
    options
        .connect(servers)
        .await
        .with_context(|| format!("connect to {urls}"))
}
