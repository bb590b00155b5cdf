//! Public allow-list entries with an expiry (`expires_at`) leave the list once it passes
//! (the private list takes no expiries: emptied, it would admit every peered source). The
//! task knows each live cluster's earliest expiry: it reads them all once when it starts,
//! then follows the process's audit feed for clusters written since (on any replica; the
//! controller's own writes are skipped, they never change a list), and otherwise sleeps
//! until the earliest expiry. There it writes the list without the expired entries
//! — through the store's update, so the removal is an audited `cluster.update` by the
//! actor `allowlist-expiry`, it moves the generation, and the controller applies it to
//! the data plane like any access change.
//!
//! It runs where the controller runs: always on SQLite, and on PostgreSQL only on the
//! replica holding the controller lease, writing through the lease's fenced store.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use isthmus_core::kinds::access::unexpired;
use isthmus_core::object::Object;
use isthmus_core::resources::Event;
use isthmus_core::resources::PublicAccessInput;
use isthmus_core::resources::{AllowlistEntry, AllowlistEntryInput, Cluster, ClusterUpdate};
use isthmus_core::Id;
use isthmus_store::api::Api;
use isthmus_store::doc::DELETED;
use isthmus_store::{Actor, ObjectKey, Store};
use tokio::task::JoinHandle;

use crate::audit_feed::{AuditFeed, Next};
use crate::controller::ControllerHandle;

/// Who the audit log names for a removal.
pub const ACTOR: &str = "allowlist-expiry";
/// How long a failed read or removal waits before it is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// Starts the task; it stops when the handle is aborted (with the server, or at the end
/// of a lease term). It hears of written clusters from `feed` instead of polling.
pub fn start(
    store: Arc<dyn Store>,
    controller: ControllerHandle,
    feed: AuditFeed,
) -> JoinHandle<()> {
    tokio::spawn(run(store, controller, feed))
}

async fn run(store: Arc<dyn Store>, controller: ControllerHandle, feed: AuditFeed) {
    let (seq, mut due) = loop {
        match Expiries::load(store.as_ref()).await {
            Ok(loaded) => break loaded,
            Err(e) => tracing::warn!(error = format!("{e:#}"), "allow-list expiries unread"),
        }
        tokio::time::sleep(RETRY).await;
    };
    let mut changes = feed.subscribe_from(seq);
    // Clusters written whose expiry is still to be read (again, after a failed read).
    let mut unread = BTreeSet::new();
    loop {
        let now = Utc::now();
        for id in due.due(now) {
            match remove_expired(store.as_ref(), &controller, id, now).await {
                Ok(next) => due.set(id, next),
                Err(e) => {
                    tracing::info!(error = format!("{e:#}"), cluster = %id, "expiry retried");
                    due.set(id, Some(now + RETRY));
                }
            }
        }
        let mut sleep = due
            .earliest()
            .map(|t| (t - Utc::now()).to_std().unwrap_or_default())
            .unwrap_or(Duration::MAX);
        if !unread.is_empty() {
            sleep = sleep.min(RETRY);
        }
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            next = changes.next() => {
                if let Next::Changes(events) = next {
                    unread.extend(written_clusters(&events));
                }
            }
        }
        unread = due.reread(store.as_ref(), unread).await;
    }
}

/// The clusters whose lists `events` may have changed.
fn written_clusters(events: &[Arc<Event>]) -> impl Iterator<Item = Id> + '_ {
    events
        .iter()
        .filter(|e| e.resource_kind == Cluster::INFO.name && e.actor != Actor::controller().0)
        .filter_map(|e| e.resource_id.parse().ok())
}

/// Each live cluster's earliest public allow-list expiry.
#[derive(Default)]
struct Expiries(BTreeMap<Id, DateTime<Utc>>);

