//! Engine processes of `local` cluster nodes. Once the driver has made a cluster's node
//! namespaces, the controller asks the supervisor to make each node serve: a certificate
//! from the installation CA in `<data_dir>/nodes/<cluster-id>/<n>/`, the engine started in
//! the node's namespace, restarted when it died, reloaded when its certificate was renewed,
//! and a readiness check. A node counts as running only when it is ready.

mod certs;
mod files;
pub mod jetstream_move;
pub mod moving;
mod process;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use isthmus_connect::engines::{
    catalog_ports, launch_for, CertRenewal, LaunchContext, Membership, NodeLaunch, Peer,
    ReadyCheck, RenderedLaunch,
};
use isthmus_connect::pki::{Ca, NodeIdentity};
use isthmus_core::resources::{Cluster, Node};
use isthmus_driver_local::{netns, LocalDriver};

use process::NodeProcess;
pub use process::{LOG_FILE, PID_FILE};

/// Where node directories live under the data dir.
pub const NODES_DIR: &str = "nodes";
pub const CERT_FILE: &str = "cert.pem";
pub const KEY_FILE: &str = "key.pem";
pub const CA_FILE: &str = "ca.pem";
/// The cluster's system-user password, in the cluster's node dir (0600).
pub const SYSTEM_PASSWORD_FILE: &str = "system-password";
/// Node certificates live this long unless configured otherwise (renewed after two thirds).
pub const DEFAULT_CERT_LIFETIME: Duration = Duration::from_secs(30 * 86_400);

#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// `<data_dir>/nodes`.
    pub root: PathBuf,
    pub cert_lifetime: Duration,
    /// The program with the `probe` subcommand (this binary).
    pub isthmus_binary: PathBuf,
    pub nats_server: PathBuf,
}

impl NodeConfig {
    /// Nodes under `<data_dir>/nodes`, the probe from this very executable.
    pub fn new(data_dir: &Path, cert_lifetime: Duration) -> anyhow::Result<NodeConfig> {
        Ok(NodeConfig {
            root: data_dir.join(NODES_DIR),
            cert_lifetime,
            isthmus_binary: std::env::current_exe().context("find the isthmus executable")?,
            nats_server: PathBuf::from("nats-server"),
        })
    }
}

/// What one node's check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeHealth {
    pub index: u32,
    pub ready: bool,
    /// Why not, when not ready.
    pub detail: String,
}

/// A node: its cluster id and index.
type NodeKey = (String, u32);

/// One node's engine, locked while it is started, reloaded or stopped. Those wait (for an
/// old engine to exit), so each node has its own lock and the map of them is only ever
/// held for a lookup.
type Slot = Arc<tokio::sync::Mutex<Option<NodeProcess>>>;

pub struct NodeSupervisor {
    config: NodeConfig,
    ca: Arc<Ca>,
    local: Arc<LocalDriver>,
    processes: Mutex<HashMap<NodeKey, Slot>>,
    /// The replicators of migrations into this server's clusters.
    migrations: Arc<crate::migrations::EngineRunner>,
}

impl NodeSupervisor {
    pub fn new(config: NodeConfig, ca: Arc<Ca>, local: Arc<LocalDriver>) -> NodeSupervisor {
        let data_dir = config.root.parent().unwrap_or(&config.root).to_path_buf();
        let migrations = Arc::new(crate::migrations::EngineRunner::new(
            &data_dir,
            config.isthmus_binary.clone(),
            ca.clone(),
            local.clone(),
        ));
        NodeSupervisor {
            config,
            ca,
            local,
            processes: Mutex::new(HashMap::new()),
            migrations,
        }
    }

    /// The runner of migrations' replicators (same binary, data dir and CA).
    pub fn migrations(&self) -> Arc<crate::migrations::EngineRunner> {
        self.migrations.clone()
    }

    fn cluster_dir(&self, cluster_id: &str) -> PathBuf {
        self.config.root.join(cluster_id)
    }

    /// Makes every node in `indices` (whose namespaces exist) serve, and checks readiness.
    pub async fn ensure(
        &self,
        cluster: &Cluster,
        indices: &[u32],
    ) -> anyhow::Result<Vec<NodeHealth>> {
        self.ensure_with_peers(cluster, indices, &[]).await
    }

