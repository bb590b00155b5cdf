//! Peerings: wait for the network; request at the provider (`ensure`) when the spec is
//! new or changed or the last attempt errored, otherwise only observe; follow the cloud's
//! handshake into `pending_acceptance`/`pending_peer` → `active`, or into a failure state
//! that is only observed until the spec changes (or a refresh). `deleting` → delete at
//! the provider → `deleted`.

use isthmus_core::conditions::ConditionStatus;
use isthmus_core::resources::{Network, Peering};
use isthmus_core::state::{NetworkStatus, PeeringStatus};
use isthmus_driver::{PeeringState, Teardown};
use isthmus_store::{Kind, Resource, ResourceKey};

use super::reconcile::{
    condition, driver_of, reconciled, require_driver, save_if_changed, Action, Ctx, ReconcileError,
    Result,
};

pub(crate) async fn reconcile(ctx: &Ctx, p: Peering) -> Result<Action> {
    if p.status == PeeringStatus::Deleted {
        return Ok(Action::Done);
    }
    let net = network_of(ctx, &p).await?;
    if p.status == PeeringStatus::Deleting {
        return delete(ctx, &net, p).await;
    }
    if net.status != NetworkStatus::Active {
        let mut next = p.clone();
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
        save_if_changed(ctx, &Resource::Peering(p), Resource::Peering(next)).await?;
        return Ok(Action::RequeueAfter(ctx.config.poll_interval));
    }
    converge(ctx, &net, p).await
}

async fn network_of(ctx: &Ctx, p: &Peering) -> Result<Network> {
    let key = ResourceKey {
        kind: Kind::Network,
        id: p.network_id.0,
    };
    match ctx
        .store
        .load(key)
        .await
        .map_err(ReconcileError::store(format!(
            "load network of peering {}",
            p.id
        )))? {
        Some(Resource::Network(n)) => Ok(n),
        _ => Err(ReconcileError::Store {
            context: format!("load network of peering {}", p.id),
            source: isthmus_core::CoreError::not_found("network", p.network_id).into(),
        }),
    }
}

fn is_failure(s: PeeringStatus) -> bool {
    matches!(
        s,
        PeeringStatus::InvalidSpecification
            | PeeringStatus::RejectedByPeer
            | PeeringStatus::DeletedByPeer
    )
}

async fn converge(ctx: &Ctx, net: &Network, p: Peering) -> Result<Action> {
    let driver = require_driver(ctx, net.provider)?;
    let spec_changed = p.generation > p.observed_generation;
    if spec_changed && is_failure(p.status) {
        // A new spec earns a fresh request; the state machine goes back through
        // provisioning, and the next step makes the request.
        return restart(ctx, p, "requesting the peering again for the changed spec").await;
    }
    let needs_ensure =
        spec_changed || matches!(p.status, PeeringStatus::Provisioning | PeeringStatus::Error);
    let what = format!("peering {}", p.id);
    let seen = if needs_ensure {
        driver
            .ensure_peering(net, &p)
            .await
            .map_err(ReconcileError::driver(format!("ensure {what}")))?
    } else {
        driver
            .observe_peering(net, &p)
            .await
            .map_err(ReconcileError::driver(format!("observe {what}")))?
    };
    let lost = matches!(
        seen.state,
        PeeringState::Missing | PeeringState::NeedsRepair
    );
    if lost && !needs_ensure {
        if is_failure(p.status) {
            // Nothing left to observe, and nothing to do until the spec changes.
            return Ok(Action::Done);
        }
        return restart(ctx, p, &format!("repairing: {}", seen.message)).await;
    }

    let target = match seen.state {
        PeeringState::Requested | PeeringState::Missing | PeeringState::NeedsRepair => {
            PeeringStatus::Provisioning
        }
        PeeringState::PendingAcceptance => PeeringStatus::PendingAcceptance,
        PeeringState::PendingPeer => PeeringStatus::PendingPeer,
        PeeringState::Active => PeeringStatus::Active,
        PeeringState::Invalid => PeeringStatus::InvalidSpecification,
        PeeringState::RejectedByPeer => PeeringStatus::RejectedByPeer,
        PeeringState::DeletedByPeer => PeeringStatus::DeletedByPeer,
    };
    let mut next = p.clone();
    next.status = p
        .status
        .transition(target)
        .map_err(ReconcileError::Illegal)?;
    next.status_message = seen.message.clone();
    if seen.provider_peering_id.is_some() {
        next.provider_peering_id = seen.provider_peering_id;
    }
    next.observed_generation = p.generation;
    let (ready, reason) = readiness(target);
    condition(&mut next.conditions, "Ready", ready, reason, seen.message);
    reconciled(&mut next.conditions);
    save_if_changed(ctx, &Resource::Peering(p), Resource::Peering(next)).await?;

    Ok(match target {
        PeeringStatus::PendingAcceptance | PeeringStatus::PendingPeer => {
            Action::RequeueAfter(ctx.config.pending_interval)
        }
        PeeringStatus::Provisioning => Action::RequeueAfter(ctx.config.poll_interval),
        _ => Action::Done,
    })
}

