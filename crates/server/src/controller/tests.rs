//! The controller's failure paths, one reconcile at a time, on a paused clock: a real
//! SQLite store in a temp dir, a fake provisioner whose answers the test sets, and time
//! that moves only when the test advances it, so "not retried" and "retried after the
//! backoff" are facts about the queue rather than about how long a test waited.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use isthmus_core::conditions::{find_condition, ConditionStatus};
use isthmus_core::resources::{Network, Peering, Project, Provider};
use isthmus_core::state::{NetworkStatus, PeeringStatus};
use isthmus_driver::{
    DriverError, NetworkObservation, NetworkState, PeeringObservation, PeeringState, Provisioner,
    Provisioners, Teardown,
};
use isthmus_store::api::{Api, Env};
use isthmus_store::sqlite::SqliteStore;
use isthmus_store::{Actor, ObjectKey, Store};
use serde_json::json;

use super::queue::WorkQueue;
use super::{turn, Context, ControllerConfig, Counters, Failures};

const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(8);

/// A `local` provider whose answers the test sets, counting its calls.
#[derive(Default)]
struct Fake {
    /// `ensure` of networks fails with this.
    network_error: Mutex<Option<DriverError>>,
    /// What peerings are seen as.
    peering_state: Mutex<Option<PeeringState>>,
    /// Renames the network in the store while its `ensure` runs, as an API write landing
    /// between the controller's read and its save would.
    write_meanwhile: Mutex<Option<(Arc<dyn Store>, Project)>>,
    calls: Mutex<HashMap<&'static str, u32>>,
}

impl Fake {
    fn calls(&self, op: &'static str) -> u32 {
        self.calls.lock().unwrap().get(op).copied().unwrap_or(0)
    }

    fn count(&self, op: &'static str) {
        *self.calls.lock().unwrap().entry(op).or_default() += 1;
    }

    fn peering(&self) -> isthmus_driver::Result<PeeringObservation> {
        let state = self
            .peering_state
            .lock()
            .unwrap()
            .unwrap_or(PeeringState::Active);
        Ok(PeeringObservation {
            state,
            provider_peering_id: Some("fake-peering".into()),
            message: format!("{state:?}"),
        })
    }
}

#[async_trait]
impl Provisioner<Network> for Fake {
    async fn ensure(&self, n: &Network, _: &()) -> isthmus_driver::Result<NetworkObservation> {
        self.count("ensure_network");
        let meanwhile = self.write_meanwhile.lock().unwrap().take();
        if let Some((store, project)) = meanwhile {
            let rename = serde_json::from_value(json!({"name": "renamed"})).unwrap();
            Api::<Network>::new(store.docs())
                .update(
                    &Actor("token:api".into()),
                    project.id,
                    n.id.as_id(),
                    &rename,
                    None,
                )
                .await
                .unwrap();
        }
        if let Some(e) = self.network_error.lock().unwrap().clone() {
            return Err(e);
        }
        Ok(NetworkObservation {
            state: NetworkState::Ready,
            provider_network_id: Some("fake-net".into()),
            message: "ready".into(),
        })
    }
    async fn observe(&self, n: &Network, _: &()) -> isthmus_driver::Result<NetworkObservation> {
        self.count("observe_network");
        Ok(NetworkObservation {
            state: NetworkState::Ready,
            provider_network_id: Some(format!("fake-{}", n.name)),
            message: "ready".into(),
        })
    }
    async fn delete(&self, _: &Network, _: &()) -> isthmus_driver::Result<Teardown> {
        Ok(Teardown::Done)
    }
}

#[async_trait]
impl Provisioner<Peering> for Fake {
    async fn ensure(&self, _: &Peering, _: &Network) -> isthmus_driver::Result<PeeringObservation> {
        self.count("ensure_peering");
        self.peering()
    }
    async fn observe(
        &self,
        _: &Peering,
        _: &Network,
    ) -> isthmus_driver::Result<PeeringObservation> {
        self.count("observe_peering");
        self.peering()
    }
    async fn delete(&self, _: &Peering, _: &Network) -> isthmus_driver::Result<Teardown> {
        Ok(Teardown::Done)
    }
}

/// The controller's parts without its loops: the test takes each turn itself.
pub(super) struct Harness {
    _dir: tempfile::TempDir,
    pub(super) store: Arc<dyn Store>,
    fake: Arc<Fake>,
    pub(super) ctx: Context,
    counters: Counters,
    failures: Failures,
    pub(super) project: Project,
    /// Keeps the runtime busy (see [`Harness::new`]).
    spinner: tokio::task::JoinHandle<()>,
    timer: tokio::task::JoinHandle<()>,
}