    /// Like [`ensure`](Self::ensure), with `more_peers` (nodes not in `cluster.nodes`: the
    /// other side of a move) among each node's routes.
    pub(crate) async fn ensure_with_peers(
        &self,
        cluster: &Cluster,
        indices: &[u32],
        more_peers: &[Node],
    ) -> anyhow::Result<Vec<NodeHealth>> {
        let launch = launch_for(
            &cluster.engine,
            &self.config.isthmus_binary,
            &self.config.nats_server,
        )
        .with_context(|| format!("engine {:?} has no way to start nodes", cluster.engine))?;
        // The nodes at once: each has its own process slot and directory, and a readiness
        // check is mostly waiting (every reconcile of the cluster runs them).
        let nodes = cluster.nodes.iter().filter(|n| indices.contains(&n.index));
        let checks = nodes.map(|node| {
            let launch = &launch;
            async move {
                let ready = self
                    .ensure_node(cluster, node, launch, more_peers)
                    .await
                    .with_context(|| format!("node {} of cluster {}", node.index, cluster.id));
                match ready {
                    Ok(()) => NodeHealth {
                        index: node.index,
                        ready: true,
                        detail: String::new(),
                    },
                    Err(e) => NodeHealth {
                        index: node.index,
                        ready: false,
                        detail: format!("{e:#}"),
                    },
                }
            }
        });
        Ok(futures::future::join_all(checks).await)
    }

    fn slot(&self, key: &NodeKey) -> Slot {
        self.processes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.clone())
            .or_default()
            .clone()
    }

    async fn ensure_node(
        &self,
        cluster: &Cluster,
        node: &Node,
        launch: &NodeLaunch,
        more_peers: &[Node],
    ) -> anyhow::Result<()> {
        let ctx = self.launch_context(cluster, node, more_peers)?;
        let (ca, id, lifetime) = (
            self.ca.clone(),
            identity(cluster, node),
            self.config.cert_lifetime,
        );
        let launch = launch.clone();
        let (ctx, files::Prepared { rendered, renewed }) = tokio::task::spawn_blocking(move || {
            let prepared = files::prepare(&ca, &id, lifetime, &ctx, &launch)?;
            anyhow::Ok((ctx, prepared))
        })
        .await
        .context("prepare the node's files")??;
        let ns = self.local.node_namespace(cluster, node.index);
        let slot = self.slot(&(cluster.id.to_string(), node.index));
        {
            let mut process = slot.lock().await;
            if process.as_ref().is_some_and(|p| !p.runs_in(&ns)) {
                tracing::info!(node = %ctx.node_name, "the node's namespace was made again; moving its engine there");
                if let Some(old) = process.take() {
                    old.stop().await;
                }
            }
            match process.as_mut().map(NodeProcess::exited) {
                Some(None) => {
                    if renewed {
                        Self::reload(&mut process, &ns, &ctx, &rendered).await?;
                    }
                }
                other => {
                    if let Some(Some(status)) = other {
                        tracing::warn!(node = %ctx.node_name, %status, "engine exited; restarting it");
                    }
                    *process = Some(NodeProcess::spawn(&ns, &ctx.data_dir, &rendered).await?);
                }
            }
        }
        check_in_namespace(&ns, rendered.ready, self.ca.cert_pem().to_string()).await
    }

    /// Makes a running engine pick up its renewed certificate, the way the engine can.
    async fn reload(
        process: &mut Option<NodeProcess>,
        ns: &str,
        ctx: &LaunchContext,
        rendered: &RenderedLaunch,
    ) -> anyhow::Result<()> {
        match rendered.on_cert_renewal {
            CertRenewal::WatchesFiles => {}
            CertRenewal::SignalHup => {
                if let Some(running) = process {
                    running.hangup()?;
                }
            }
            CertRenewal::Restart => {
                if let Some(old) = process.take() {
                    old.stop().await;
                }
                *process = Some(NodeProcess::spawn(ns, &ctx.data_dir, rendered).await?);
            }
        }
        tracing::info!(node = %ctx.node_name, "engine picked up its renewed certificate");
        Ok(())
    }

    fn launch_context(
        &self,
        cluster: &Cluster,
        node: &Node,
        more_peers: &[Node],
    ) -> anyhow::Result<LaunchContext> {
        let engine = isthmus_core::engines::find(&cluster.engine)
            .with_context(|| format!("engine {:?} is not in the catalog", cluster.engine))?;
        let ports = catalog_ports(engine);
        let cluster_dir = self.cluster_dir(&cluster.id.to_string());
        let data_dir = cluster_dir.join(node.index.to_string());
        let membership = Membership {
            member_name: member_name(cluster, node),
            tags: vec![jetstream_move::network_tag(&cluster.network_id.to_string())],
            system_password: Some(system_password(&cluster_dir)?),
        };
        Ok(LaunchContext {
            cluster_id: cluster.id.to_string(),
            node_index: node.index,
            node_name: node.dns_name.clone(),
            cluster_name: cluster.dns_name.clone(),
            node_ip: IpAddr::V4(node.ip),
            cert: data_dir.join(CERT_FILE),
            key: data_dir.join(KEY_FILE),
            ca: data_dir.join(CA_FILE),
            data_dir,
            peers: cluster
                .nodes
                .iter()
                .chain(more_peers)
                .filter(|n| n.index != node.index)
                .map(|n| Peer {
                    node_name: n.dns_name.clone(),
                    ip: IpAddr::V4(n.ip),
                    ports: ports.clone(),
                })
                .collect(),
            ports,
            membership,
        })
    }

    /// The cluster's system-user password (made on first use), for a move's steps.
    pub fn system_password(&self, cluster: &Cluster) -> anyhow::Result<String> {
        system_password(&self.cluster_dir(&cluster.id.to_string()))
    }

    /// Stops every engine of the cluster and removes its node directories (certificates,
    /// keys, data).
    pub async fn stop(&self, cluster: &Cluster) -> anyhow::Result<()> {
        let id = cluster.id.to_string();
        let slots: Vec<Slot> = {
            let mut processes = self.processes.lock().unwrap_or_else(|e| e.into_inner());
            let keys: Vec<_> = processes
                .keys()
                .filter(|(c, _)| *c == id)
                .cloned()
                .collect();
            keys.iter().filter_map(|k| processes.remove(k)).collect()
        };
        for slot in slots {
            // Waits for a start in progress to finish, so its engine is stopped too.
            let stopping = slot.lock().await.take();
            if let Some(process) = stopping {
                process.stop().await;
            }
        }
        let dir = self.cluster_dir(&id);
        // Engines a crashed server left running are found through their pid files.
        for node in &cluster.nodes {
            process::kill_survivor(&dir.join(node.index.to_string())).await;
        }
        tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("remove node dirs {}", dir.display())),
        })
        .await
        .context("remove node dirs")?
    }
}

