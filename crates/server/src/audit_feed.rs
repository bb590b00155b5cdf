//! The one follower of the audit log in a process. Everything that acts on changes (the
//! API caches, the platform DNS, the allow-list expiry, the leader's controller)
//! subscribes to it instead of reading the log on a timer of its own, so the log is read
//! once per change rather than once per follower, and each follower hears of a change
//! as soon as it is read.
//!
//! The feed reads the log when a write in this process committed ([`FeedPoke`], which
//! the caching store pokes after every write) and otherwise every [`POLL`], which is only
//! for writes made elsewhere (another replica, an admin command on the same database).
//! It reads what changed without the objects' bodies (`Store::changes_after`), keeps the
//! last [`KEEP`] changes in memory, and tells subscribers how far it has read; a
//! subscriber that fell further behind than that reads the rest from the store itself.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use isthmus_core::resources::Event;
use isthmus_store::Store;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// How often the log is read when nothing was written in this process: the delay with
/// which other replicas' writes are seen.
pub const POLL: Duration = Duration::from_millis(100);
/// Changes read per query.
const BATCH: u32 = 1000;
/// How long a subscriber that could not read the store waits before it tries again.
const RETRY: Duration = Duration::from_secs(1);
/// Changes kept in memory for subscribers (a few hundred bytes each: no bodies).
const KEEP: usize = 4096;

/// What wakes the feed at once: poked after every write in this process commits.
#[derive(Clone, Default)]
pub struct FeedPoke(Arc<Notify>);

impl FeedPoke {
    /// A write committed: read the log now rather than at the next poll.
    pub fn poke(&self) {
        self.0.notify_one();
    }
}

/// How far the feed has read, and how often a read failed (subscribers that cache must
/// forget what they cannot know to be current).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Progress {
    /// The last seq read.
    head: i64,
    failures: u64,
}

/// The last changes read, oldest first: every change with `from < seq <= head`.
struct Recent {
    from: i64,
    changes: VecDeque<Arc<Event>>,
}

struct Shared {
    store: Arc<dyn Store>,
    recent: RwLock<Recent>,
    progress: watch::Sender<Progress>,
    poke: FeedPoke,
}

/// The process's feed; cheap to clone.
#[derive(Clone)]
pub struct AuditFeed {
    shared: Arc<Shared>,
}

impl AuditFeed {
    /// Starts following `store`'s log from where it ends now; `poke` is what the
    /// process's writes poke. The task stops when the handle is aborted.
    pub async fn start(
        store: Arc<dyn Store>,
        poke: FeedPoke,
    ) -> anyhow::Result<(AuditFeed, JoinHandle<()>)> {
        let head = store
            .last_event_seq()
            .await
            .context("read where the audit log ends")?;
        let (progress, _) = watch::channel(Progress { head, failures: 0 });
        let feed = AuditFeed {
            shared: Arc::new(Shared {
                store,
                recent: RwLock::new(Recent {
                    from: head,
                    changes: VecDeque::new(),
                }),
                progress,
                poke,
            }),
        };
        let task = tokio::spawn(feed.clone().run());
        Ok((feed, task))
    }

    /// Has the feed read the log now (a caller that is about to wait for a change).
    pub fn poke(&self) {
        self.shared.poke.poke();
    }

    /// The last seq the feed has read.
    pub fn head(&self) -> i64 {
        self.shared.progress.borrow().head
    }

    /// Changes after the feed's head from now on.
    pub fn subscribe(&self) -> Subscription {
        self.subscribe_from(self.head())
    }

    /// Changes after `seq` (read by the subscriber before it loaded what it follows, so
    /// a change in between is replayed rather than missed).
    pub fn subscribe_from(&self, seq: i64) -> Subscription {
        let progress = self.shared.progress.subscribe();
        let failures = progress.borrow().failures;
        Subscription {
            feed: self.clone(),
            seq,
            failures,
            progress,
        }
    }