impl Harness {
    pub(super) async fn new() -> Harness {
        // SQLite works on a thread of its own, which the paused clock cannot see: with
        // nothing else to run, tokio would jump the clock forward while a query runs (and
        // fire the pool's timeouts). A task that only yields keeps the runtime busy, so
        // time moves only when the test advances it.
        let spinner = tokio::spawn(async {
            loop {
                tokio::task::yield_now().await;
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&dir.path().join("isthmus.db"))
                .await
                .unwrap(),
        );
        let project = store
            .create_project(
                &actor(),
                &serde_json::from_value(json!({"name": "acme"})).unwrap(),
                None,
            )
            .await
            .unwrap();
        let fake = Arc::new(Fake::default());
        let provisioners = Provisioners::new()
            .with::<Network>(Provider::Local, fake.clone())
            .with::<Peering>(Provider::Local, fake.clone());
        let queue = Arc::new(WorkQueue::default());
        let timer = tokio::spawn({
            let queue = queue.clone();
            async move { queue.run_timer().await }
        });
        let ctx = Context {
            store: store.clone(),
            provisioners,
            config: ControllerConfig {
                backoff_base: BACKOFF_BASE,
                backoff_max: BACKOFF_MAX,
                ..ControllerConfig::default()
            },
            queue,
            nodes: None,
        };
        Harness {
            _dir: dir,
            store,
            fake,
            ctx,
            counters: Counters::default(),
            failures: Arc::default(),
            project,
            spinner,
            timer,
        }
    }

    /// A `local` network, stored and queued as the API does.
    pub(super) async fn network(&self, name: &str) -> Network {
        let req = serde_json::from_value(json!({
            "name": name, "provider": "local", "region": "host", "cidr_block": "10.20.0.0/16",
        }))
        .unwrap();
        let n = Api::<Network>::new(self.store.docs())
            .create(&actor(), self.project.id, &req, &Env::default(), None)
            .await
            .unwrap()
            .resource;
        self.ctx.queue.add(ObjectKey::of::<Network>(n.id.0));
        n
    }

    /// A peering, stored and queued as the API does.
    pub(super) async fn peering(&self, net: &Network) -> Peering {
        let req = serde_json::from_value(json!({
            "name": "p", "network_id": net.id.to_string(),
            "peer": {"account_id": "lab", "network_id": "vpc-a", "region": "host"},
            "routes": ["192.168.1.0/24"],
        }))
        .unwrap();
        let p = Api::<Peering>::new(self.store.docs())
            .create(&actor(), self.project.id, &req, &Env::default(), None)
            .await
            .unwrap()
            .resource;
        self.ctx.queue.add(ObjectKey::of::<Peering>(p.id.0));
        p
    }

    /// Takes the next queued key and reconciles it once, as a worker does.
    pub(super) async fn turn(&self) -> ObjectKey {
        // (A timeout could not say "nothing queued": the clock stands still.)
        assert!(self.ctx.queue.depth() > 0, "a key is queued");
        let key = self.ctx.queue.next().await;
        turn(&self.ctx, &self.counters, &self.failures, key).await;
        self.ctx.queue.done(key);
        key
    }

    /// Keys queued to run now, and keys queued to run later.
    fn queued(&self) -> (usize, usize) {
        (self.ctx.queue.depth(), self.ctx.queue.scheduled())
    }

    fn errors(&self) -> u64 {
        self.counters
            .errors
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Lets the clock run `by`, and the queue's timer release what fell due.
    async fn advance(&self, by: Duration) {
        tokio::time::advance(by).await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    pub(super) async fn get_network(&self, n: &Network) -> Network {
        Api::<Network>::new(self.store.docs())
            .get(self.project.id, n.id.as_id())
            .await
            .unwrap()
    }

    async fn get_peering(&self, p: &Peering) -> Peering {
        Api::<Peering>::new(self.store.docs())
            .get(self.project.id, p.id.as_id())
            .await
            .unwrap()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.spinner.abort();
        self.timer.abort();
    }
}

pub(super) fn actor() -> Actor {
    Actor("token:test".into())
}

fn condition_of(
    conditions: &[isthmus_core::conditions::Condition],
    type_: &str,
) -> Option<(ConditionStatus, String)> {
    find_condition(conditions, type_).map(|c| (c.status, c.reason.clone()))
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_settles_in_error_and_is_not_retried_until_the_spec_changes() {
    let h = Harness::new().await;
    *h.fake.network_error.lock().unwrap() = Some(DriverError::Invalid(
        "the kernel refuses 10.20.0.1/16".into(),
    ));
    let net = h.network("net").await;
    h.turn().await;

    let failed = h.get_network(&net).await;
    assert_eq!(failed.status, NetworkStatus::Error);
    assert_eq!(
        failed.observed_generation, failed.generation,
        "`--wait` settles"
    );
    assert_eq!(
        condition_of(&failed.conditions, "Ready"),
        Some((ConditionStatus::False, "InvalidRequest".into()))
    );
    assert!(
        failed
            .status_message
            .contains("not retried until the spec changes"),
        "{}",
        failed.status_message
    );
    assert_eq!(h.errors(), 1);
    assert_eq!(h.queued(), (0, 0), "nothing scheduled: no backoff loop");

    // Far past any backoff, nothing has asked again.
    h.advance(BACKOFF_MAX * 10).await;
    assert_eq!(h.queued(), (0, 0));
    assert_eq!(h.fake.calls("ensure_network"), 1);

    // A new spec (the API writes it and queues the key) is tried again.
    *h.fake.network_error.lock().unwrap() = None;
    let rename = serde_json::from_value(json!({"name": "net2"})).unwrap();
    Api::<Network>::new(h.store.docs())
        .update(&actor(), h.project.id, net.id.as_id(), &rename, None)
        .await
        .unwrap();
    h.ctx.queue.add(ObjectKey::of::<Network>(net.id.0));
    h.turn().await;
    let active = h.get_network(&net).await;
    assert_eq!(active.status, NetworkStatus::Active);
    assert_eq!(h.fake.calls("ensure_network"), 2);
}

#[tokio::test(start_paused = true)]
async fn a_retryable_error_is_retried_only_once_its_backoff_has_passed() {
    let h = Harness::new().await;
    *h.fake.network_error.lock().unwrap() = Some(DriverError::Transient("busy".into()));
    let net = h.network("net").await;
    h.turn().await;
    assert_eq!(h.queued(), (0, 1), "scheduled for after the backoff");
    let failing = h.get_network(&net).await;
    assert_eq!(failing.status, NetworkStatus::Provisioning, "never `error`");
    assert_eq!(
        condition_of(&failing.conditions, "Reconciled"),
        Some((ConditionStatus::False, "DriverError".into()))
    );

    // The first backoff is between half the base and the base.
    h.advance(BACKOFF_BASE / 2 - Duration::from_millis(1)).await;
    assert_eq!(h.queued(), (0, 1), "not before its time");
    h.advance(BACKOFF_BASE).await;
    assert_eq!(h.queued(), (1, 0), "due now");
    *h.fake.network_error.lock().unwrap() = None;
    h.turn().await;
    assert_eq!(h.get_network(&net).await.status, NetworkStatus::Active);
    assert_eq!(h.fake.calls("ensure_network"), 2);
}

#[tokio::test(start_paused = true)]
async fn a_stale_read_is_read_again_at_once_and_recorded_as_no_error() {
    let h = Harness::new().await;
    let net = h.network("net").await;
    *h.fake.write_meanwhile.lock().unwrap() = Some((h.store.clone(), h.project.clone()));
    h.turn().await;

    // The save lost to the API's write: the key is queued again now, not after a backoff.
    assert_eq!(h.queued(), (1, 0));
    assert_eq!(h.errors(), 0);
    let raced = h.get_network(&net).await;
    assert_eq!(raced.name, "renamed", "the API's write stands");
    assert_eq!(raced.status, NetworkStatus::Provisioning);
    assert_eq!(condition_of(&raced.conditions, "Reconciled"), None);

    h.turn().await;
    let active = h.get_network(&net).await;
    assert_eq!(active.status, NetworkStatus::Active);
    assert_eq!(active.observed_generation, active.generation);
    assert_eq!(
        condition_of(&active.conditions, "Reconciled"),
        Some((ConditionStatus::True, "Observed".into()))
    );
    assert_eq!(h.errors(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_move_the_state_machine_forbids_is_an_error_for_good() {
    let h = Harness::new().await;
    let net = h.network("net").await;
    h.turn().await;
    let p = h.peering(&net).await;
    h.turn().await;
    assert_eq!(h.get_peering(&p).await.status, PeeringStatus::Active);

    // The provider now calls the active peering an invalid request: `active` cannot go
    // to `invalid_specification`.
    *h.fake.peering_state.lock().unwrap() = Some(PeeringState::Invalid);
    h.ctx.queue.add(ObjectKey::of::<Peering>(p.id.0));
    h.turn().await;

    let failed = h.get_peering(&p).await;
    assert_eq!(failed.status, PeeringStatus::Error);
    assert_eq!(
        condition_of(&failed.conditions, "Reconciled"),
        Some((ConditionStatus::False, "IllegalTransition".into()))
    );
    assert!(
        failed
            .status_message
            .contains("peering cannot go from active to invalid_specification"),
        "{}",
        failed.status_message
    );
    assert_eq!(failed.observed_generation, failed.generation);
    h.advance(BACKOFF_MAX * 10).await;
    assert_eq!(h.queued(), (0, 0), "never retried into success");
    assert_eq!(h.errors(), 1);
}
