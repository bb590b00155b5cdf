//! The controller: level-triggered reconcile loops. STUB: signatures fixed; to be written.

use std::sync::Arc;
use std::time::Duration;

use isthmus_driver::Drivers;
use isthmus_store::{ResourceKey, Store};

#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// How often every live resource is re-observed (drift detection).
    pub resync_interval: Duration,
    /// Parallel reconciles.
    pub workers: usize,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            resync_interval: Duration::from_secs(30),
            workers: 8,
        }
    }
}

/// Cheap to clone; used by the API to wake the controller for a resource.
#[derive(Clone)]
pub struct ControllerHandle {
    tx: tokio::sync::mpsc::UnboundedSender<ResourceKey>,
}

impl ControllerHandle {
    pub fn enqueue(&self, key: ResourceKey) {
        let _ = self.tx.send(key);
    }
}

pub struct Controller;

impl Controller {
    /// Starts the loops on the current runtime: enqueues every live resource, then runs
    /// workers and the resync timer until the returned handle and task are dropped/aborted.
    pub fn start(
        _store: Arc<dyn Store>,
        _drivers: Drivers,
        _config: ControllerConfig,
    ) -> (ControllerHandle, tokio::task::JoinHandle<()>) {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        (ControllerHandle { tx }, tokio::spawn(async {}))
    }
}
