//! Migrations (their target cluster must be running first: the runner waits for it). The
//! provider places the replicator in the target's network with egress to the source only;
//! on `local` the server then keeps the engine running there and copies what it reports
//! (phase, positions, lag, rates, ETA, degraded reason) into the object. The simulated
//! clouds model the placement without packets: such a migration stays `copying` and says
//! so. After a cut-over the engine is stopped and the migration is `completed`; deleting
//! it stops the engine and closes the egress (the copied streams stay in the cluster).

use std::sync::Arc;

use async_trait::async_trait;
use isthmus_core::conditions::ConditionStatus;
use isthmus_core::kinds::migration::{Migration, MigrationStatus};
use isthmus_core::resources::{Cluster, Network};
use isthmus_driver::{MigrationPlace, Teardown};

use super::context::{condition, reconciled, Action, Context, ReconcileError, Result};
use super::objects;
use super::runner::{with_message, Cleanup, Reconcile};
use crate::migrations::EngineRunner;

async fn place(ctx: &Context, cluster: &Cluster) -> Result<MigrationPlace> {
    let context = format!("load the network of cluster {}", cluster.id);
    let network = objects::load::<Network>(&*ctx.store, cluster.network_id.0)
        .await
        .map_err(ReconcileError::store(context.clone()))?
        .ok_or_else(|| ReconcileError::Store {
            context,
            source: isthmus_core::CoreError::not_found("network", cluster.network_id.to_string())
                .into(),
        })?;
    Ok(MigrationPlace {
        cluster: cluster.clone(),
        network,
    })
}

/// The runner of replicators, when this server runs the local provider's engines.
fn engines(ctx: &Context, place: &MigrationPlace) -> Option<Arc<EngineRunner>> {
    (place.network.provider == isthmus_core::resources::Provider::Local)
        .then(|| ctx.nodes.as_ref().map(|n| n.migrations()))
        .flatten()
}

#[async_trait]
impl Reconcile for Migration {
    type Owner = Cluster;
    const READY: MigrationStatus = MigrationStatus::ReadyForCutover;

    async fn apply(ctx: &Context, m: &Migration, cluster: &Cluster) -> Result<(Migration, Action)> {
        let place = place(ctx, cluster).await?;
        let provisioner = ctx.provisioner::<Migration>(place.network.provider)?;
        let what = format!("migration {}", m.id);
        let engines = engines(ctx, &place);
        let mut next = m.clone();
        next.observed_generation = m.generation;
        reconciled(&mut next.conditions);
        if matches!(
            m.status,
            MigrationStatus::CutOver | MigrationStatus::Completed
        ) {
            // The consumers are on the target now: nothing more to copy.
            if let Some(engines) = &engines {
                engines.stop(m).await;
            }
            next.status = m
                .status
                .transition(MigrationStatus::Completed)
                .map_err(ReconcileError::Illegal)?;
            next.status_message =
                "cut over: the durable consumers continue on the target; the replicator stopped"
                    .into();
            return Ok((next, Action::Done));
        }
        let mut seen = provisioner
            .observe(m, &place)
            .await
            .map_err(ReconcileError::driver(format!("observe {what}")))?;
        if !seen.ready {
            seen = provisioner
                .ensure(m, &place)
                .await
                .map_err(ReconcileError::driver(format!("ensure {what}")))?;
        }
        let status_now = |to| m.status.transition(to).map_err(ReconcileError::Illegal);
        if !seen.ready {
            next.status = status_now(MigrationStatus::Provisioning)?;
            next.status_message = seen.message.clone();
            condition(
                &mut next.conditions,
                "Ready",
                ConditionStatus::False,
                "Placing",
                seen.message,
            );
            return Ok((next, Action::RequeueAfter(ctx.config.poll_interval)));
        }
        condition(
            &mut next.conditions,
            "EgressOpen",
            ConditionStatus::True,
            "SourceOnly",
            seen.message.clone(),
        );
        let Some(engines) = engines else {
            // Simulated: placed and modelled, nothing copied.
            next.status = status_now(MigrationStatus::Copying)?;
            next.status_message = seen.message;
            return Ok((next, Action::RequeueAfter(ctx.config.pending_interval)));
        };
        let (progress, exited) =
            engines
                .ensure_running(m, cluster)
                .await
                .map_err(|e| ReconcileError::Driver {
                    context: format!("run the replicator of {what}"),
                    source: isthmus_driver::DriverError::Transient(format!("{e:#}")),
                })?;
        let Some(progress) = progress else {
            next.status = status_now(MigrationStatus::Copying)?;
            next.status_message = exited.unwrap_or_else(|| "the replicator is starting".into());
            return Ok((next, Action::RequeueAfter(ctx.config.pending_interval)));
        };
        let status = MigrationStatus::of_phase(&progress.phase).unwrap_or(MigrationStatus::Copying);
        next.status = status_now(status)?;
        next.status_message = match (&progress.reason, &progress.degraded, &progress.warning) {
            (Some(reason), _, _) => reason.clone(),
            (None, Some(degraded), _) => format!("degraded: {degraded}"),
            (None, None, Some(warning)) => warning.clone(),
            (None, None, None) => progress_line(&progress),
        };
        let degraded = match &progress.degraded {
            Some(why) => (ConditionStatus::True, "Stalled", why.clone()),
            None => (ConditionStatus::False, "Progressing", String::new()),
        };
        condition(
            &mut next.conditions,
            "Degraded",
            degraded.0,
            degraded.1,
            degraded.2,
        );
        let mut progress = progress;
        progress.keep_history(&m.progress);
        next.progress = progress;
        Ok((next, Action::RequeueAfter(ctx.config.pending_interval)))
    }

    async fn cleanup(
        ctx: &Context,
        m: &Migration,
        cluster: &Cluster,
    ) -> Result<Cleanup<Migration>> {
        let place = place(ctx, cluster).await?;
        // Whatever the provider, a server with a runner may hold the migration's secret.
        if let Some(engines) = ctx.nodes.as_ref().map(|n| n.migrations()) {
            engines.stop(m).await;
            engines.forget(m);
        }
        let teardown = match ctx.provisioners.find::<Migration>(place.network.provider) {
            Some(p) => p
                .delete(m, &place)
                .await
                .map_err(ReconcileError::driver(format!("delete migration {}", m.id)))?,
            None => Teardown::Done,
        };
        Ok(match teardown {
            Teardown::InProgress => Cleanup::InProgress(with_message(m, "closing the egress")),
            Teardown::Done => Cleanup::Gone(with_message(
                m,
                "replicator stopped and egress to the source closed; the copied streams stay",
            )),
        })
    }
}

/// `copying: 4000 of 10000 events (40%), 2000 events/s, ETA 3 s, lag 0.120 s`: what a
/// terminal's `--wait` shows as the copy moves.
fn progress_line(p: &isthmus_core::kinds::migration::MigrationProgress) -> String {
    let total: u64 = p
        .streams
        .iter()
        .map(|s| {
            s.source_end_seq
                .saturating_sub(s.source_first_seq.saturating_sub(1))
        })
        .sum();
    let behind = p.lag_events.min(total);
    let done = total - behind;
    let percent = if total == 0 {
        100.0
    } else {
        done as f64 * 100.0 / total as f64
    };
    let eta = p
        .eta_seconds
        .map_or(String::new(), |e| format!(", ETA {e:.0} s"));
    format!(
        "{}: {done} of {total} events ({percent:.0}%), {:.0} events/s{eta}, lag {:.3} s",
        p.phase, p.rate, p.lag_seconds
    )
}
