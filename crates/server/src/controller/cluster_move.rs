//! A cluster moving to another network, one phase per step (see
//! `isthmus_core::kinds::cluster_move`): create the new nodes in the target network, bring
//! the data to them, switch the cluster (its network, and the nodes its DNS names point
//! at), let the old nodes serve for the drain period, then delete them. Before the switch
//! a cancel deletes the new nodes instead. Every step is one idempotent save, so a
//! restart anywhere carries on from the phase the store holds.

use std::time::Duration;

use chrono::Utc;
use isthmus_core::conditions::ConditionStatus;
use isthmus_core::kinds::cluster_move::{MovePhase, NetworkMove};
use isthmus_core::object::Object;
use isthmus_core::resources::{Cluster, Network, Node};
use isthmus_core::state::{ClusterStatus, NetworkStatus, NodeStatus};
use isthmus_core::NetworkId;
use isthmus_driver::NodeState;
use isthmus_store::api::Api;

use super::cluster_move_local::{engines_for, unlink_abandoned, LocalMove};
use super::context::{condition, reconciled, Action, Context, ReconcileError, Result};

/// Whether `c` has a move for the controller to carry forward.
pub(super) fn is_moving(c: &Cluster) -> bool {
    c.network_move.as_ref().is_some_and(|m| m.phase.is_active())
}

/// One step of `c`'s move; `net` is the network the cluster is in now (the source until
/// the switch, the target after it).
pub(super) async fn step(ctx: &Context, c: &Cluster, net: &Network) -> Result<(Cluster, Action)> {
    let Some(m) = c.network_move.clone() else {
        return Ok((c.clone(), Action::Done));
    };
    let mut next = c.clone();
    next.status = c
        .status
        .transition(ClusterStatus::Moving)
        .map_err(ReconcileError::Illegal)?;
    next.observed_generation = c.generation;
    if c.status != ClusterStatus::Moving && m.phase != MovePhase::Cancelling {
        // The cluster shows `moving` first, as a step of its own (audited as a status
        // change); the work starts at once after it.
        return save_step(
            ctx,
            c,
            finish_step(next, m),
            Action::RequeueAfter(Duration::ZERO),
        )
        .await;
    }
    let poll = Action::RequeueAfter(ctx.config.poll_interval);
    let mut moving = m.clone();
    let action = match m.phase {
        MovePhase::ProvisioningNodes => {
            let target = network(ctx, m.target_network_id).await?;
            if target.status != NetworkStatus::Active {
                moving.message = format!("waiting for network {} to be active", target.id);
            } else {
                let up: Vec<u32> = match local(ctx, c, &m, net, &target) {
                    Some(l) => l.provision().await?,
                    None => ctx
                        .provisioner::<Cluster>(target.provider)?
                        .ensure(&placed(c, &m.nodes), &target)
                        .await
                        .map_err(ReconcileError::driver(format!(
                            "create the new nodes of cluster {} in network {}",
                            c.id, target.id
                        )))?
                        .iter()
                        .filter(|o| o.state == NodeState::Running)
                        .map(|o| o.index)
                        .collect(),
                };
                let mut running = 0;
                for node in &mut moving.nodes {
                    if up.contains(&node.index) {
                        node.status = NodeStatus::Running;
                        running += 1;
                    }
                }
                moving.message = format!(
                    "{running} of {} new nodes running in network {}",
                    moving.nodes.len(),
                    target.id
                );
                if running == moving.nodes.len() {
                    moving.phase = MovePhase::CatchingUp;
                    moving.message = "the new nodes run; bringing the data to them".into();
                }
            }
            poll
        }
        MovePhase::CatchingUp => {
            let target = network(ctx, m.target_network_id).await?;
            match local(ctx, c, &m, net, &target) {
                // The simulated clouds' nodes hold no data: nothing to copy.
                None => switch(&mut next, &mut moving),
                Some(l) => match l.catch_up().await? {
                    Some(waiting) => moving.message = format!("bringing the data: {waiting}"),
                    None => {
                        l.move_endpoint().await?;
                        switch(&mut next, &mut moving);
                    }
                },
            }
            poll
        }
        MovePhase::NamesSwitched => {
            let source = network(ctx, m.source_network_id).await?;
            if let Some(l) = local(ctx, c, &m, &source, net) {
                if let Some(waiting) = l.retire_old().await? {
                    moving.message = format!("retiring the old members: {waiting}");
                    return save_step(ctx, c, finish_step(next, moving), poll).await;
                }
            }
            let until = drain_until(&moving);
            moving.phase = MovePhase::Draining;
            moving.message =
                format!("the names point at the new nodes; the old nodes serve until {until}");
            poll
        }
        MovePhase::Draining => {
            let until = drain_until(&moving);
            let now = Utc::now();
            if now < until {
                let left = (until - now).to_std().unwrap_or_default();
                let action = Action::RequeueAfter(left.min(ctx.config.poll_interval.max(left / 4)));
                return save_step(ctx, c, finish_step(next, moving), action).await;
            }
            let source = network(ctx, m.source_network_id).await?;
            match local(ctx, c, &m, &source, net) {
                Some(l) => l.finish().await?,
                None => delete_nodes(ctx, c, &source, &m.nodes, "old").await?,
            }
            moving.phase = MovePhase::Done;
            moving.nodes.clear();
            moving.finished_at = Some(now);
            moving.message = format!("moved to network {}", m.target_network_id);
            next.status = ClusterStatus::Running;
            Action::Done
        }
        MovePhase::Cancelling => {
            let target = network(ctx, m.target_network_id).await?;
            match local(ctx, c, &m, net, &target) {
                Some(l) => {
                    if let Some(waiting) = l.cancel().await? {
                        moving.message = format!("cancelling: {waiting}");
                        return save_step(ctx, c, finish_step(next, moving), poll).await;
                    }
                }
                None => delete_nodes(ctx, c, &target, &m.nodes, "new").await?,
            }
            moving.phase = MovePhase::Cancelled;
            moving.nodes.clear();
            moving.finished_at = Some(Utc::now());
            moving.message = format!("cancelled; the cluster stays in network {}", net.id);
            next.status = ClusterStatus::Running;
            Action::Done
        }
        MovePhase::Done | MovePhase::Cancelled => Action::Done,
    };
    save_step(ctx, c, finish_step(next, moving), action).await
}

