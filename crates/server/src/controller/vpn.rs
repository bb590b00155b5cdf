//! VPN gateways (their network must be ready first: the runner waits for it) and their
//! clients (their gateway must be ready). Both go through the provisioner of the
//! network's provider; a provider without one (the local driver, for now) makes the
//! reconcile fail permanently with the registry's "unsupported" message, so the object
//! shows `error` and says why.

use async_trait::async_trait;
use chrono::Utc;
use isthmus_core::conditions::ConditionStatus;
use isthmus_core::kinds::vpn_client::{client_state, VpnClient, VpnClientStatus};
use isthmus_core::kinds::vpn_config::granted_destinations;
use isthmus_core::kinds::vpn_gateway::{VpnGateway, VpnGatewayStatus};
use isthmus_core::resources::{Cluster, Network};
use isthmus_driver::{Teardown, VpnClientContext, VpnGatewayState};
use isthmus_store::api::Api;

use super::context::{condition, reconciled, Action, Context, ReconcileError, Result};
use super::objects;
use super::runner::{with_message, Cleanup, Reconcile};

#[async_trait]
impl Reconcile for VpnGateway {
    type Owner = Network;
    const READY: VpnGatewayStatus = VpnGatewayStatus::Ready;

    async fn apply(
        ctx: &Context,
        g: &VpnGateway,
        network: &Network,
    ) -> Result<(VpnGateway, Action)> {
        let provisioner = ctx.provisioner::<VpnGateway>(network.provider)?;
        let what = format!("VPN gateway {}", g.id);
        let needs_ensure = g.generation > g.observed_generation
            || matches!(
                g.status,
                VpnGatewayStatus::Provisioning | VpnGatewayStatus::Error
            );
        let mut seen = if needs_ensure {
            None
        } else {
            Some(
                provisioner
                    .observe(g, network)
                    .await
                    .map_err(ReconcileError::driver(format!("observe {what}")))?,
            )
        };
        // Nothing runs for it (it died): start it again.
        if seen
            .as_ref()
            .is_none_or(|o| o.state == VpnGatewayState::Missing)
        {
            seen = Some(
                provisioner
                    .ensure(g, network)
                    .await
                    .map_err(ReconcileError::driver(format!("ensure {what}")))?,
            );
        }
        let seen = seen.expect("set above");
        let ready = seen.state == VpnGatewayState::Ready;
        let mut next = g.clone();
        let target = if ready {
            VpnGatewayStatus::Ready
        } else {
            VpnGatewayStatus::Provisioning
        };
        next.status = g
            .status
            .transition(target)
            .map_err(ReconcileError::Illegal)?;
        next.status_message = seen.message.clone();
        next.observed_generation = g.generation;
        if seen.endpoint.is_some() {
            next.endpoint = seen.endpoint.clone();
        }
        if seen.public_key.is_some() {
            next.public_key = seen.public_key;
        }
        let (status, reason) = if ready {
            (ConditionStatus::True, "Serving")
        } else {
            (ConditionStatus::False, "Starting")
        };
        condition(&mut next.conditions, "Ready", status, reason, seen.message);
        reconciled(&mut next.conditions);
        let action = if ready {
            Action::Done
        } else {
            Action::RequeueAfter(ctx.config.poll_interval)
        };
        Ok((next, action))
    }

    async fn cleanup(
        ctx: &Context,
        g: &VpnGateway,
        network: &Network,
    ) -> Result<Cleanup<VpnGateway>> {
        let teardown = match ctx.provisioners.find::<VpnGateway>(network.provider) {
            Some(p) => p
                .delete(g, network)
                .await
                .map_err(ReconcileError::driver(format!(
                    "delete VPN gateway {}",
                    g.id
                )))?,
            None => Teardown::Done,
        };
        Ok(match teardown {
            Teardown::InProgress => {
                Cleanup::InProgress(with_message(g, "the provider is stopping the gateway"))
            }
            Teardown::Done => Cleanup::Gone(with_message(g, "stopped at the provider")),
        })
    }
}

/// What a client's provisioner is handed: its gateway, the gateway's network, and its
/// grants resolved against the network's clusters as they are now.
async fn client_context(
    ctx: &Context,
    c: &VpnClient,
    gateway: &VpnGateway,
) -> Result<VpnClientContext> {
    let context = format!("load the network of VPN gateway {}", gateway.id);
    let network = objects::load::<Network>(&*ctx.store, gateway.network_id.0)
        .await
        .map_err(ReconcileError::store(context.clone()))?
        .ok_or_else(|| ReconcileError::Store {
            context,
            source: isthmus_core::CoreError::not_found("network", gateway.network_id.to_string())
                .into(),
        })?;
    let clusters: Vec<Cluster> = Api::<Cluster>::new(ctx.store.docs())
        .owned_by(network.id.0)
        .await
        .map_err(ReconcileError::store(format!(
            "list the clusters of network {}",
            network.id
        )))?;
    Ok(VpnClientContext {
        gateway: gateway.clone(),
        network,
        destinations: granted_destinations(c, &clusters),
    })
}