impl Expiries {
    /// Every live cluster's, and the audit log's seq read before them (a write after
    /// it is then in the log, never missed).
    async fn load(store: &dyn Store) -> anyhow::Result<(i64, Expiries)> {
        let seq = store.last_event_seq().await?;
        let mut due = Expiries::default();
        for key in store.list_live().await? {
            if key.kind == Cluster::INFO.name {
                due.set(key.id, earliest_of(store, key.id).await?);
            }
        }
        Ok((seq, due))
    }

    /// Reads the earliest expiry of each cluster in `written`; returns those that could
    /// not be read (tried again later).
    async fn reread(&mut self, store: &dyn Store, written: BTreeSet<Id>) -> BTreeSet<Id> {
        let mut unread = BTreeSet::new();
        for id in written {
            match earliest_of(store, id).await {
                Ok(earliest) => self.set(id, earliest),
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), cluster = %id, "allow-list expiry not read");
                    unread.insert(id);
                }
            }
        }
        unread
    }

    fn set(&mut self, id: Id, earliest: Option<DateTime<Utc>>) {
        match earliest {
            Some(t) => self.0.insert(id, t),
            None => self.0.remove(&id),
        };
    }

    fn earliest(&self) -> Option<DateTime<Utc>> {
        self.0.values().min().copied()
    }

    /// The clusters with an entry expired by `now`.
    fn due(&self, now: DateTime<Utc>) -> Vec<Id> {
        let due = self.0.iter().filter(|(_, t)| **t <= now);
        due.map(|(id, _)| *id).collect()
    }
}

async fn load(store: &dyn Store, id: Id) -> anyhow::Result<Option<Cluster>> {
    let doc = store.docs().get_doc(Cluster::INFO.name, id).await?;
    match doc {
        Some(doc) if doc.status != DELETED => Ok(Some(doc.decode()?)),
        _ => Ok(None),
    }
}

async fn earliest_of(store: &dyn Store, id: Id) -> anyhow::Result<Option<DateTime<Utc>>> {
    let cluster = load(store, id)
        .await
        .with_context(|| format!("read cluster {id}"))?;
    Ok(cluster.and_then(|c| earliest(&c.public_access.allowlist)))
}

fn earliest(list: &[AllowlistEntry]) -> Option<DateTime<Utc>> {
    list.iter().filter_map(|e| e.expires_at).min()
}

/// Writes cluster `id`'s public allow-list without what expired by `now`; returns its
/// next expiry.
async fn remove_expired(
    store: &dyn Store,
    controller: &ControllerHandle,
    id: Id,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let Some(cluster) = load(store, id).await? else {
        return Ok(None);
    };
    let Some((update, kept)) = without_expired(&cluster, now) else {
        return Ok(earliest(&cluster.public_access.allowlist));
    };
    // If-Match: a concurrent write wins, and this is tried again.
    Api::<Cluster>::new(store.docs())
        .update(
            &Actor(ACTOR.into()),
            cluster.project_id,
            id,
            &update,
            Some(cluster.version),
        )
        .await?;
    controller.enqueue(ObjectKey::of::<Cluster>(id));
    Ok(earliest(&kept))
}

/// The update that drops the expired entries of `cluster`'s public allow-list, if any,
/// with the entries it keeps.
fn without_expired(
    cluster: &Cluster,
    now: DateTime<Utc>,
) -> Option<(ClusterUpdate, Vec<AllowlistEntry>)> {
    let (public, gone) = unexpired(&cluster.public_access.allowlist, now);
    let update = ClusterUpdate {
        public_access: Some(PublicAccessInput {
            enabled: cluster.public_access.enabled,
            allowlist: inputs(&public),
        }),
        ..ClusterUpdate::default()
    };
    gone.then_some((update, public))
}

fn inputs(list: &[AllowlistEntry]) -> Vec<AllowlistEntryInput> {
    list.iter()
        .map(|e| AllowlistEntryInput {
            cidr: e.cidr.to_string(),
            comment: e.comment.clone(),
            expires_at: e.expires_at,
        })
        .collect()
}
