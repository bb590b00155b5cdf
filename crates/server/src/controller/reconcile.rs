//! The shape every reconcile shares: read the key's resource, make one step, write the
//! status only if it changed (compare-and-swap on the version), and report what next.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use isthmus_core::conditions::{set_condition, Condition, ConditionStatus};
use isthmus_core::resources::Provider;
use isthmus_core::CoreError;
use isthmus_driver::{Driver, DriverError, Drivers};
use isthmus_store::{Actor, Kind, Resource, ResourceKey, Store, StoreError};

use super::queue::WorkQueue;
use super::{cluster, network, peering, ControllerConfig};

pub(crate) struct Ctx {
    pub store: Arc<dyn Store>,
    pub drivers: Drivers,
    pub config: ControllerConfig,
    pub queue: Arc<WorkQueue>,
    /// Runs the engines of `local` cluster nodes, when this server runs the local provider.
    pub nodes: Option<Arc<crate::nodes::NodeSupervisor>>,
}

impl Ctx {
    pub fn wake(&self, kind: Kind, id: isthmus_core::Id) {
        self.queue.add(ResourceKey { kind, id });
    }
}

/// What the controller does with a key after one reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Converged (or waiting for someone else's change, which will enqueue it).
    Done,
    /// Look again after this long (a handshake or a provider in progress).
    RequeueAfter(Duration),
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ReconcileError {
    #[error("{context}: {source}")]
    Driver {
        context: String,
        source: DriverError,
    },
    /// The resource changed since it was read; not a failure, just read it again.
    #[error("{0}")]
    Stale(String),
    #[error("{context}: {source}")]
    Store { context: String, source: StoreError },
    /// A move the state machine forbids: a bug in a reconcile, never retried into success.
    #[error("{0}")]
    Illegal(CoreError),
}

impl ReconcileError {
    pub fn driver(context: impl Into<String>) -> impl FnOnce(DriverError) -> ReconcileError {
        let context = context.into();
        move |source| ReconcileError::Driver { context, source }
    }

    pub fn store(context: impl Into<String>) -> impl FnOnce(StoreError) -> ReconcileError {
        let context = context.into();
        move |source| match source {
            StoreError::Core(e @ CoreError::VersionMismatch { .. }) => {
                ReconcileError::Stale(e.to_string())
            }
            StoreError::Core(e @ CoreError::IllegalTransition { .. }) => ReconcileError::Illegal(e),
            source => ReconcileError::Store {
                context: context.clone(),
                source,
            },
        }
    }

    /// The CamelCase reason recorded in the `Reconciled` condition.
    fn reason(&self) -> &'static str {
        match self {
            ReconcileError::Driver { source, .. } => source.kind().reason(),
            ReconcileError::Stale(_) => "Conflict",
            ReconcileError::Store { .. } => "StoreError",
            ReconcileError::Illegal(_) => "IllegalTransition",
        }
    }

    /// Retrying cannot help until something changes (the spec, or the provider as the
    /// next resync sees it): the provider refused the request for good, or a reconcile
    /// broke the state machine.
    pub fn is_permanent(&self) -> bool {
        match self {
            ReconcileError::Driver { source, .. } => source.is_permanent(),
            ReconcileError::Illegal(_) => true,
            ReconcileError::Stale(_) | ReconcileError::Store { .. } => false,
        }
    }
}

pub(crate) type Result<T, E = ReconcileError> = std::result::Result<T, E>;

/// One reconcile of `key`.
pub(crate) async fn run(ctx: &Ctx, key: ResourceKey) -> Result<Action> {
    let loaded = ctx
        .store
        .load(key)
        .await
        .map_err(ReconcileError::store(format!(
            "load {} {}",
            key.kind.as_str(),
            key.id
        )))?;
    match loaded {
        // Gone from the store (never created, or purged): nothing to converge.
        None => Ok(Action::Done),
        Some(Resource::Network(n)) => network::reconcile(ctx, n).await,
        Some(Resource::Peering(p)) => peering::reconcile(ctx, p).await,
        Some(Resource::Cluster(c)) => cluster::reconcile(ctx, c).await,
    }
}