/// Saves the step itself (audited per phase, see `isthmus_store::save_cluster_move_step`)
/// and hands the runner `c` unchanged, so it saves nothing more. When the cluster is
/// running again, what it owns (and waited for it) goes on now.
async fn save_step(
    ctx: &Context,
    c: &Cluster,
    next: Cluster,
    action: Action,
) -> Result<(Cluster, Action)> {
    if next == *c {
        return Ok((c.clone(), action));
    }
    let context = format!("save the move of cluster {}", c.id);
    let saved = isthmus_store::save_cluster_move_step(
        ctx.store.docs(),
        &isthmus_store::Actor::controller(),
        c,
        next,
    )
    .await
    .map_err(ReconcileError::store(context.clone()))?;
    if saved.status == ClusterStatus::Running {
        let children = super::objects::children_of(&*ctx.store, c.id.0)
            .await
            .map_err(ReconcileError::store(context))?;
        for key in children {
            ctx.wake(key);
        }
    }
    Ok((c.clone(), action))
}

/// The switch: the cluster joins the target network and its nodes become the new ones
/// (each keeps the DNS name of the node it replaces); the old ones wait out the drain.
fn switch(next: &mut Cluster, moving: &mut NetworkMove) {
    let old = std::mem::replace(&mut next.nodes, moving.nodes.clone());
    next.network_id = moving.target_network_id;
    moving.nodes = old;
    moving.phase = MovePhase::NamesSwitched;
    moving.switched_at = Some(Utc::now());
    moving.message = "the data is on the new nodes; the names point at them".into();
}

