//! The engines' part of a cluster's move on `local` (issue 19): the new nodes run joined
//! to the old ones, the data steps of [`super::jetstream_move`] are asked from inside a
//! node's namespace (node addresses are reachable only there), and at the end only the
//! old nodes' engines stop.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::Context;
use isthmus_connect::engines::catalog_ports;
use isthmus_core::resources::{Cluster, Node};
use isthmus_driver_local::{netns, LocalDriver};

use super::jetstream_move::{self, connect};
use super::{process, NodeSupervisor, Slot, CA_FILE};

/// Whether the engine keeps data the move must bring across (JetStream); other engines
/// (the probe) hold none, and their move is the nodes' alone.
pub fn replicates(cluster: &Cluster) -> bool {
    cluster.engine == "nats"
}

/// The name `node` goes by among the engine cluster's members.
pub fn member(cluster: &Cluster, node: &Node) -> String {
    super::member_name(cluster, node).unwrap_or_else(|| node.dns_name.clone())
}

impl NodeSupervisor {
    /// The local driver the nodes live on (a move's link is made there).
    pub fn local(&self) -> &Arc<LocalDriver> {
        &self.local
    }

    /// Which of `indices` of `cluster` have an engine running now (started by this
    /// server and not exited).
    pub async fn running(&self, cluster: &Cluster, indices: &[u32]) -> Vec<u32> {
        let id = cluster.id.to_string();
        let mut out = vec![];
        for index in indices {
            let slot = self
                .processes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&(id.clone(), *index))
                .cloned();
            if let Some(slot) = slot {
                let mut process = slot.lock().await;
                if process.as_mut().is_some_and(|p| p.exited().is_none()) {
                    out.push(*index);
                }
            }
        }
        out
    }

    /// Stops the engines of `indices` of `cluster` only (the old nodes at the end of a
    /// move, or the new ones of a cancelled move), and removes their node directories;
    /// the cluster's other nodes and its system password stay.
    pub async fn stop_nodes(&self, cluster: &Cluster, indices: &[u32]) -> anyhow::Result<()> {
        let id = cluster.id.to_string();
        let slots: Vec<Slot> = {
            let mut processes = self.processes.lock().unwrap_or_else(|e| e.into_inner());
            indices
                .iter()
                .filter_map(|i| processes.remove(&(id.clone(), *i)))
                .collect()
        };
        for slot in slots {
            let stopping = slot.lock().await.take();
            if let Some(process) = stopping {
                process.stop().await;
            }
        }
        let cluster_dir = self.cluster_dir(&id);
        for index in indices {
            let dir = cluster_dir.join(index.to_string());
            process::kill_survivor(&dir).await;
            match tokio::fs::remove_dir_all(&dir).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("remove node dir {}", dir.display()))
                }
            }
        }
        Ok(())
    }

    /// One round of bringing the data onto `to` (tagged `tag`) and off `from`, asked
    /// through node `via` from inside its namespace: `None` once every stream and
    /// consumer lives on `to` only, each replica current, and every member of `from`
    /// reports holding nothing; else what it waits for.
    pub async fn bring_data(
        &self,
        cluster: &Cluster,
        via: &Node,
        tag: String,
        to: &[Node],
        from: &[Node],
    ) -> anyhow::Result<Option<String>> {
        let to: BTreeSet<String> = to.iter().map(|n| member(cluster, n)).collect();
        let from: Vec<String> = from.iter().map(|n| member(cluster, n)).collect();
        self.in_node(cluster, via, move |platform, sys| async move {
            jetstream_move::data_round(&platform, &sys, &tag, &to, &from).await
        })
        .await
    }

    /// Takes `members` out of JetStream's meta group, asked through node `via`;
    /// `maybe_unknown`: a member the group does not know (it never joined) counts as out.
    pub async fn retire(
        &self,
        cluster: &Cluster,
        via: &Node,
        members: &[Node],
        maybe_unknown: bool,
    ) -> anyhow::Result<()> {
        let members: Vec<String> = members.iter().map(|n| member(cluster, n)).collect();
        self.in_node(cluster, via, move |_, sys| async move {
            if maybe_unknown {
                jetstream_move::retire_members_if_joined(&sys, &members).await
            } else {
                jetstream_move::retire_members(&sys, &members).await
            }
        })
        .await
    }

    /// Runs `job` with two connections to node `via` (as a client, and as the system
    /// user) on a thread inside the node's namespace, with a small runtime of its own.
    async fn in_node<T, F, Fut>(&self, cluster: &Cluster, via: &Node, job: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(async_nats::Client, async_nats::Client) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = anyhow::Result<T>>,
    {
        let engine = isthmus_core::engines::find(&cluster.engine)
            .with_context(|| format!("engine {:?} is not in the catalog", cluster.engine))?;
        let port = catalog_ports(engine)
            .get("client")
            .copied()
            .with_context(|| format!("engine {} has no client port", cluster.engine))?;
        let url = format!("tls://{}:{port}", via.ip);
        let ca = self
            .cluster_dir(&cluster.id.to_string())
            .join(via.index.to_string())
            .join(CA_FILE);
        let password = self.system_password(cluster)?;
        let ns = self.local.node_namespace(cluster, via.index);
        netns::run_in_async(Some(&ns), move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("build the move's runtime")?
                .block_on(async move {
                    let platform = connect(&url, &ca, None).await?;
                    let sys = connect(&url, &ca, Some(&password)).await?;
                    job(platform, sys).await
                })
        })
        .await
        .with_context(|| format!("through node {} ({})", via.index, via.ip))
    }
}
