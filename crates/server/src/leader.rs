//! Which replica runs the controller. On SQLite there is one process and it always leads.
//! On PostgreSQL every replica runs [`lead_on_postgres`]: it claims the controller lease
//! every [`RENEW_EVERY`] for [`LEASE_TTL`]; while it holds the lease it runs a controller
//! whose writes go through [`PgStore::fenced`] with the lease's epoch (a write decided
//! under an epoch that moved on is refused), and which is woken by the process's audit
//! feed, so a change made through any replica is reconciled. Losing the lease (or failing to renew
//! it for as long as it lasts) stops that controller at once.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use isthmus_core::Id;
use isthmus_store::postgres::PgStore;
use isthmus_store::{ObjectKey, Store};
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::audit_feed::{AuditFeed, Next, Subscription};
use crate::controller::ControllerHandle;

/// How long a claimed lease lasts without renewal: a dead leader's successor takes over
/// within this plus one renewal period.
pub const LEASE_TTL: Duration = Duration::from_secs(10);
/// How often every replica claims or renews the lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(2);

/// What `GET /v1/leader` answers: this replica, and who leads under which epoch.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct LeaderStatus {
    /// This replica's name (host and process id).
    pub replica: String,
    /// `sqlite` (one replica, always leading) or `postgres`.
    pub store: String,
    /// Whether this replica runs the controller now.
    pub leader: bool,
    /// The replica holding the lease (`None`: never claimed, or unreadable).
    pub holder: Option<String>,
    /// The lease's epoch (0 on SQLite): it grows with each new holder.
    pub epoch: i64,
    /// Since when the holder holds the lease.
    pub since: Option<DateTime<Utc>>,
}

/// Shared by the leader loop (writes) and the API and metrics (read).
pub struct Leadership {
    status: RwLock<LeaderStatus>,
}

impl Leadership {
    /// The single SQLite process: leader from now on.
    pub fn single(replica: String) -> Arc<Leadership> {
        Arc::new(Leadership {
            status: RwLock::new(LeaderStatus {
                holder: Some(replica.clone()),
                replica,
                store: "sqlite".into(),
                leader: true,
                epoch: 0,
                since: Some(Utc::now()),
            }),
        })
    }

    fn follower(replica: String) -> Arc<Leadership> {
        Arc::new(Leadership {
            status: RwLock::new(LeaderStatus {
                replica,
                store: "postgres".into(),
                leader: false,
                holder: None,
                epoch: 0,
                since: None,
            }),
        })
    }

    pub fn status(&self) -> LeaderStatus {
        self.status
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set(&self, update: impl FnOnce(&mut LeaderStatus)) {
        update(&mut self.status.write().unwrap_or_else(|e| e.into_inner()));
    }
}

/// This replica's name in the lease: the host name and the process id.
pub fn replica_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "replica".into());
    format!("{host}:{}", std::process::id())
}

/// Starts one lease term's controller, and the other tasks that run only on the leader,
/// on the given (fenced) store: the controller's handle and every task of the term.
pub type StartController =
    Box<dyn Fn(Arc<dyn Store>) -> (ControllerHandle, Vec<JoinHandle<()>>) + Send + Sync>;