fn drain_until(m: &NetworkMove) -> chrono::DateTime<Utc> {
    m.switched_at.unwrap_or(m.started_at) + chrono::Duration::seconds(i64::from(m.drain_seconds))
}

/// Stores the step's move on `next`, with the status message and the `Moving` condition
/// that say where it stands.
fn finish_step(mut next: Cluster, moving: NetworkMove) -> Cluster {
    let active = moving.phase.is_active();
    next.status_message = if active {
        format!("moving ({}): {}", moving.phase.as_str(), moving.message)
    } else {
        moving.message.clone()
    };
    let (status, reason) = if active {
        (ConditionStatus::True, phase_reason(moving.phase))
    } else {
        (ConditionStatus::False, phase_reason(moving.phase))
    };
    condition(
        &mut next.conditions,
        "Moving",
        status,
        reason,
        moving.message.clone(),
    );
    reconciled(&mut next.conditions);
    next.network_move = Some(moving);
    next
}

fn phase_reason(phase: MovePhase) -> &'static str {
    match phase {
        MovePhase::ProvisioningNodes => "ProvisioningNodes",
        MovePhase::CatchingUp => "CatchingUp",
        MovePhase::NamesSwitched => "NamesSwitched",
        MovePhase::Draining => "Draining",
        MovePhase::Done => "Moved",
        MovePhase::Cancelling => "Cancelling",
        MovePhase::Cancelled => "Cancelled",
    }
}

/// Deletes the nodes an unfinished move holds on its other side (the new ones before the
/// switch, the old ones after it): a cluster deleted mid-move leaves none behind.
pub(super) async fn delete_move_nodes(ctx: &Context, c: &Cluster) -> Result<()> {
    let Some(m) = c.network_move.as_ref().filter(|m| m.phase.is_active()) else {
        return Ok(());
    };
    if m.nodes.is_empty() {
        return Ok(());
    }
    let other = if m.phase.is_switched() {
        m.source_network_id
    } else {
        m.target_network_id
    };
    unlink_abandoned(ctx, c, m).await?;
    match network(ctx, other).await {
        Ok(n) => delete_nodes(ctx, c, &n, &m.nodes, "moving").await,
        // The network went first: its provider removed what it held.
        Err(ReconcileError::Driver { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The move of `c` on `local`, whose nodes run engines (`None` elsewhere).
fn local<'a>(
    ctx: &'a Context,
    c: &'a Cluster,
    m: &'a NetworkMove,
    source: &Network,
    target: &Network,
) -> Option<LocalMove<'a>> {
    let engines = engines_for(ctx, target)?;
    Some(LocalMove::new(
        ctx,
        engines,
        c,
        m,
        source.clone(),
        target.clone(),
    ))
}

/// `c` as the provider sees one side of the move: the same cluster with `nodes`.
fn placed(c: &Cluster, nodes: &[Node]) -> Cluster {
    let mut view = c.clone();
    view.nodes = nodes.to_vec();
    view
}

pub(super) async fn delete_nodes(
    ctx: &Context,
    c: &Cluster,
    network: &Network,
    nodes: &[Node],
    which: &str,
) -> Result<()> {
    let context = format!(
        "delete the {which} nodes of cluster {} in network {}",
        c.id, network.id
    );
    ctx.provisioner::<Cluster>(network.provider)?
        .delete(&placed(c, nodes), network)
        .await
        .map_err(ReconcileError::driver(context))?;
    Ok(())
}

async fn network(ctx: &Context, id: NetworkId) -> Result<Network> {
    let context = format!("read network {id} of a cluster move");
    match Api::<Network>::new(ctx.store.docs()).load(id.0).await {
        Ok(Some(n)) if n.status().is_live() => Ok(n),
        Ok(_) => Err(ReconcileError::Driver {
            context,
            source: isthmus_driver::DriverError::NotFound(format!("network {id} is gone")),
        }),
        Err(e) => Err(ReconcileError::store(context)(e)),
    }
}
