//! The `probe` engine: a TLS server that answers every request with the node's identity.
//! It exists for connectivity checks, demos and tests; `isthmus probe` runs it.

mod reload;
mod serve;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub use reload::ReloadingTlsConfig;

/// Who this node is; sent back to every client as one line of JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeIdentity {
    pub cluster_id: String,
    pub node_index: u32,
    /// The node's DNS names (node, cluster, public).
    pub names: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ProbeConfig {
    pub listen: Vec<SocketAddr>,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub identity: ProbeIdentity,
}

/// What a client receives (the identity plus which engine answered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReply {
    pub engine: String,
    #[serde(flatten)]
    pub identity: ProbeIdentity,
}

/// Serves the probe on every listen address until an error stops a listener.
pub async fn run_probe(config: ProbeConfig) -> anyhow::Result<()> {
    ProbeServer::bind(config).await?.serve().await
}

/// A bound probe, so callers (and tests with port 0) learn the addresses before serving.
pub struct ProbeServer {
    listeners: Vec<TcpListener>,
    tls: Arc<ReloadingTlsConfig>,
    identity_json: Arc<str>,
}

impl ProbeServer {
    pub async fn bind(config: ProbeConfig) -> anyhow::Result<ProbeServer> {
        anyhow::ensure!(
            !config.listen.is_empty(),
            "the probe needs at least one listen address"
        );
        let tls = ReloadingTlsConfig::load(&config.cert_path, &config.key_path)
            .context("load the probe's TLS certificate")?;
        let mut listeners = Vec::with_capacity(config.listen.len());
        for addr in &config.listen {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("probe listen on {addr}"))?;
            listeners.push(listener);
        }
        let reply = ProbeReply {
            engine: "probe".into(),
            identity: config.identity,
        };
        let identity_json = serde_json::to_string(&reply).context("encode identity")?;
        Ok(ProbeServer {
            listeners,
            tls,
            identity_json: identity_json.into(),
        })
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    pub async fn serve(self) -> anyhow::Result<()> {
        let watcher = tokio::spawn(self.tls.clone().watch());
        let mut accept_loops = tokio::task::JoinSet::new();
        for listener in self.listeners {
            accept_loops.spawn(accept_loop(
                listener,
                self.tls.clone(),
                self.identity_json.clone(),
            ));
        }
        let outcome = accept_loops
            .join_next()
            .await
            .expect("at least one listener")
            .context("probe listener task")?;
        watcher.abort();
        outcome
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Arc<ReloadingTlsConfig>,
    identity_json: Arc<str>,
) -> anyhow::Result<()> {
    let addr = listener.local_addr().context("probe listener address")?;
    tracing::info!(%addr, "probe serving TLS");
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Usually transient (out of file descriptors): wait a little, keep serving.
                tracing::warn!(%addr, %error, "probe accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        // Each handshake takes the configuration current at that moment.
        let acceptor = TlsAcceptor::from(tls.current());
        let identity_json = identity_json.clone();
        tokio::spawn(async move {
            let outcome = async {
                let stream = acceptor.accept(tcp).await.context("TLS handshake")?;
                serve::answer(stream, &identity_json).await
            }
            .await;
            if let Err(error) = outcome {
                tracing::debug!(%peer, error = format!("{error:#}"), "probe connection ended");
            }
        });
    }
}