/// Saves `next` if it differs from `before` (what was read); returns what is stored.
pub(crate) async fn save_if_changed(
    ctx: &Ctx,
    before: &Resource,
    next: Resource,
) -> Result<Resource> {
    if &next == before {
        return Ok(next);
    }
    let key = next.key();
    ctx.store
        .save_status(&Actor::controller(), &next)
        .await
        .map_err(ReconcileError::store(format!(
            "save status of {} {}",
            key.kind.as_str(),
            key.id
        )))
}

/// The driver of `provider`, or None when this installation has none (nothing can exist
/// at a provider we cannot talk to, which is what lets deletions finish).
pub(crate) fn driver_of(ctx: &Ctx, provider: Provider) -> Option<Arc<dyn Driver>> {
    ctx.drivers.get(provider).ok()
}

pub(crate) fn require_driver(ctx: &Ctx, provider: Provider) -> Result<Arc<dyn Driver>> {
    ctx.drivers
        .get(provider)
        .map_err(ReconcileError::driver(format!("{provider} driver")))
}

/// Sets a condition at the current time.
pub(crate) fn condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
) {
    set_condition(conditions, type_, status, reason, message, Utc::now());
}

pub(crate) fn reconciled(conditions: &mut Vec<Condition>) {
    condition(
        conditions,
        "Reconciled",
        ConditionStatus::True,
        "Observed",
        "",
    );
}

/// When a failed reconcile runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// A retryable error: again after this backoff.
    After(Duration),
    /// A permanent error: not retried on its own; a spec change (the API enqueues it) or
    /// the resync tries again.
    OnChange,
}

/// Records a failed reconcile on the resource: `Reconciled=False` with the error's reason,
/// the error and when it is retried in `status_message`; a permanent error also moves the
/// resource to `error` (where its state machine allows) with `Ready=False` and the reason,
/// and counts its spec as observed.
/// Best effort: if the write loses a race, the retry (or the resync) records it.
pub(crate) async fn record_error(ctx: &Ctx, key: ResourceKey, err: &ReconcileError, retry: Retry) {
    let Ok(Some(before)) = ctx.store.load(key).await else {
        return;
    };
    let message = match retry {
        Retry::After(delay) => format!("{err} (retrying in {:.1}s)", delay.as_secs_f64()),
        Retry::OnChange => {
            format!("{err} (not retried until the spec changes; checked again at the next resync)")
        }
    };
    let permanent = retry == Retry::OnChange;
    let mut next = before.clone();
    macro_rules! mark {
        ($r:expr, $error_status:expr) => {{
            condition(
                &mut $r.conditions,
                "Reconciled",
                ConditionStatus::False,
                err.reason(),
                err.to_string(),
            );
            $r.status_message = message.clone();
            if permanent {
                if let Ok(s) = $r.status.transition($error_status) {
                    $r.status = s;
                    // The controller has acted on this spec and this is its verdict, so
                    // `--wait` settles. (A spec written since the failing read was also
                    // enqueued by the API: its reconcile, right after, overwrites this.)
                    $r.observed_generation = $r.generation;
                    condition(
                        &mut $r.conditions,
                        "Ready",
                        ConditionStatus::False,
                        err.reason(),
                        err.to_string(),
                    );
                }
            }
        }};
    }
    match &mut next {
        Resource::Network(n) => mark!(n, isthmus_core::state::NetworkStatus::Error),
        Resource::Peering(p) => mark!(p, isthmus_core::state::PeeringStatus::Error),
        Resource::Cluster(c) => mark!(c, isthmus_core::state::ClusterStatus::Error),
    }
    if let Err(e) = save_if_changed(ctx, &before, next).await {
        tracing::debug!(?key, error = %e, "could not record the reconcile error");
    }
}
