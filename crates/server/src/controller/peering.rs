//! Peerings (their network must be active first: the runner waits for it): request at the
//! provider (`ensure`) when the spec is new or changed or the last attempt errored,
//! otherwise only observe; follow the cloud's handshake into
//! `pending_acceptance`/`pending_peer` → `active`, or into a failure the provider or the
//! customer decided, which is only observed until the spec changes (or a refresh).

use std::time::Duration;

use async_trait::async_trait;
use isthmus_core::conditions::ConditionStatus;
use isthmus_core::object::{Settled, StatusMachine};
use isthmus_core::resources::{Network, Peering};
use isthmus_core::state::PeeringStatus;
use isthmus_driver::{PeeringState, Teardown};

use super::context::{condition, reconciled, Action, Context, ReconcileError, Result};
use super::runner::{with_message, Cleanup, Reconcile};

/// Settled in a failure the provider or the customer decided (refused, rejected, deleted
/// their side): only a new request leaves it. Our own `error` is not one of them: the
/// next step simply ensures again.
fn refused(s: PeeringStatus) -> bool {
    s.phase() == Settled::Failed && s != PeeringStatus::ERROR
}

#[async_trait]
impl Reconcile for Peering {
    type Owner = Network;
    const READY: PeeringStatus = PeeringStatus::Active;

    async fn apply(ctx: &Context, p: &Peering, net: &Network) -> Result<(Peering, Action)> {
        let provisioner = ctx.provisioner::<Peering>(net.provider)?;
        let spec_changed = p.generation > p.observed_generation;
        if spec_changed && refused(p.status) {
            // A new spec earns a fresh request; the state machine goes back through
            // provisioning, and the next step makes the request.
            return restart(p, "requesting the peering again for the changed spec");
        }
        let needs_ensure =
            spec_changed || matches!(p.status, PeeringStatus::Provisioning | PeeringStatus::Error);
        let what = format!("peering {}", p.id);
        let seen = if needs_ensure {
            provisioner
                .ensure(p, net)
                .await
                .map_err(ReconcileError::driver(format!("ensure {what}")))?
        } else {
            provisioner
                .observe(p, net)
                .await
                .map_err(ReconcileError::driver(format!("observe {what}")))?
        };
        let lost = matches!(
            seen.state,
            PeeringState::Missing | PeeringState::NeedsRepair
        );
        if lost && !needs_ensure {
            if refused(p.status) {
                // Nothing left to observe, and nothing to do until the spec changes.
                return Ok((p.clone(), Action::Done));
            }
            return restart(p, &format!("repairing: {}", seen.message));
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
        let action = match target {
            PeeringStatus::PendingAcceptance | PeeringStatus::PendingPeer => {
                Action::RequeueAfter(ctx.config.pending_interval)
            }
            PeeringStatus::Provisioning => Action::RequeueAfter(ctx.config.poll_interval),
            _ => Action::Done,
        };
        Ok((next, action))
    }

    async fn cleanup(ctx: &Context, p: &Peering, net: &Network) -> Result<Cleanup<Peering>> {
        let teardown = match ctx.provisioners.find::<Peering>(net.provider) {
            Some(provisioner) => provisioner
                .delete(p, net)
                .await
                .map_err(ReconcileError::driver(format!("delete peering {}", p.id)))?,
            None => Teardown::Done,
        };
        Ok(match teardown {
            Teardown::InProgress => Cleanup::InProgress(with_message(
                p,
                "the provider is deleting the peering connection",
            )),
            Teardown::Done => Cleanup::Gone(with_message(p, "deleted at the provider")),
        })
    }
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
fn restart(p: &Peering, why: &str) -> Result<(Peering, Action)> {
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
    Ok((next, Action::RequeueAfter(Duration::ZERO)))
}