/// The controller of one lease term, the leader's other tasks, and the feed that wakes
/// the controller; all stop on drop.
struct Term {
    epoch: i64,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Term {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The running leader loop; dropping it stops the loop and this replica's controller.
pub struct LeaderLoop {
    task: JoinHandle<()>,
    store: PgStore,
    replica: String,
}

impl LeaderLoop {
    /// Stops leading and lets the lease go at once, so another replica takes over
    /// without waiting for it to expire (a graceful shutdown).
    pub async fn release(&self) {
        self.task.abort();
        if let Err(e) = self.store.release_lease(&self.replica).await {
            tracing::warn!(error = %e, "could not release the controller lease");
        }
    }
}

impl Drop for LeaderLoop {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the leader loop of a replica on PostgreSQL. `api` is the API's controller
/// handle: it follows each term's controller, and is idle between terms.
pub fn lead_on_postgres(
    store: PgStore,
    feed: AuditFeed,
    api: ControllerHandle,
    start: StartController,
) -> (Arc<Leadership>, LeaderLoop) {
    let replica = replica_name();
    let leadership = Leadership::follower(replica.clone());
    let task = tokio::spawn(run(
        store.clone(),
        feed,
        replica.clone(),
        leadership.clone(),
        api,
        start,
    ));
    (
        leadership,
        LeaderLoop {
            task,
            store,
            replica,
        },
    )
}

async fn run(
    store: PgStore,
    feed: AuditFeed,
    replica: String,
    leadership: Arc<Leadership>,
    api: ControllerHandle,
    start: StartController,
) {
    let mut term: Option<Term> = None;
    // When the lease this replica holds was last renewed (taken before the claim, so
    // the local deadline is never later than the database's).
    let mut renewed = Instant::now();
    let mut tick = tokio::time::interval(RENEW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let asked = Instant::now();
        match store.claim_lease(&replica, LEASE_TTL).await {
            Ok(lease) => {
                let mine = lease.live && lease.holder == replica;
                if mine {
                    renewed = asked;
                    if term.as_ref().map(|t| t.epoch) != Some(lease.epoch) {
                        tracing::info!(
                            epoch = lease.epoch,
                            "this replica leads: controller started"
                        );
                        term = Some(start_term(&store, &feed, lease.epoch, &api, &start));
                    }
                } else if term.take().is_some() {
                    api.follow(&ControllerHandle::idle());
                    tracing::warn!(holder = %lease.holder, epoch = lease.epoch, "the lease moved on: controller stopped");
                }
                leadership.set(|s| {
                    s.leader = mine;
                    s.holder = Some(lease.holder.clone());
                    s.epoch = lease.epoch;
                    s.since = Some(lease.since);
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not claim the controller lease");
                // Past the lease's end without renewal, another replica may lead.
                if term.is_some() && renewed.elapsed() >= LEASE_TTL {
                    term = None;
                    api.follow(&ControllerHandle::idle());
                    leadership.set(|s| s.leader = false);
                    tracing::warn!("the lease could not be renewed in time: controller stopped");
                }
            }
        }
    }
}

/// A task of a lease term that does nothing until the term ends (it is aborted), and
/// then runs `cleanup`: what the leader must stop doing at once when it stops leading.
pub fn on_term_end(cleanup: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    struct OnDrop<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for OnDrop<F> {
        fn drop(&mut self) {
            if let Some(cleanup) = self.0.take() {
                cleanup();
            }
        }
    }
    let guard = OnDrop(Some(cleanup));
    tokio::spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await
    })
}

fn start_term(
    store: &PgStore,
    feed: &AuditFeed,
    epoch: i64,
    api: &ControllerHandle,
    start: &StartController,
) -> Term {
    // Subscribed before the controller's first resync: a change after it is delivered.
    let changes = feed.subscribe();
    let (handle, mut tasks) = start(Arc::new(store.fenced(epoch)));
    api.follow(&handle);
    tasks.push(tokio::spawn(follow_feed(changes, handle)));
    Term { epoch, tasks }
}

/// Wakes the controller for every object an API caller (on any replica) changed, as soon
/// as the feed reads it. The controller's own writes are skipped: it already knows what
/// it wrote.
async fn follow_feed(mut changes: Subscription, handle: ControllerHandle) {
    loop {
        let Next::Changes(events) = changes.next().await else {
            continue; // the feed warned; it delivers the changes once it reads again
        };
        for event in events.iter() {
            if event.actor == isthmus_store::Actor::controller().0 {
                continue;
            }
            let kind = crate::kinds::kind(&event.resource_kind).map(|k| k.info().name);
            if let (Some(kind), Ok(id)) = (kind, event.resource_id.parse::<Id>()) {
                handle.enqueue(ObjectKey { kind, id });
            }
        }
    }
}
