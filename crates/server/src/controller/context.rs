//! What every reconcile is handed and what it answers: the controller's context (store,
//! provisioners, queue), the next action, and the classified error.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use isthmus_core::conditions::{set_condition, Condition, ConditionStatus};
use isthmus_core::resources::Provider;
use isthmus_core::CoreError;
use isthmus_driver::{DriverError, Provisioned, Provisioner, Provisioners};
use isthmus_store::{ObjectKey, Store, StoreError};

use super::queue::WorkQueue;
use super::ControllerConfig;

/// What a reconcile works with. Its fields are the controller's own.
pub struct Context {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) provisioners: Provisioners,
    pub(crate) config: ControllerConfig,
    pub(crate) queue: Arc<WorkQueue>,
    /// Runs the engines of `local` cluster nodes, when this server runs the local provider.
    pub(crate) nodes: Option<Arc<crate::nodes::NodeSupervisor>>,
}

impl Context {
    /// Queues `key` to be reconciled now.
    pub(crate) fn wake(&self, key: ObjectKey) {
        self.queue.add(key);
    }

    /// `provider`'s provisioner of kind `K`; `Unsupported` (permanent) when it has none.
    pub(crate) fn provisioner<K: Provisioned>(
        &self,
        provider: Provider,
    ) -> Result<Arc<dyn Provisioner<K>>> {
        self.provisioners
            .get::<K>(provider)
            .map_err(ReconcileError::driver(format!("{provider} driver")))
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
pub enum ReconcileError {
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
    pub(crate) fn driver(context: impl Into<String>) -> impl FnOnce(DriverError) -> ReconcileError {
        let context = context.into();
        move |source| ReconcileError::Driver { context, source }
    }

    pub(crate) fn store(context: impl Into<String>) -> impl FnOnce(StoreError) -> ReconcileError {
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
    pub(crate) fn reason(&self) -> &'static str {
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
    pub(crate) fn is_permanent(&self) -> bool {
        match self {
            ReconcileError::Driver { source, .. } => source.is_permanent(),
            ReconcileError::Illegal(_) => true,
            ReconcileError::Stale(_) | ReconcileError::Store { .. } => false,
        }
    }
}

pub(crate) type Result<T, E = ReconcileError> = std::result::Result<T, E>;

/// When a failed reconcile runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// A retryable error: again after this backoff.
    After(Duration),
    /// A permanent error: not retried on its own; a spec change (the API enqueues it) or
    /// the resync tries again.
    OnChange,
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
