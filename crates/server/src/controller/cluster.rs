//! Clusters (their network must be active first: the runner waits for it): ensure the
//! nodes and follow them to `running`; re-observe a running cluster and replace nodes that
//! vanished (`updating`). Deleting a cluster deletes its nodes.
//!
//! On the `local` provider the server also runs each node's engine (see `crate::nodes`):
//! a node whose namespace is up counts as running only once its engine is ready, and the
//! engines stop (and their certificates go) before the namespaces are deleted.

use async_trait::async_trait;
use isthmus_core::conditions::ConditionStatus;
use isthmus_core::resources::{Cluster, Network, Provider};
use isthmus_core::state::{ClusterStatus, NodeStatus};
use isthmus_driver::{DriverError, NodeObservation, NodeState, Teardown};

use super::context::{condition, reconciled, Action, Context, ReconcileError, Result};
use super::runner::{save, Cleanup, Reconcile};

#[async_trait]
impl Reconcile for Cluster {
    type Owner = Network;
    const READY: ClusterStatus = ClusterStatus::Running;

    async fn apply(ctx: &Context, c: &Cluster, net: &Network) -> Result<(Cluster, Action)> {
        if super::cluster_move::is_moving(c) {
            return super::cluster_move::step(ctx, c, net).await;
        }
        let provisioner = ctx.provisioner::<Cluster>(net.provider)?;
        let what = format!("nodes of cluster {}", c.id);
        let needs_ensure =
            c.status != ClusterStatus::Running || c.generation > c.observed_generation;
        let mut seen = if needs_ensure {
            provisioner.ensure(c, net).await
        } else {
            provisioner.observe(c, net).await
        }
        .map_err(ReconcileError::driver(format!("ensure {what}")))?;
        if !needs_ensure && seen.iter().any(|n| n.state != NodeState::Running) {
            // Drift: a node stopped or vanished. Ensure replaces what is missing.
            seen = provisioner
                .ensure(c, net)
                .await
                .map_err(ReconcileError::driver(format!("repair {what}")))?;
        }
        let engines_started = std::time::Instant::now();
        run_engines(ctx, net, c, &mut seen).await?;
        tracing::debug!(cluster = %c.id, needs_ensure,
            engines_ms = engines_started.elapsed().as_secs_f64() * 1e3, "engines checked");

        let mut next = c.clone();
        for node in &mut next.nodes {
            let state = seen
                .iter()
                .find(|o| o.index == node.index)
                .map_or(NodeState::Missing, |o| o.state);
            node.status = node
                .status
                .transition(node_status(state))
                .map_err(ReconcileError::Illegal)?;
        }
        let target = cluster_status(c.status, &next);
        next.status = c
            .status
            .transition(target)
            .map_err(ReconcileError::Illegal)?;
        next.status_message = summary(&seen);
        next.observed_generation = c.generation;
        let (status, reason, message) = if target == ClusterStatus::Running {
            (ConditionStatus::True, "NodesRunning", String::new())
        } else {
            (
                ConditionStatus::False,
                "NodesStarting",
                next.status_message.clone(),
            )
        };
        condition(&mut next.conditions, "Ready", status, reason, message);
        reconciled(&mut next.conditions);
        let action = match target {
            ClusterStatus::Running => Action::Done,
            _ => Action::RequeueAfter(ctx.config.poll_interval),
        };
        Ok((next, action))
    }

