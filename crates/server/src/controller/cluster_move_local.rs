//! A cluster's move on the `local` provider, where the nodes run engines that hold data
//! (issue 19; see docs/cluster-move.md). Both sides run as one engine cluster until the
//! old nodes go:
//! - provisioning: the new nodes' namespaces in the target (public endpoint off), the
//!   move link between the two routers, each side's egress widened to the other side's
//!   nodes on the engine's cluster port, and the new engines started with the old nodes
//!   among their routes;
//! - catching up: JetStream places every stream on the target's members, until they hold
//!   it all and the old members hold nothing; then the public endpoint moves (off in the
//!   source, on in the target) and the names switch;
//! - after the switch: the old members leave JetStream's meta group; at the end of the
//!   drain only their engines stop, their namespaces and the link go, and the new side's
//!   egress narrows back to the cluster's own rules;
//! - a cancel before the switch brings the data back to the old members first (if the new
//!   ones ever ran), retires the new members, then removes them and the link.

use isthmus_core::kinds::cluster_move::NetworkMove;
use isthmus_core::resources::{Cluster, EgressRule, Network, Node, Provider};
use isthmus_core::Cidr;
use isthmus_driver::NodeState;
use isthmus_store::api::Api;

use super::context::{Context, ReconcileError, Result};
use crate::nodes::jetstream_move::network_tag;
use crate::nodes::moving::replicates;
use crate::nodes::NodeSupervisor;

/// The move of `c` between two `local` networks, with the engines to run.
pub(super) struct LocalMove<'a> {
    ctx: &'a Context,
    engines: &'a NodeSupervisor,
    c: &'a Cluster,
    m: &'a NetworkMove,
    source: Network,
    target: Network,
}

/// The engine supervisor, when the move is `local`'s to carry with engines.
pub(super) fn engines_for<'a>(ctx: &'a Context, target: &Network) -> Option<&'a NodeSupervisor> {
    ctx.nodes
        .as_deref()
        .filter(|_| target.provider == Provider::Local)
}