/// The `Ready` condition for a status: only `active` is ready; the reason says what it
/// waits for or why it failed.
fn readiness(s: PeeringStatus) -> (ConditionStatus, &'static str) {
    match s {
        PeeringStatus::Active => (ConditionStatus::True, "Active"),
        PeeringStatus::PendingAcceptance => (ConditionStatus::False, "AwaitingAcceptance"),
        PeeringStatus::PendingPeer => (ConditionStatus::False, "AwaitingPeer"),
        PeeringStatus::InvalidSpecification => (ConditionStatus::False, "InvalidSpecification"),
        PeeringStatus::RejectedByPeer => (ConditionStatus::False, "RejectedByPeer"),
        PeeringStatus::DeletedByPeer => (ConditionStatus::False, "DeletedByPeer"),
        _ => (ConditionStatus::False, "Requested"),
    }
}

/// Moves back to `provisioning` (so the next step requests again) and looks again now.
async fn restart(ctx: &Ctx, p: Peering, why: &str) -> Result<Action> {
    let mut next = p.clone();
    next.status = p
        .status
        .transition(PeeringStatus::Provisioning)
        .map_err(ReconcileError::Illegal)?;
    next.status_message = why.to_string();
    condition(
        &mut next.conditions,
        "Ready",
        ConditionStatus::False,
        "Requested",
        why,
    );
    save_if_changed(ctx, &Resource::Peering(p), Resource::Peering(next)).await?;
    Ok(Action::RequeueAfter(std::time::Duration::ZERO))
}

async fn delete(ctx: &Ctx, net: &Network, p: Peering) -> Result<Action> {
    let teardown = match driver_of(ctx, net.provider) {
        Some(driver) => driver
            .delete_peering(net, &p)
            .await
            .map_err(ReconcileError::driver(format!("delete peering {}", p.id)))?,
        None => Teardown::Done,
    };
    let mut next = p.clone();
    if teardown == Teardown::InProgress {
        next.status_message = "the provider is deleting the peering connection".into();
        save_if_changed(ctx, &Resource::Peering(p), Resource::Peering(next)).await?;
        return Ok(Action::RequeueAfter(ctx.config.poll_interval));
    }
    next.status = p
        .status
        .transition(PeeringStatus::Deleted)
        .map_err(ReconcileError::Illegal)?;
    next.status_message = "deleted at the provider".into();
    next.observed_generation = p.generation;
    condition(
        &mut next.conditions,
        "Ready",
        ConditionStatus::False,
        "Deleted",
        "",
    );
    reconciled(&mut next.conditions);
    save_if_changed(ctx, &Resource::Peering(p), Resource::Peering(next)).await?;
    if net.status == NetworkStatus::Deleting {
        // The network's finalizer waits for its peerings: tell it now.
        ctx.wake(Kind::Network, net.id.0);
    }
    Ok(Action::Done)
}