    /// Waits until the feed has read every change committed before the call (on any
    /// replica), and returns the seq it has read to; an error after `timeout`.
    pub async fn caught_up(&self, timeout: Duration) -> anyhow::Result<i64> {
        let target = self
            .shared
            .store
            .last_event_seq()
            .await
            .context("read where the audit log ends")?;
        self.shared.poke.poke();
        let mut progress = self.shared.progress.subscribe();
        let reached = tokio::time::timeout(timeout, progress.wait_for(|p| p.head >= target))
            .await
            .context("the audit feed is behind the log")?
            .context("the audit feed stopped")?;
        Ok(reached.head)
    }

    async fn run(self) {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.shared.poke.0.notified() => {}
            }
            if let Err(error) = self.read().await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    seq = self.head(),
                    "the audit feed could not read the log"
                );
                self.shared.progress.send_modify(|p| p.failures += 1);
            }
        }
    }

    /// Reads everything after the head, a batch at a time, and tells the subscribers.
    async fn read(&self) -> anyhow::Result<()> {
        loop {
            let head = self.head();
            let changes = self
                .shared
                .store
                .changes_after(head, BATCH)
                .await
                .with_context(|| format!("read the audit log after seq {head}"))?;
            let Some(last) = changes.last().map(|e| e.seq) else {
                return Ok(());
            };
            let full = changes.len() >= BATCH as usize;
            {
                let mut recent = self
                    .shared
                    .recent
                    .write()
                    .unwrap_or_else(|e| e.into_inner());
                recent.changes.extend(changes.into_iter().map(Arc::new));
                while recent.changes.len() > KEEP {
                    if let Some(dropped) = recent.changes.pop_front() {
                        recent.from = dropped.seq;
                    }
                }
            }
            self.shared.progress.send_modify(|p| p.head = last);
            if !full {
                return Ok(());
            }
        }
    }

    /// The changes after `seq` up to the head, from memory when they are still held.
    async fn changes_after(&self, seq: i64) -> anyhow::Result<Vec<Arc<Event>>> {
        {
            let recent = self.shared.recent.read().unwrap_or_else(|e| e.into_inner());
            if recent.from <= seq {
                let start = recent.changes.partition_point(|e| e.seq <= seq);
                return Ok(recent.changes.range(start..).cloned().collect());
            }
        }
        // Fell behind what is kept: read the store, up to the head (the rest is in memory
        // by the next call).
        let changes = self
            .shared
            .store
            .changes_after(seq, BATCH)
            .await
            .with_context(|| format!("read the audit log after seq {seq}"))?;
        Ok(changes.into_iter().map(Arc::new).collect())
    }
}

/// One subscriber's place in the feed.
pub struct Subscription {
    feed: AuditFeed,
    /// The last seq handed out.
    seq: i64,
    /// The feed's failures already reported.
    failures: u64,
    progress: watch::Receiver<Progress>,
}

/// What a subscriber hears next.
pub enum Next {
    /// Changes, oldest first (at least one).
    Changes(Vec<Arc<Event>>),
    /// The feed could not read the log: changes made elsewhere may be missed until it
    /// can again (they are delivered then).
    Failed,
}

impl Subscription {
    /// The last seq handed out.
    pub fn seq(&self) -> i64 {
        self.seq
    }

    /// Waits for the next changes (or a failure to read them). Cancel-safe: nothing is
    /// handed out until it is returned.
    pub async fn next(&mut self) -> Next {
        loop {
            let progress = *self.progress.borrow_and_update();
            if progress.failures != self.failures {
                self.failures = progress.failures;
                return Next::Failed;
            }
            if progress.head > self.seq {
                match self.feed.changes_after(self.seq).await {
                    Ok(changes) if !changes.is_empty() => {
                        self.seq = changes.last().map_or(self.seq, |e| e.seq);
                        return Next::Changes(changes);
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(
                            error = format!("{error:#}"),
                            seq = self.seq,
                            "an audit feed subscriber could not catch up"
                        );
                        // Not at once again: the caller would come straight back.
                        tokio::time::sleep(RETRY).await;
                        return Next::Failed;
                    }
                }
            }
            if self.progress.changed().await.is_err() {
                // The feed stopped (the server is stopping): nothing more will come.
                std::future::pending::<()>().await;
            }
        }
    }
}
