//! Networks: `provisioning`/`error` → ensure at the provider → `active`; an active network
//! is re-observed and recreated if it vanished. Deleted at the provider once its peerings
//! and clusters are gone (the runner's finalizer waits for them).

use async_trait::async_trait;
use isthmus_core::conditions::ConditionStatus;
use isthmus_core::resources::Network;
use isthmus_core::state::NetworkStatus;
use isthmus_driver::{NetworkState, Teardown};

use super::context::{condition, reconciled, Action, Context, ReconcileError, Result};
use super::runner::{with_message, Cleanup, Reconcile};

#[async_trait]
impl Reconcile for Network {
    type Owner = ();
    const READY: NetworkStatus = NetworkStatus::Active;

    async fn apply(ctx: &Context, net: &Network, _: &()) -> Result<(Network, Action)> {
        let provisioner = ctx.provisioner::<Network>(net.provider)?;
        let what = format!("network {}", net.id);
        let needs_ensure =
            net.status != NetworkStatus::Active || net.generation > net.observed_generation;
        let mut seen = if needs_ensure {
            provisioner.ensure(net, &()).await
        } else {
            provisioner.observe(net, &()).await
        }
        .map_err(ReconcileError::driver(format!("ensure {what}")))?;
        if seen.state == NetworkState::Missing && !needs_ensure {
            // Drift: the provider lost it. Recreate it (the same step ensure would take).
            seen = provisioner
                .ensure(net, &())
                .await
                .map_err(ReconcileError::driver(format!("recreate {what}")))?;
        }

        let mut next = net.clone();
        let ready = seen.state == NetworkState::Ready;
        let target = if ready {
            NetworkStatus::Active
        } else {
            NetworkStatus::Provisioning
        };
        next.status = net
            .status
            .transition(target)
            .map_err(ReconcileError::Illegal)?;
        next.status_message = seen.message;
        if seen.provider_network_id.is_some() {
            next.provider_network_id = seen.provider_network_id;
        }
        next.observed_generation = net.generation;
        let (status, reason, message) = if ready {
            (ConditionStatus::True, "NetworkReady", "")
        } else {
            (
                ConditionStatus::False,
                "Provisioning",
                "the provider is creating the network",
            )
        };
        condition(&mut next.conditions, "Ready", status, reason, message);
        reconciled(&mut next.conditions);
        let action = if ready {
            Action::Done
        } else {
            Action::RequeueAfter(ctx.config.poll_interval)
        };
        Ok((next, action))
    }

    async fn cleanup(ctx: &Context, net: &Network, _: &()) -> Result<Cleanup<Network>> {
        // Nothing can exist at a provider this installation cannot talk to.
        let teardown = match ctx.provisioners.find::<Network>(net.provider) {
            Some(provisioner) => provisioner
                .delete(net, &())
                .await
                .map_err(ReconcileError::driver(format!("delete network {}", net.id)))?,
            None => Teardown::Done,
        };
        Ok(match teardown {
            Teardown::InProgress => {
                Cleanup::InProgress(with_message(net, "the provider is deleting the network"))
            }
            Teardown::Done => Cleanup::Gone(with_message(net, "deleted at the provider")),
        })
    }
}
