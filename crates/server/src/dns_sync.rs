//! The platform DNS inside `isthmus serve`: the authoritative server for the zone, loaded
//! at start with the record sets of every live object whose kind publishes names (the
//! registry says which: [`ErasedKind::dns_records`](crate::kinds::ErasedKind)), and kept
//! current by following the process's audit feed, so a created, changed or deleted object
//! is visible to the next query as soon as its write commits here, or within the feed's
//! poll interval when another replica wrote it.
//!
//! Following the log (rather than hooking every write path) means any change that reaches
//! the store — API, controller, another process on the same database — reaches the zone.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use isthmus_connect::dns::{DnsHandle, DnsServer, Publisher, RecordSet, Zone};
use isthmus_core::Id;
use isthmus_store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::audit_feed::{AuditFeed, Next, Subscription};
use crate::dns_records::RecordSetsOfBody;
use crate::kinds;

/// Where `isthmus serve` answers DNS unless told otherwise (UDP and TCP).
pub const DEFAULT_DNS_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8753);
/// How soon an object whose record sets could not be read is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// The running DNS server and the task that keeps its zone current; both stop on drop.
pub struct PlatformDns {
    server: DnsHandle,
    follower: JoinHandle<()>,
    sync: DnsSync,
}

/// Waits for the zone to hold every change written so far: what `--wait` uses so that a
/// name it waited for resolves the moment it returns (the follower alone may lag a poll).
#[derive(Clone)]
pub struct DnsSync {
    store: Arc<dyn Store>,
    /// The last audit-log seq the zone has applied.
    applied: watch::Receiver<i64>,
    /// Has the log read now rather than at the feed's next poll.
    feed: AuditFeed,
}

impl DnsSync {
    /// The last audit-log seq the zone applied: it moves when the log grows, so a task
    /// that acts on changes can wait on it rather than poll the log itself.
    pub fn applied(&self) -> watch::Receiver<i64> {
        self.applied.clone()
    }

    /// Returns the seq applied once every event written before the call is in the zone,
    /// or an error after `timeout`.
    pub async fn caught_up(&self, timeout: Duration) -> anyhow::Result<i64> {
        let target = self
            .store
            .last_event_seq()
            .await
            .context("read where the audit log ends")?;
        self.feed.poke();
        let mut applied = self.applied.clone();
        let reached = tokio::time::timeout(timeout, applied.wait_for(|seq| *seq >= target))
            .await
            .context("the platform DNS is behind the audit log")?
            .context("the platform DNS follower stopped")?;
        Ok(*reached)
    }
}

impl PlatformDns {
    /// Starts answering on `listen` for `zone` with the names of every live object of
    /// every project.
    pub async fn start(
        store: Arc<dyn Store>,
        feed: &AuditFeed,
        listen: SocketAddr,
        zone: &str,
    ) -> anyhow::Result<PlatformDns> {
        let server = DnsServer::start(listen, zone)
            .await
            .with_context(|| format!("start the platform DNS for {zone} on {listen}"))?;
        // The seq is read before the objects: a change in between is then replayed by
        // the follower, never missed (replaying is harmless, record sets are replaced whole).
        let from_seq = store
            .last_event_seq()
            .await
            .context("read where the audit log ends")?;
        let published = live_record_sets(store.as_ref())
            .await
            .context("load the names of live objects into the platform DNS")?;
        tracing::info!(publishers = published.len(), "platform DNS zone loaded");
        server.zone().set_record_sets(published);
        let (applied_tx, applied) = watch::channel(from_seq);
        let sync = DnsSync {
            store: store.clone(),
            applied,
            feed: feed.clone(),
        };
        let changes = feed.subscribe_from(from_seq);
        let follower = tokio::spawn(follow(store, server.zone(), changes, applied_tx));
        Ok(PlatformDns {
            server,
            follower,
            sync,
        })
    }

    /// The handle that waits for the zone to catch up with the store.
    pub fn sync(&self) -> DnsSync {
        self.sync.clone()
    }

