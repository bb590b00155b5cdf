//! Which replica runs the controller. On SQLite there is one process and it always leads,
//! for every provider. On PostgreSQL every replica runs [`lead_on_postgres`]: every
//! [`RENEW_EVERY`] it claims, for [`LEASE_TTL`], the controller lease (the work that
//! belongs to no provider, and the allow-list expiry) and the lease of each provider it
//! has a driver for (see `isthmus_store::postgres::provider_lease`), and of no other
//! provider. For each lease it holds it runs a controller scoped to that lease's resources,
//! with its own queue and workers, writing through [`PgStore::fenced_by`] with that lease's
//! epoch (a write decided under an epoch that moved on is refused), and woken by the
//! process's audit feed, so a change made through any replica is reconciled. Losing a
//! lease (or failing to renew it for as long as it lasts) stops that controller at once;
//! the others go on. A provider whose lease no replica can hold (no live replica has its
//! driver) is not reconciled: its resources wait, as they are, for one.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use isthmus_core::resources::Provider;
use isthmus_core::Id;
use isthmus_store::postgres::{provider_lease, Lease, PgStore, CONTROLLER};
use isthmus_store::{ObjectKey, Store};
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::audit_feed::{AuditFeed, Next, Subscription};
use crate::controller::{ControllerHandle, Scope};

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
    /// Who reconciles each provider's resources: one lease per provider, held only by a
    /// replica that has the provider's driver (the lease above covers the rest).
    pub providers: Vec<ProviderLeader>,
}

/// Who leads one provider: the replica that reconciles its resources.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ProviderLeader {
    /// `aws`, `gcp`, `azure` or `local`.
    pub provider: String,
    /// Whether this replica has the provider's driver and competes for its lease.
    pub driver: bool,
    /// Whether this replica reconciles the provider's resources now.
    pub leader: bool,
    /// The replica holding the provider's lease while it is live (`None`: no replica
    /// with the driver holds it, and its resources wait).
    pub holder: Option<String>,
    /// The provider lease's epoch (0 on SQLite).
    pub epoch: i64,
    /// Since when the holder holds it.
    pub since: Option<DateTime<Utc>>,
}

/// Shared by the leader loop (writes) and the API and metrics (read).
pub struct Leadership {
    status: RwLock<LeaderStatus>,
}