impl<'a> LocalMove<'a> {
    pub(super) fn new(
        ctx: &'a Context,
        engines: &'a NodeSupervisor,
        c: &'a Cluster,
        m: &'a NetworkMove,
        source: Network,
        target: Network,
    ) -> LocalMove<'a> {
        LocalMove {
            ctx,
            engines,
            c,
            m,
            source,
            target,
        }
    }

    /// (old nodes, new nodes): the cluster's own before the switch, the move's after it.
    fn sides(&self) -> (Vec<Node>, Vec<Node>) {
        if self.m.phase.is_switched() {
            (self.m.nodes.clone(), self.c.nodes.clone())
        } else {
            (self.c.nodes.clone(), self.m.nodes.clone())
        }
    }

    /// The cluster as one side's provider sees it: its nodes there, its network, its
    /// public endpoint on or off, its egress widened to `peers` on the cluster port.
    fn view(&self, nodes: &[Node], network: &Network, public: bool, peers: &[Node]) -> Cluster {
        let mut view = self.c.clone();
        view.nodes = nodes.to_vec();
        view.network_id = network.id;
        view.public_access.enabled &= public;
        if let Some(port) = cluster_port(self.c) {
            view.egress_allowlist
                .extend(peers.iter().map(|n| EgressRule {
                    cidr: Cidr::containing(n.ip, 32),
                    ports: vec![port],
                    comment: format!("move of cluster {}", self.c.id),
                }));
        }
        view
    }

    async fn ensure(&self, view: &Cluster, network: &Network, what: &str) -> Result<Vec<u32>> {
        let seen = self
            .ctx
            .provisioner::<Cluster>(network.provider)?
            .ensure(view, network)
            .await
            .map_err(ReconcileError::driver(format!(
                "{what} of cluster {} in network {}",
                self.c.id, network.id
            )))?;
        Ok(seen
            .iter()
            .filter(|o| o.state == NodeState::Running)
            .map(|o| o.index)
            .collect())
    }

    async fn link(&self) -> Result<()> {
        let (old, new) = self.sides();
        let ips = |nodes: &[Node]| nodes.iter().map(|n| n.ip).collect::<Vec<_>>();
        self.engines
            .local()
            .ensure_move_link(
                &self.source,
                &self.target,
                &self.c.id.to_string(),
                &ips(&old),
                &ips(&new),
            )
            .await
            .map_err(ReconcileError::driver(format!(
                "link the networks of the move of cluster {}",
                self.c.id
            )))
    }

    /// Makes the new nodes and their engines, joined to the old ones; the indices of the
    /// new nodes that run and are ready.
    pub(super) async fn provision(&self) -> Result<Vec<u32>> {
        let (old, new) = self.sides();
        self.ensure(
            &self.view(&old, &self.source, true, &new),
            &self.source,
            "widen the egress of the old nodes",
        )
        .await?;
        let up = self
            .ensure(
                &self.view(&new, &self.target, false, &old),
                &self.target,
                "create the new nodes",
            )
            .await?;
        self.link().await?;
        self.run_new(&up).await
    }

    /// (Re)starts the engines of the new nodes in `up`, one at a time in index order
    /// (each joins JetStream's meta group once the previous one is ready, as NATS
    /// recommends: three members started at once next to the old ones were seen, once in
    /// five runs, to leave the meta group without the streams); the ones ready.
    async fn run_new(&self, up: &[u32]) -> Result<Vec<u32>> {
        let (old, new) = self.sides();
        let side = self.view(&new, &self.target, false, &old);
        let mut ready = vec![];
        for node in &new {
            if !up.contains(&node.index) {
                break;
            }
            let health = self
                .engines
                .ensure_with_peers(&side, &[node.index], &old)
                .await
                .map_err(super::cluster::engine_error(self.c))?;
            if !health.iter().all(|h| h.ready) {
                break;
            }
            ready.push(node.index);
        }
        Ok(ready)
    }

    /// Restarts an old engine that is not running (engines die with the server: after a
    /// restart mid-move nobody else would start them, and the meta group needs them until
    /// they are retired). Their readiness is not waited for: a member's health check fails
    /// while streams move.
    async fn keep_old_running(&self) -> Result<()> {
        let (old, new) = self.sides();
        let side = self.view(&old, &self.source, false, &new);
        let indices: Vec<u32> = old.iter().map(|n| n.index).collect();
        if self.engines.running(self.c, &indices).await.len() == indices.len() {
            return Ok(());
        }
        self.engines
            .ensure_with_peers(&side, &indices, &new)
            .await
            .map_err(super::cluster::engine_error(self.c))?;
        Ok(())
    }

    /// One round of bringing the data to the new nodes: `None` once it is there (and the
    /// cluster may switch), else what it waits for.
    pub(super) async fn catch_up(&self) -> Result<Option<String>> {
        let (old, new) = self.sides();
        let indices: Vec<u32> = new.iter().map(|n| n.index).collect();
        self.keep_old_running().await?;
        let ready = self.run_new(&indices).await?;
        if ready.len() < new.len() {
            return Ok(Some(format!(
                "{} of {} new engines ready",
                ready.len(),
                new.len()
            )));
        }
        if !replicates(self.c) {
            return Ok(None);
        }
        let tag = network_tag(&self.target.id.to_string());
        let (tag, to, from) = (&tag, &new, &old);
        Ok(self
            .ask_through(&old, move |via| {
                self.engines.bring_data(self.c, via, tag.clone(), to, from)
            })
            .await)
    }

    /// The public endpoint moves with the names: off in the source router first, then
    /// on in the target's (the internet routes its address to the target's uplink).
    pub(super) async fn move_endpoint(&self) -> Result<()> {
        let (old, new) = self.sides();
        self.ensure(
            &self.view(&old, &self.source, false, &new),
            &self.source,
            "close the public endpoint of the old nodes",
        )
        .await?;
        self.ensure(
            &self.view(&new, &self.target, true, &old),
            &self.target,
            "open the public endpoint on the new nodes",
        )
        .await?;
        Ok(())
    }

    /// After the switch: the old members leave JetStream's meta group, so it keeps its
    /// quorum when they stop. `None` when done, else why not yet.
    pub(super) async fn retire_old(&self) -> Result<Option<String>> {
        let (old, new) = self.sides();
        if !replicates(self.c) {
            return Ok(None);
        }
        self.keep_old_running().await?;
        Ok(self.retire_through(&new, &old, false).await)
    }

    /// The end of the drain: only the old engines stop; their namespaces and the link go;
    /// the new side's egress narrows to the cluster's own rules.
    pub(super) async fn finish(&self) -> Result<()> {
        let (old, _) = self.sides();
        self.remove_side(&old, &self.source, "old", &self.target)
            .await
    }

    /// Stops the engines of `nodes` (one side of the move), deletes them from `network`,
    /// removes the link, and narrows the egress of the side that stays (in `stays`).
    async fn remove_side(
        &self,
        nodes: &[Node],
        network: &Network,
        which: &str,
        stays: &Network,
    ) -> Result<()> {
        let indices: Vec<u32> = nodes.iter().map(|n| n.index).collect();
        self.engines
            .stop_nodes(self.c, &indices)
            .await
            .map_err(super::cluster::engine_error(self.c))?;
        super::cluster_move::delete_nodes(self.ctx, self.c, network, nodes, which).await?;
        self.unlink().await?;
        self.ensure(self.c, stays, "narrow the egress of the nodes")
            .await?;
        Ok(())
    }

    /// Retires `members` from JetStream, asked through each of `via` in turn; `None` when
    /// done, else what it waits for. `unknown_ok`: a member JetStream never knew counts
    /// as retired (a cancel's new members may never have joined).
    async fn retire_through(
        &self,
        via: &[Node],
        members: &[Node],
        unknown_ok: bool,
    ) -> Option<String> {
        self.ask_through(via, move |node| async move {
            self.engines
                .retire(self.c, node, members, unknown_ok)
                .await
                .map(|()| None)
        })
        .await
    }

    /// A cancel before the switch: the data back on the old members (when the new ones
    /// ever ran), the new members retired, then the new nodes and the link removed and
    /// the old side's egress narrowed. `None` when done, else what it waits for.
    pub(super) async fn cancel(&self) -> Result<Option<String>> {
        let (old, new) = self.sides();
        let indices: Vec<u32> = new.iter().map(|n| n.index).collect();
        // The new engines that run may have joined JetStream (and hold replicas): the data
        // comes back and they leave the meta group before they stop, or the group loses
        // its quorum.
        let running = self.engines.running(self.c, &indices).await;
        let joined: Vec<Node> = new
            .iter()
            .filter(|n| running.contains(&n.index))
            .cloned()
            .collect();
        if !joined.is_empty() && replicates(self.c) {
            tracing::info!(cluster = %self.c.id, members = joined.len(),
                "cancelling a move: the data comes back to the old members, the new ones leave");
            let tag = network_tag(&self.source.id.to_string());
            let (tag, to, from) = (&tag, &old, &joined);
            let back = self
                .ask_through(&old, move |via| {
                    self.engines.bring_data(self.c, via, tag.clone(), to, from)
                })
                .await;
            if back.is_some() {
                return Ok(back.map(|w| format!("bringing the data back: {w}")));
            }
            if let Some(w) = self.retire_through(&old, from, true).await {
                return Ok(Some(format!("retiring the new members: {w}")));
            }
        }
        self.remove_side(&new, &self.target, "new", &self.source)
            .await?;
        Ok(None)
    }

    async fn unlink(&self) -> Result<()> {
        self.engines
            .local()
            .delete_move_link(&self.source, &self.target, &self.c.id.to_string())
            .await
            .map_err(ReconcileError::driver(format!(
                "remove the link of the move of cluster {}",
                self.c.id
            )))
    }

    /// Asks `step` through each of `nodes` in turn until one answers: its answer, or the
    /// last node's error as what the move waits for (the next round asks again).
    async fn ask_through<'n, F, Fut>(&self, nodes: &'n [Node], step: F) -> Option<String>
    where
        F: Fn(&'n Node) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<Option<String>>>,
    {
        let mut last = None;
        for via in nodes {
            match step(via).await {
                Ok(answer) => return answer,
                Err(e) => {
                    tracing::info!(cluster = %self.c.id, error = %format!("{e:#}"), "a move's step did not answer");
                    last = Some(format!("{e:#}"));
                }
            }
        }
        Some(last.unwrap_or_else(|| "no node to ask".into()))
    }
}

/// The engine's cluster port (the one members route over), if it has one.
fn cluster_port(c: &Cluster) -> Option<u16> {
    let engine = isthmus_core::engines::find(&c.engine)?;
    isthmus_connect::engines::catalog_ports(engine)
        .get("cluster")
        .copied()
}

/// The link of a cluster deleted mid-move (its namespaces go with the cluster's).
pub(super) async fn unlink_abandoned(ctx: &Context, c: &Cluster, m: &NetworkMove) -> Result<()> {
    let Some(engines) = ctx.nodes.as_deref() else {
        return Ok(());
    };
    let api = Api::<Network>::new(ctx.store.docs());
    let load = |id: isthmus_core::NetworkId| {
        let api = &api;
        async move { api.load(id.0).await.ok().flatten() }
    };
    let (Some(source), Some(target)) = (
        load(m.source_network_id).await,
        load(m.target_network_id).await,
    ) else {
        return Ok(());
    };
    if target.provider != Provider::Local {
        return Ok(());
    }
    engines
        .local()
        .delete_move_link(&source, &target, &c.id.to_string())
        .await
        .map_err(ReconcileError::driver(format!(
            "remove the link of the move of cluster {}",
            c.id
        )))
}