    async fn cleanup(ctx: &Context, c: &Cluster, net: &Network) -> Result<Cleanup<Cluster>> {
        if let Some(engines) = engines(ctx, net) {
            engines.stop(c).await.map_err(engine_error(c))?;
        }
        // A cluster deleted mid-move has nodes on the move's other side too.
        super::cluster_move::delete_move_nodes(ctx, c).await?;
        let teardown = match ctx.provisioners.find::<Cluster>(net.provider) {
            Some(provisioner) => {
                provisioner
                    .delete(c, net)
                    .await
                    .map_err(ReconcileError::driver(format!(
                        "delete nodes of cluster {}",
                        c.id
                    )))?
            }
            None => Teardown::Done,
        };
        let mut next = c.clone();
        // Nodes go down through `deleting`, as their state machine says; the store moves
        // each node by its machine, so `deleting` is saved before `deleted`.
        for node in &mut next.nodes {
            if node.status != NodeStatus::Deleted {
                node.status = node
                    .status
                    .transition(NodeStatus::Deleting)
                    .map_err(ReconcileError::Illegal)?;
            }
        }
        if teardown == Teardown::InProgress {
            next.status_message = "the provider is deleting the nodes".into();
            return Ok(Cleanup::InProgress(next));
        }
        next.status_message = "deleting the nodes".into();
        let mut stored = save(ctx, c, next).await?;
        for node in &mut stored.nodes {
            node.status = node
                .status
                .transition(NodeStatus::Deleted)
                .map_err(ReconcileError::Illegal)?;
        }
        stored.status_message = "nodes deleted at the provider".into();
        Ok(Cleanup::Gone(stored))
    }
}

/// The supervisor of local node engines, when this cluster's nodes are ours to run.
fn engines<'a>(ctx: &'a Context, net: &Network) -> Option<&'a crate::nodes::NodeSupervisor> {
    ctx.nodes
        .as_deref()
        .filter(|_| net.provider == Provider::Local)
}

pub(super) fn engine_error(cluster: &Cluster) -> impl FnOnce(anyhow::Error) -> ReconcileError {
    let context = format!("engines of cluster {}", cluster.id);
    move |e| ReconcileError::Driver {
        context,
        source: DriverError::Transient(format!("{e:#}")),
    }
}

/// Starts (or restarts, or reloads) the engine of every node whose namespace is up; a node
/// whose engine is not ready yet is reported as starting, with the reason.
async fn run_engines(
    ctx: &Context,
    net: &Network,
    c: &Cluster,
    seen: &mut [NodeObservation],
) -> Result<()> {
    let Some(engines) = engines(ctx, net) else {
        return Ok(());
    };
    let up: Vec<u32> = seen
        .iter()
        .filter(|o| o.state == NodeState::Running)
        .map(|o| o.index)
        .collect();
    let health = engines.ensure(c, &up).await.map_err(engine_error(c))?;
    for h in health.into_iter().filter(|h| !h.ready) {
        if let Some(o) = seen.iter_mut().find(|o| o.index == h.index) {
            o.state = NodeState::Starting;
            o.message = h.detail;
        }
    }
    Ok(())
}

fn node_status(state: NodeState) -> NodeStatus {
    match state {
        NodeState::Running => NodeStatus::Running,
        NodeState::Failed => NodeStatus::Error,
        NodeState::Starting | NodeState::Missing => NodeStatus::Provisioning,
    }
}

/// Running when every node runs; error when one failed; otherwise still starting, which
/// for a cluster that was already up is an update.
fn cluster_status(current: ClusterStatus, next: &Cluster) -> ClusterStatus {
    if next.nodes.iter().all(|n| n.status == NodeStatus::Running) {
        ClusterStatus::Running
    } else if next.nodes.iter().any(|n| n.status == NodeStatus::Error) {
        ClusterStatus::Error
    } else if matches!(current, ClusterStatus::Running | ClusterStatus::Updating) {
        ClusterStatus::Updating
    } else {
        ClusterStatus::Provisioning
    }
}

fn summary(seen: &[NodeObservation]) -> String {
    let running = seen
        .iter()
        .filter(|n| n.state == NodeState::Running)
        .count();
    let waiting = seen
        .iter()
        .find(|n| n.state != NodeState::Running && !n.message.is_empty());
    match waiting {
        Some(n) => format!(
            "{running} of {} nodes running; node {}: {}",
            seen.len(),
            n.index,
            n.message
        ),
        None => format!("{running} of {} nodes running", seen.len()),
    }
}
