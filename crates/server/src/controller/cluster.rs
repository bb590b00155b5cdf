//! Clusters: wait (no error) while the network is still provisioning; then ensure the
//! nodes and follow them to `running`; re-observe a running cluster and replace nodes that
//! vanished (`updating`). `deleting` → delete the nodes → `deleted`.
//!
//! On the `local` provider the server also runs each node's engine (see `crate::nodes`):
//! a node whose namespace is up counts as running only once its engine is ready, and the
//! engines stop (and their certificates go) before the namespaces are deleted.

use isthmus_core::conditions::ConditionStatus;
use isthmus_core::resources::{Cluster, Network, Provider};
use isthmus_core::state::{ClusterStatus, NetworkStatus, NodeStatus};
use isthmus_driver::{DriverError, NodeObservation, NodeState, Teardown};
use isthmus_store::{Kind, Resource, ResourceKey};

use super::reconcile::{
    condition, driver_of, reconciled, require_driver, save_if_changed, Action, Ctx, ReconcileError,
    Result,
};

pub(crate) async fn reconcile(ctx: &Ctx, c: Cluster) -> Result<Action> {
    if c.status == ClusterStatus::Deleted {
        return Ok(Action::Done);
    }
    let net = network_of(ctx, &c).await?;
    if c.status == ClusterStatus::Deleting {
        return delete(ctx, &net, c).await;
    }
    if net.status != NetworkStatus::Active {
        let mut next = c.clone();
        next.status_message = format!(
            "waiting for network {} to become active (it is {})",
            net.id, net.status
        );
        condition(
            &mut next.conditions,
            "Ready",
            ConditionStatus::False,
            "WaitingForNetwork",
            next.status_message.clone(),
        );
        reconciled(&mut next.conditions);
        save_if_changed(ctx, &Resource::Cluster(c), Resource::Cluster(next)).await?;
        return Ok(Action::RequeueAfter(ctx.config.poll_interval));
    }
    converge(ctx, &net, c).await
}

async fn network_of(ctx: &Ctx, c: &Cluster) -> Result<Network> {
    let key = ResourceKey {
        kind: Kind::Network,
        id: c.network_id.0,
    };
    let context = format!("load network of cluster {}", c.id);
    match ctx
        .store
        .load(key)
        .await
        .map_err(ReconcileError::store(context.clone()))?
    {
        Some(Resource::Network(n)) => Ok(n),
        _ => Err(ReconcileError::Store {
            context,
            source: isthmus_core::CoreError::not_found("network", c.network_id).into(),
        }),
    }
}

async fn converge(ctx: &Ctx, net: &Network, c: Cluster) -> Result<Action> {
    let driver = require_driver(ctx, net.provider)?;
    let what = format!("nodes of cluster {}", c.id);
    let needs_ensure = c.status != ClusterStatus::Running || c.generation > c.observed_generation;
    let mut seen = if needs_ensure {
        driver.ensure_nodes(net, &c).await
    } else {
        driver.observe_nodes(net, &c).await
    }
    .map_err(ReconcileError::driver(format!("ensure {what}")))?;
    if !needs_ensure && seen.iter().any(|n| n.state != NodeState::Running) {
        // Drift: a node stopped or vanished. Ensure replaces what is missing.
        seen = driver
            .ensure_nodes(net, &c)
            .await
            .map_err(ReconcileError::driver(format!("repair {what}")))?;
    }
    run_engines(ctx, net, &c, &mut seen).await?;

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
    if target == ClusterStatus::Running {
        condition(
            &mut next.conditions,
            "Ready",
            ConditionStatus::True,
            "NodesRunning",
            "",
        );
    } else {
        condition(
            &mut next.conditions,
            "Ready",
            ConditionStatus::False,
            "NodesStarting",
            next.status_message.clone(),
        );
    }
    reconciled(&mut next.conditions);
    save_if_changed(ctx, &Resource::Cluster(c), Resource::Cluster(next)).await?;
    Ok(match target {
        ClusterStatus::Running => Action::Done,
        _ => Action::RequeueAfter(ctx.config.poll_interval),
    })
}

/// The supervisor of local node engines, when this cluster's nodes are ours to run.
fn engines<'a>(ctx: &'a Ctx, net: &Network) -> Option<&'a crate::nodes::NodeSupervisor> {
    ctx.nodes
        .as_deref()
        .filter(|_| net.provider == Provider::Local)
}

fn engine_error(cluster: &Cluster) -> impl FnOnce(anyhow::Error) -> ReconcileError {
    let context = format!("engines of cluster {}", cluster.id);
    move |e| ReconcileError::Driver {
        context,
        source: DriverError::Transient(format!("{e:#}")),
    }
}

/// Starts (or restarts, or reloads) the engine of every node whose namespace is up; a node
/// whose engine is not ready yet is reported as starting, with the reason.
async fn run_engines(
    ctx: &Ctx,
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

async fn delete(ctx: &Ctx, net: &Network, c: Cluster) -> Result<Action> {
    if let Some(engines) = engines(ctx, net) {
        engines.stop(&c).await.map_err(engine_error(&c))?;
    }
    let teardown = match driver_of(ctx, net.provider) {
        Some(driver) => driver
            .delete_nodes(net, &c)
            .await
            .map_err(ReconcileError::driver(format!(
                "delete nodes of cluster {}",
                c.id
            )))?,
        None => Teardown::Done,
    };
    let before = Resource::Cluster(c.clone());
    let mut next = c.clone();
    // Nodes go down through `deleting`, as their state machine says.
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
        save_if_changed(ctx, &before, Resource::Cluster(next)).await?;
        return Ok(Action::RequeueAfter(ctx.config.poll_interval));
    }
    next.status_message = "deleting the nodes".into();
    let saved = save_if_changed(ctx, &before, Resource::Cluster(next)).await?;
    let Resource::Cluster(stored) = saved else {
        unreachable!("saving a cluster returns a cluster")
    };
    let mut done = stored.clone();
    for node in &mut done.nodes {
        node.status = node
            .status
            .transition(NodeStatus::Deleted)
            .map_err(ReconcileError::Illegal)?;
    }
    done.status = stored
        .status
        .transition(ClusterStatus::Deleted)
        .map_err(ReconcileError::Illegal)?;
    done.status_message = "nodes deleted at the provider".into();
    done.observed_generation = stored.generation;
    condition(
        &mut done.conditions,
        "Ready",
        ConditionStatus::False,
        "Deleted",
        "",
    );
    reconciled(&mut done.conditions);
    save_if_changed(ctx, &Resource::Cluster(stored), Resource::Cluster(done)).await?;
    if net.status == NetworkStatus::Deleting {
        ctx.wake(Kind::Network, net.id.0);
    }
    Ok(Action::Done)
}
