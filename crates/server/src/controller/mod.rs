//! The controller: level-triggered reconcile loops, as in Kubernetes.
//!
//! A change (an API write, the resync timer, a dependent finishing) queues a resource key;
//! a worker takes it and has the kind's entry in the registry (`crate::kinds`) run it
//! through the one generic loop (`runner`): read the stored resource, observe the provider
//! through the provisioner of its kind, make one idempotent step toward the desired state
//! (the kind's `apply` or `cleanup`), then say "done", "again after T", or fail: a
//! retryable error (transient, not found, dependency) is retried with exponential backoff
//! and jitter, a permanent one (invalid, unsupported) puts the resource into `error` and
//! waits for a spec change or the resync; either way the error is recorded in the
//! resource's conditions. All work derives from stored state plus what the provisioners
//! observe, so a restart at any point converges to the same end state.

mod backoff;
mod cluster;
mod cluster_move;
mod cluster_move_local;
mod context;
mod endpoint_service;
mod migration;
mod network;
mod objects;
#[cfg(test)]
mod owned_tests;
mod peering;
mod queue;
mod runner;
mod scope;
#[cfg(test)]
mod tests;
mod vpn;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use isthmus_driver::Provisioners;
use isthmus_store::{ObjectKey, Store};
use tokio::task::JoinSet;

pub use context::{Action, Context, ReconcileError, Retry};
pub(crate) use objects::load;
use queue::WorkQueue;
pub(crate) use runner::{record_error, run};
pub use runner::{Cleanup, Owner, Reconcile};
pub use scope::Scope;
use scope::ScopeFilter;

#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// How often every live resource is re-observed (drift detection).
    pub resync_interval: Duration,
    /// Parallel reconciles.
    pub workers: usize,
    /// How soon a peering waiting for the customer is looked at again, so an acceptance
    /// shows within about this long.
    pub pending_interval: Duration,
    /// How soon a resource waiting for its provider or its network is looked at again.
    pub poll_interval: Duration,
    /// The first retry delay after an error; doubles per consecutive error.
    pub backoff_base: Duration,
    /// The longest retry delay.
    pub backoff_max: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            resync_interval: Duration::from_secs(30),
            workers: 8,
            pending_interval: Duration::from_secs(1),
            poll_interval: Duration::from_millis(500),
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// Counters a caller can read (metrics, benchmarks, tests).
#[derive(Debug, Default)]
struct Counters {
    reconciles: AtomicU64,
    errors: AtomicU64,
}

/// A snapshot of the controller's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControllerStats {
    /// Reconciles finished (any outcome).
    pub reconciles: u64,
    /// Reconciles that ended in an error (retried with backoff, or, when permanent, left
    /// in `error` until the spec changes or the next resync).
    pub errors: u64,
    /// Keys queued to run now.
    pub queue_depth: u64,
    /// Keys queued to run later (waiting handshakes, backoff).
    pub scheduled: u64,
}

/// Cheap to clone; used by the API to wake the controller for a resource. Every clone
/// follows [`ControllerHandle::follow`]: with several replicas the controllers of each
/// lease term are new ones (one per lease this replica holds), and the API's handle moves
/// to them.
#[derive(Clone)]
pub struct ControllerHandle {
    current: Arc<std::sync::RwLock<Vec<Term>>>,
}

/// One running controller's queue and counters.
#[derive(Clone)]
struct Term {
    tx: tokio::sync::mpsc::UnboundedSender<ObjectKey>,
    queue: Arc<WorkQueue>,
    counters: Arc<Counters>,
}

impl ControllerHandle {
    /// A handle to no controller (a replica that does not lead): wakes are dropped.
    pub fn idle() -> ControllerHandle {
        ControllerHandle::of(Vec::new())
    }

    fn of(terms: Vec<Term>) -> ControllerHandle {
        ControllerHandle {
            current: Arc::new(std::sync::RwLock::new(terms)),
        }
    }

    /// One handle to every controller of `handles` (a replica leading several leases):
    /// a wake reaches each of them (each skips what is outside its scope), and the stats
    /// are their sums.
    pub fn all<'a>(handles: impl IntoIterator<Item = &'a ControllerHandle>) -> ControllerHandle {
        ControllerHandle::of(handles.into_iter().flat_map(|h| h.terms()).collect())
    }

    fn terms(&self) -> Vec<Term> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Makes this handle (and every clone of it) wake and report `other`'s controllers.
    pub fn follow(&self, other: &ControllerHandle) {
        let terms = other.terms();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = terms;
    }

    pub fn enqueue(&self, key: ObjectKey) {
        for term in self.terms() {
            let _ = term.tx.send(key);
        }
    }

    pub fn stats(&self) -> ControllerStats {
        let mut stats = ControllerStats {
            reconciles: 0,
            errors: 0,
            queue_depth: 0,
            scheduled: 0,
        };
        for term in self.terms() {
            stats.reconciles += term.counters.reconciles.load(Ordering::Relaxed);
            stats.errors += term.counters.errors.load(Ordering::Relaxed);
            stats.queue_depth += term.queue.depth() as u64;
            stats.scheduled += term.queue.scheduled() as u64;
        }
        stats
    }
}

pub struct Controller;