/// A node's member name when it is not its DNS name: a node of a move has the DNS name of
/// the node it replaces (`<id>-<n>.<zone>`) but another index, and both run side by side
/// as members of one cluster until the old one goes.
fn member_name(cluster: &Cluster, node: &Node) -> Option<String> {
    let ordinal = node
        .dns_name
        .strip_prefix(&format!("{}-", cluster.id))
        .and_then(|rest| rest.split('.').next())
        .and_then(|n| n.parse::<u32>().ok());
    match ordinal {
        Some(n) if n != node.index => Some(format!("{}~{}", node.dns_name, node.index)),
        _ => None,
    }
}

/// Reads, or makes once (random, 0600), the password in `cluster_dir`.
fn system_password(cluster_dir: &Path) -> anyhow::Result<String> {
    use rand::RngCore;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let path = cluster_dir.join(SYSTEM_PASSWORD_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        if !text.trim().is_empty() {
            return Ok(text.trim().to_string());
        }
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(cluster_dir)
        .with_context(|| format!("create {}", cluster_dir.display()))?;
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    let password = hex::encode(bytes);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("write {}", path.display()))?;
    std::io::Write::write_all(&mut file, password.as_bytes())
        .with_context(|| format!("write {}", path.display()))?;
    Ok(password)
}

/// The names a node's certificate is valid for.
fn identity(cluster: &Cluster, node: &Node) -> NodeIdentity {
    let zone = cluster
        .dns_name
        .strip_prefix(&format!("{}.", cluster.id))
        .unwrap_or(&cluster.dns_name);
    NodeIdentity {
        node_dns: node.dns_name.clone(),
        cluster_dns: cluster.dns_name.clone(),
        public_dns: Some(format!("public-{}.{zone}", cluster.id)),
        ip: IpAddr::V4(node.ip),
    }
}

/// Runs the readiness check from inside the node's namespace (the node IP is reachable
/// only there), on a thread of its own with its own small runtime.
async fn check_in_namespace(ns: &str, check: ReadyCheck, ca_pem: String) -> anyhow::Result<()> {
    netns::run_in_async(Some(ns), move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("build the readiness runtime")?;
        runtime.block_on(check.check(&ca_pem))
    })
    .await
    .context("not ready")
}
