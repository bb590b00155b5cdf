//! Networks: `provisioning`/`error` → ensure at the provider → `active`; an active network
//! is re-observed and recreated if it vanished; `deleting` waits for its peerings and
//! clusters to be gone, then deletes at the provider and only then becomes `deleted`
//! (the finalizer).

use isthmus_core::conditions::ConditionStatus;
use isthmus_core::resources::Network;
use isthmus_core::state::NetworkStatus;
use isthmus_driver::{NetworkState, Teardown};
use isthmus_store::{Kind, Resource};

use super::reconcile::{
    condition, driver_of, reconciled, require_driver, save_if_changed, Action, Ctx, ReconcileError,
    Result,
};

pub(crate) async fn reconcile(ctx: &Ctx, net: Network) -> Result<Action> {
    match net.status {
        NetworkStatus::Deleted => Ok(Action::Done),
        NetworkStatus::Deleting => delete(ctx, net).await,
        _ => ensure(ctx, net).await,
    }
}

async fn ensure(ctx: &Ctx, net: Network) -> Result<Action> {
    let driver = require_driver(ctx, net.provider)?;
    let what = format!("network {}", net.id);
    let needs_ensure =
        net.status != NetworkStatus::Active || net.generation > net.observed_generation;
    let mut seen = if needs_ensure {
        driver.ensure_network(&net).await
    } else {
        driver.observe_network(&net).await
    }
    .map_err(ReconcileError::driver(format!("ensure {what}")))?;
    if seen.state == NetworkState::Missing && !needs_ensure {
        // Drift: the provider lost it. Recreate it (the same step ensure would take).
        seen = driver
            .ensure_network(&net)
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
    if ready {
        condition(
            &mut next.conditions,
            "Ready",
            ConditionStatus::True,
            "NetworkReady",
            "",
        );
    } else {
        condition(
            &mut next.conditions,
            "Ready",
            ConditionStatus::False,
            "Provisioning",
            "the provider is creating the network",
        );
    }
    reconciled(&mut next.conditions);
    save_if_changed(
        ctx,
        &Resource::Network(net.clone()),
        Resource::Network(next),
    )
    .await?;

    if !ready {
        return Ok(Action::RequeueAfter(ctx.config.poll_interval));
    }
    if net.status != NetworkStatus::Active {
        // Peerings and clusters waiting for this network can go on now, not at their next poll.
        wake_dependents(ctx, &net).await?;
    }
    Ok(Action::Done)
}

async fn wake_dependents(ctx: &Ctx, net: &Network) -> Result<()> {
    let context = format!("list what depends on network {}", net.id);
    for p in ctx
        .store
        .peerings_of(net.id)
        .await
        .map_err(ReconcileError::store(context.clone()))?
    {
        ctx.wake(Kind::Peering, p.id.0);
    }
    for c in ctx
        .store
        .clusters_of(net.id)
        .await
        .map_err(ReconcileError::store(context))?
    {
        ctx.wake(Kind::Cluster, c.id.0);
    }
    Ok(())
}

async fn delete(ctx: &Ctx, net: Network) -> Result<Action> {
    let context = format!("list what remains on network {}", net.id);
    let peerings = ctx
        .store
        .peerings_of(net.id)
        .await
        .map_err(ReconcileError::store(context.clone()))?;
    let clusters = ctx
        .store
        .clusters_of(net.id)
        .await
        .map_err(ReconcileError::store(context))?;
    let mut next = net.clone();
    if !peerings.is_empty() || !clusters.is_empty() {
        next.status_message = format!(
            "waiting for {} peerings and {} clusters to be deleted",
            peerings.len(),
            clusters.len()
        );
        reconciled(&mut next.conditions);
        save_if_changed(ctx, &Resource::Network(net), Resource::Network(next)).await?;
        for p in &peerings {
            ctx.wake(Kind::Peering, p.id.0);
        }
        return Ok(Action::RequeueAfter(ctx.config.poll_interval));
    }

    let teardown = match driver_of(ctx, net.provider) {
        Some(driver) => driver
            .delete_network(&net)
            .await
            .map_err(ReconcileError::driver(format!("delete network {}", net.id)))?,
        None => Teardown::Done,
    };
    if teardown == Teardown::InProgress {
        next.status_message = "the provider is deleting the network".into();
        save_if_changed(ctx, &Resource::Network(net), Resource::Network(next)).await?;
        return Ok(Action::RequeueAfter(ctx.config.poll_interval));
    }
    next.status = net
        .status
        .transition(NetworkStatus::Deleted)
        .map_err(ReconcileError::Illegal)?;
    next.status_message = "deleted at the provider".into();
    next.observed_generation = net.generation;
    condition(
        &mut next.conditions,
        "Ready",
        ConditionStatus::False,
        "Deleted",
        "",
    );
    reconciled(&mut next.conditions);
    save_if_changed(ctx, &Resource::Network(net), Resource::Network(next)).await?;
    Ok(Action::Done)
}