    /// The zone's records, to answer from other sockets too (lab VPC resolvers).
    pub fn zone(&self) -> Arc<Zone> {
        self.server.zone()
    }

    /// Where the server answers (the real port when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }
}

impl Drop for PlatformDns {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

/// The registered kind called `name` and how its objects become record sets, if it
/// publishes any.
fn publishing_kind(name: &str) -> Option<(&'static str, RecordSetsOfBody)> {
    let kind = kinds::kind(name)?;
    Some((kind.info().name, kind.dns_records()?))
}

/// What one object publishes now: nothing once it is gone from the store. An object the
/// kind cannot read publishes nothing and is reported, rather than holding up every other
/// name behind a retry that would fail the same way.
async fn record_sets_now(
    store: &dyn Store,
    kind: &'static str,
    id: Id,
    record_sets: RecordSetsOfBody,
) -> anyhow::Result<Vec<RecordSet>> {
    let Some(body) = load_body(store, kind, id).await? else {
        return Ok(Vec::new());
    };
    Ok(record_sets(&body).unwrap_or_else(|error| {
        let error = format!("{error:#}");
        tracing::warn!(error, kind, %id, "not published in the platform DNS");
        Vec::new()
    }))
}

/// The stored JSON of one object, as the document store holds it.
async fn load_body(store: &dyn Store, kind: &str, id: Id) -> anyhow::Result<Option<String>> {
    let doc = store
        .docs()
        .get_doc(kind, id)
        .await
        .with_context(|| format!("load {kind} {id} for the platform DNS"))?;
    Ok(doc.map(|doc| doc.body))
}

/// Every live object that publishes names, with its record sets.
async fn live_record_sets(store: &dyn Store) -> anyhow::Result<Vec<(Publisher, Vec<RecordSet>)>> {
    let mut published = Vec::new();
    for key in store.list_live().await.context("list live resources")? {
        let Some((kind, record_sets)) = publishing_kind(key.kind) else {
            continue;
        };
        let sets = record_sets_now(store, kind, key.id, record_sets).await?;
        if !sets.is_empty() {
            published.push((Publisher { kind, id: key.id }, sets));
        }
    }
    Ok(published)
}

/// Applies the audit feed's changes forever. An object whose record sets could not be
/// read is tried again every [`RETRY`]; the applied seq moves only when nothing is left
/// to retry, so `caught_up` never reports a zone that misses a change.
async fn follow(
    store: Arc<dyn Store>,
    zone: Arc<Zone>,
    mut changes: Subscription,
    applied: watch::Sender<i64>,
) {
    let mut pending: BTreeSet<(&'static str, Id)> = BTreeSet::new();
    loop {
        let next = if pending.is_empty() {
            Some(changes.next().await)
        } else {
            tokio::time::timeout(RETRY, changes.next()).await.ok()
        };
        if let Some(Next::Changes(events)) = next {
            // Each object once per batch, read as it is now: its latest state is what counts.
            pending.extend(events.iter().filter_map(|e| {
                let (kind, _) = publishing_kind(&e.resource_kind)?;
                Some((kind, e.resource_id.parse().ok()?))
            }));
        }
        let mut failed = BTreeSet::new();
        for (kind, id) in std::mem::take(&mut pending) {
            if let Err(error) = refresh(store.as_ref(), &zone, kind, id).await {
                tracing::warn!(error = format!("{error:#}"), kind, %id, "platform DNS sync failed");
                failed.insert((kind, id));
            }
        }
        pending = failed;
        if pending.is_empty() {
            applied.send_replace(changes.seq());
        }
    }
}

/// Replaces what one object publishes with what it publishes now (nothing once deleted).
async fn refresh(store: &dyn Store, zone: &Zone, kind: &'static str, id: Id) -> anyhow::Result<()> {
    let Some((kind, record_sets)) = publishing_kind(kind) else {
        return Ok(());
    };
    let sets = record_sets_now(store, kind, id, record_sets).await?;
    zone.publish(Publisher { kind, id }, sets);
    Ok(())
}