/// A client whose time is up: the gateway removes its peer and cuts its flows (as a
/// revoke does), then it shows `expired` (the status change is the audit event). Once
/// expired it is left alone: its key is gone from the gateway for good.
async fn expire(
    c: &VpnClient,
    on: &VpnClientContext,
    provisioner: &dyn isthmus_driver::Provisioner<VpnClient>,
) -> Result<(VpnClient, Action)> {
    if c.status == VpnClientStatus::Expired {
        return Ok((c.clone(), Action::Done));
    }
    provisioner
        .delete(c, on)
        .await
        .map_err(ReconcileError::driver(format!(
            "remove expired VPN client {}",
            c.id
        )))?;
    let mut next = c.clone();
    next.status = c
        .status
        .transition(VpnClientStatus::Expired)
        .map_err(ReconcileError::Illegal)?;
    next.status_message = format!(
        "expired at {}: the gateway removed its key and cut its flows",
        c.expires_at.to_rfc3339()
    );
    next.observed_generation = c.generation;
    condition(
        &mut next.conditions,
        "Ready",
        ConditionStatus::False,
        "Expired",
        next.status_message.clone(),
    );
    reconciled(&mut next.conditions);
    Ok((next, Action::Done))
}

#[async_trait]
impl Reconcile for VpnClient {
    type Owner = VpnGateway;
    const READY: VpnClientStatus = VpnClientStatus::Pending;

    async fn apply(
        ctx: &Context,
        c: &VpnClient,
        gateway: &VpnGateway,
    ) -> Result<(VpnClient, Action)> {
        let on = client_context(ctx, c, gateway).await?;
        let provisioner = ctx.provisioner::<VpnClient>(on.network.provider)?;
        let what = format!("VPN client {}", c.id);
        if c.is_expired(Utc::now()) {
            return expire(c, &on, &*provisioner).await;
        }
        let needs_ensure =
            c.generation > c.observed_generation || c.status == VpnClientStatus::Error;
        let mut seen = if needs_ensure {
            None
        } else {
            Some(
                provisioner
                    .observe(c, &on)
                    .await
                    .map_err(ReconcileError::driver(format!("observe {what}")))?,
            )
        };
        // The gateway lost the peer (restarted, or never had it): give it again.
        if seen.as_ref().is_none_or(|o| !o.applied) {
            seen = Some(
                provisioner
                    .ensure(c, &on)
                    .await
                    .map_err(ReconcileError::driver(format!("ensure {what}")))?,
            );
        }
        let seen = seen.expect("set above");
        let now = Utc::now();
        let mut next = c.clone();
        next.last_handshake_at = seen.last_handshake_at;
        next.endpoint = seen.endpoint.clone();
        next.rx_bytes = seen.rx_bytes;
        next.tx_bytes = seen.tx_bytes;
        next.denied_flows = seen.denied_flows;
        next.status = c
            .status
            .transition(client_state(c, seen.last_handshake_at, now))
            .map_err(ReconcileError::Illegal)?;
        next.status_message = seen.message.clone();
        next.observed_generation = c.generation;
        let (status, reason) = if seen.applied {
            (ConditionStatus::True, "Applied")
        } else {
            (ConditionStatus::False, "Applying")
        };
        condition(&mut next.conditions, "Ready", status, reason, seen.message);
        reconciled(&mut next.conditions);
        // Handshakes and expiry change without any write: look again.
        let action = if seen.applied {
            Action::RequeueAfter(ctx.config.pending_interval)
        } else {
            Action::RequeueAfter(ctx.config.poll_interval)
        };
        Ok((next, action))
    }

    async fn cleanup(
        ctx: &Context,
        c: &VpnClient,
        gateway: &VpnGateway,
    ) -> Result<Cleanup<VpnClient>> {
        let on = client_context(ctx, c, gateway).await?;
        let teardown = match ctx.provisioners.find::<VpnClient>(on.network.provider) {
            Some(p) => p
                .delete(c, &on)
                .await
                .map_err(ReconcileError::driver(format!(
                    "revoke VPN client {}",
                    c.id
                )))?,
            None => Teardown::Done,
        };
        Ok(match teardown {
            Teardown::InProgress => {
                Cleanup::InProgress(with_message(c, "the gateway is removing the client"))
            }
            Teardown::Done => {
                let mut gone = with_message(c, "revoked: the gateway no longer accepts its key");
                gone.revoked_at = Some(Utc::now());
                Cleanup::Gone(gone)
            }
        })
    }
}