impl Leadership {
    /// The single SQLite process: leader from now on, of every provider it has a driver
    /// for (`providers`).
    pub fn single(replica: String, providers: &[Provider]) -> Arc<Leadership> {
        let since = Some(Utc::now());
        Arc::new(Leadership {
            status: RwLock::new(LeaderStatus {
                holder: Some(replica.clone()),
                providers: providers
                    .iter()
                    .map(|p| ProviderLeader {
                        provider: p.as_str().into(),
                        driver: true,
                        leader: true,
                        holder: Some(replica.clone()),
                        epoch: 0,
                        since,
                    })
                    .collect(),
                replica,
                store: "sqlite".into(),
                leader: true,
                epoch: 0,
                since,
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
                providers: Vec::new(),
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

/// Starts one lease term's controller for the resources of `scope` (`NoProvider`: the
/// controller lease, which also runs the leader's other tasks), on the given (fenced)
/// store: the controller's handle and every task of the term.
pub type StartController =
    Box<dyn Fn(Scope, Arc<dyn Store>) -> (ControllerHandle, Vec<JoinHandle<()>>) + Send + Sync>;

/// The controller of one lease term, the leader's other tasks, and the feed that wakes
/// the controller; all stop on drop.
struct Term {
    epoch: i64,
    handle: ControllerHandle,
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

/// Starts the leader loop of a replica on PostgreSQL that has drivers for `providers`.
/// `api` is the API's controller handle: it follows the controllers of every lease this
/// replica holds, and is idle while it holds none.
pub fn lead_on_postgres(
    store: PgStore,
    feed: AuditFeed,
    api: ControllerHandle,
    providers: Vec<Provider>,
    start: StartController,
) -> (Arc<Leadership>, LeaderLoop) {
    let replica = replica_name();
    let leadership = Leadership::follower(replica.clone());
    let leader = Leader {
        store: store.clone(),
        feed,
        replica: replica.clone(),
        leadership: leadership.clone(),
        api,
        start,
        providers,
    };
    let task = tokio::spawn(leader.run());
    (
        leadership,
        LeaderLoop {
            task,
            store,
            replica,
        },
    )
}

/// What a replica's leader loop works with.
struct Leader {
    store: PgStore,
    feed: AuditFeed,
    replica: String,
    leadership: Arc<Leadership>,
    api: ControllerHandle,
    start: StartController,
    /// The providers this replica has a driver for: the only ones whose leases it claims.
    providers: Vec<Provider>,
}

/// One lease this replica competes for, and its term while it holds it.
struct Claim {
    name: String,
    scope: Scope,
    term: Option<Term>,
    /// When the lease was last renewed (taken before the claim, so the local deadline is
    /// never later than the database's).
    renewed: Instant,
}

impl Leader {
    async fn run(self) {
        let mut claims: Vec<Claim> = std::iter::once((CONTROLLER.to_string(), Scope::NoProvider))
            .chain(
                self.providers
                    .iter()
                    .map(|p| (provider_lease(p.as_str()), Scope::Provider(*p))),
            )
            .map(|(name, scope)| Claim {
                name,
                scope,
                term: None,
                renewed: Instant::now(),
            })
            .collect();
        let mut tick = tokio::time::interval(RENEW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let mut changed = false;
            for claim in &mut claims {
                changed |= self.renew(claim).await;
            }
            if changed {
                let handles = claims
                    .iter()
                    .filter_map(|c| c.term.as_ref().map(|t| &t.handle));
                self.api.follow(&ControllerHandle::all(handles));
            }
            self.publish(&claims).await;
        }
    }

    /// Claims or renews one lease; starts or stops its term. Whether the term changed.
    async fn renew(&self, claim: &mut Claim) -> bool {
        let asked = Instant::now();
        match self
            .store
            .claim_named_lease(&claim.name, &self.replica, LEASE_TTL)
            .await
        {
            Ok(lease) if lease.live && lease.holder == self.replica => {
                claim.renewed = asked;
                if claim.term.as_ref().map(|t| t.epoch) == Some(lease.epoch) {
                    return false;
                }
                tracing::info!(lease = %claim.name, epoch = lease.epoch, "this replica leads: controller started");
                claim.term = Some(self.start_term(claim, lease.epoch));
                true
            }
            Ok(lease) => {
                let stopped = claim.term.take().is_some();
                if stopped {
                    tracing::warn!(lease = %claim.name, holder = %lease.holder, epoch = lease.epoch, "the lease moved on: controller stopped");
                }
                stopped
            }
            Err(e) => {
                tracing::warn!(lease = %claim.name, error = %e, "could not claim the lease");
                // Past the lease's end without renewal, another replica may lead.
                if claim.term.is_some() && claim.renewed.elapsed() >= LEASE_TTL {
                    claim.term = None;
                    tracing::warn!(lease = %claim.name, "the lease could not be renewed in time: controller stopped");
                    return true;
                }
                false
            }
        }
    }

    fn start_term(&self, claim: &Claim, epoch: i64) -> Term {
        // Subscribed before the controller's first resync: a change after it is delivered.
        let changes = self.feed.subscribe();
        let fenced = Arc::new(self.store.fenced_by(&claim.name, epoch));
        let (handle, mut tasks) = (self.start)(claim.scope, fenced);
        tasks.push(tokio::spawn(follow_feed(changes, handle.clone())));
        Term {
            epoch,
            handle,
            tasks,
        }
    }

    /// Publishes who leads what: this replica's own view of its terms, and every lease's
    /// holder as the database has it.
    async fn publish(&self, claims: &[Claim]) {
        let leases = match self.store.leases().await {
            Ok(leases) => leases,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the controller leases");
                let held = |name: &str| claims.iter().any(|c| c.name == name && c.term.is_some());
                self.leadership.set(|s| {
                    s.leader = held(CONTROLLER);
                    for p in &mut s.providers {
                        p.leader = held(&provider_lease(&p.provider));
                    }
                });
                return;
            }
        };
        let find = |name: &str| leases.iter().find(|l| l.name == name);
        let held = |name: &str| claims.iter().any(|c| c.name == name && c.term.is_some());
        let mut providers: Vec<&'static str> = Provider::ALL
            .iter()
            .filter(|p| self.providers.contains(p) || find(&provider_lease(p.as_str())).is_some())
            .map(|p| p.as_str())
            .collect();
        providers.dedup();
        let live = |l: &Lease| l.live.then(|| (l.holder.clone(), l.since));
        let controller = find(CONTROLLER);
        self.leadership.set(|s| {
            s.leader = held(CONTROLLER);
            s.holder = controller.map(|l| l.holder.clone());
            s.epoch = controller.map_or(0, |l| l.epoch);
            s.since = controller.map(|l| l.since);
            s.providers = providers
                .iter()
                .map(|p| {
                    let lease = find(&provider_lease(p));
                    let holder = lease.and_then(live);
                    ProviderLeader {
                        provider: p.to_string(),
                        driver: self.providers.iter().any(|d| d.as_str() == *p),
                        leader: held(&provider_lease(p)),
                        holder: holder.as_ref().map(|(h, _)| h.clone()),
                        epoch: lease.map_or(0, |l| l.epoch),
                        since: holder.map(|(_, since)| since),
                    }
                })
                .collect();
        });
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