impl Controller {
    /// Starts the loops on the current runtime: enqueues every live resource, then runs
    /// workers and the resync timer until the returned handle and task are dropped/aborted.
    /// Aborting the task stops every loop (they live in its `JoinSet`).
    pub fn start(
        store: Arc<dyn Store>,
        provisioners: Provisioners,
        config: ControllerConfig,
    ) -> (ControllerHandle, tokio::task::JoinHandle<()>) {
        Self::start_with_nodes(store, provisioners, config, None)
    }

    /// Like [`Controller::start`]; `nodes` runs the engines of `local` clusters' nodes (a
    /// local node then counts as running only once its engine is ready).
    pub fn start_with_nodes(
        store: Arc<dyn Store>,
        provisioners: Provisioners,
        config: ControllerConfig,
        nodes: Option<Arc<crate::nodes::NodeSupervisor>>,
    ) -> (ControllerHandle, tokio::task::JoinHandle<()>) {
        Self::start_scoped(store, provisioners, config, nodes, Scope::All)
    }

    /// Like [`Controller::start_with_nodes`], reconciling only the resources in `scope`,
    /// with its own queue and workers (so a slow provider cannot starve another's).
    pub fn start_scoped(
        store: Arc<dyn Store>,
        provisioners: Provisioners,
        config: ControllerConfig,
        nodes: Option<Arc<crate::nodes::NodeSupervisor>>,
        scope: Scope,
    ) -> (ControllerHandle, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ObjectKey>();
        let queue = Arc::new(WorkQueue::default());
        let counters = Arc::new(Counters::default());
        let handle = ControllerHandle::of(vec![Term {
            tx,
            queue: queue.clone(),
            counters: counters.clone(),
        }]);
        let filter = Arc::new(ScopeFilter::new(scope));
        let ctx = Arc::new(Context {
            store,
            provisioners,
            config: config.clone(),
            queue: queue.clone(),
            nodes,
        });
        let task = tokio::spawn(async move {
            let mut tasks = JoinSet::new();
            tasks.spawn({
                let queue = queue.clone();
                async move { queue.run_timer().await }
            });
            tasks.spawn({
                let queue = queue.clone();
                async move {
                    while let Some(key) = rx.recv().await {
                        queue.add(key);
                    }
                }
            });
            tasks.spawn(resync_loop(ctx.clone()));
            let failures = Arc::new(Mutex::new(HashMap::new()));
            for _ in 0..config.workers.max(1) {
                tasks.spawn(worker(
                    ctx.clone(),
                    counters.clone(),
                    failures.clone(),
                    filter.clone(),
                ));
            }
            while tasks.join_next().await.is_some() {}
        });
        (handle, task)
    }
}

/// Enqueues every live resource now and every `resync_interval`.
async fn resync_loop(ctx: Arc<Context>) {
    let mut tick = tokio::time::interval(ctx.config.resync_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match objects::live(&*ctx.store).await {
            Ok(keys) => {
                for key in keys {
                    ctx.queue.add(key);
                }
            }
            Err(e) => tracing::warn!(error = %e, "resync could not list live resources"),
        }
    }
}

type Failures = Arc<Mutex<HashMap<ObjectKey, u32>>>;

async fn worker(
    ctx: Arc<Context>,
    counters: Arc<Counters>,
    failures: Failures,
    filter: Arc<ScopeFilter>,
) {
    loop {
        let key = ctx.queue.next().await;
        // Another provider's resource is another lease's (another replica's) work.
        if filter.admits(&*ctx.store, key).await {
            turn(&ctx, &counters, &failures, key).await;
        }
        ctx.queue.done(key);
    }
}

/// One reconcile of `key` by its kind's entry in the registry, then what its outcome
/// asks for: look again later, read again now, back off, or record a failure for good.
async fn turn(ctx: &Context, counters: &Counters, failures: &Failures, key: ObjectKey) {
    let Some(kind) = crate::kinds::kind(key.kind) else {
        tracing::warn!(?key, "no registered kind; not reconciled");
        return;
    };
    match kind.reconcile(ctx, key.id).await {
        Ok(action) => {
            forget(failures, key);
            if let Action::RequeueAfter(delay) = action {
                ctx.queue.add_after(key, delay);
            }
        }
        Err(ReconcileError::Stale(why)) => {
            // Someone wrote the resource since we read it: read it again, now.
            tracing::debug!(?key, %why, "stale read; reconciling again");
            ctx.queue.add(key);
        }
        Err(e) if e.is_permanent() => {
            // Retrying the same call gets the same answer: no backoff loop. The API
            // enqueues the key when the spec changes, and the resync looks again.
            counters.errors.fetch_add(1, Ordering::Relaxed);
            forget(failures, key);
            tracing::warn!(?key, error = %e, "reconcile failed for good; not retried until the spec changes or the next resync");
            kind.record_error(ctx, key.id, &e, Retry::OnChange).await;
        }
        Err(e) => {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            let attempt = {
                let mut f = failures.lock().unwrap_or_else(|e| e.into_inner());
                let n = f.entry(key).or_insert(0);
                *n += 1;
                *n
            };
            let delay = backoff::delay(attempt, ctx.config.backoff_base, ctx.config.backoff_max);
            tracing::warn!(?key, attempt, ?delay, error = %e, "reconcile failed; retrying");
            kind.record_error(ctx, key.id, &e, Retry::After(delay))
                .await;
            ctx.queue.add_after(key, delay);
        }
    }
    counters.reconciles.fetch_add(1, Ordering::Relaxed);
}

fn forget(failures: &Failures, key: ObjectKey) {
    failures
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&key);
}
