//! The platform DNS inside `isthmus serve`: the authoritative server for the zone, loaded
//! at start with the record sets of every live object whose kind publishes names (the
//! registry says which: [`ErasedKind::dns_records`](crate::kinds::ErasedKind)), and kept
//! current by following the audit log, so a created, changed or deleted object is visible
//! to the next query within a poll interval.
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
use isthmus_store::{Kind, Resource, ResourceKey, Store};
use tokio::task::JoinHandle;

use crate::dns_records::RecordSetsOfBody;
use crate::kinds;

/// Where `isthmus serve` answers DNS unless told otherwise (UDP and TCP).
pub const DEFAULT_DNS_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8753);
/// How often the audit log is read for changes: well inside the one second in which a
/// change must be visible, and one cheap indexed query when nothing changed.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Events read per query while catching up.
const FEED_BATCH: u32 = 1000;

/// The running DNS server and the task that keeps its zone current; both stop on drop.
pub struct PlatformDns {
    server: DnsHandle,
    follower: JoinHandle<()>,
}

impl PlatformDns {
    /// Starts answering on `listen` for `zone` with the names of every live object of
    /// every project.
    pub async fn start(
        store: Arc<dyn Store>,
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
        let follower = tokio::spawn(follow(store, server.zone(), from_seq));
        Ok(PlatformDns { server, follower })
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

/// The stored JSON of one object. A bridge until the document store, which hands bodies
/// out as stored (`DocStore::get_doc`), replaces the typed `Store::load`.
async fn load_body(store: &dyn Store, kind: &str, id: Id) -> anyhow::Result<Option<String>> {
    let Some(kind) = [Kind::Network, Kind::Peering, Kind::Cluster]
        .into_iter()
        .find(|k| k.as_str() == kind)
    else {
        return Ok(None);
    };
    let loaded = store
        .load(ResourceKey { kind, id })
        .await
        .with_context(|| format!("load {} {id} for the platform DNS", kind.as_str()))?;
    let body = match &loaded {
        None => return Ok(None),
        Some(Resource::Network(network)) => serde_json::to_string(network),
        Some(Resource::Peering(peering)) => serde_json::to_string(peering),
        Some(Resource::Cluster(cluster)) => serde_json::to_string(cluster),
        Some(Resource::EndpointService(service)) => serde_json::to_string(service),
    };
    body.map(Some)
        .with_context(|| format!("write {} {id} as JSON", kind.as_str()))
}

/// Every live object that publishes names, with its record sets.
async fn live_record_sets(store: &dyn Store) -> anyhow::Result<Vec<(Publisher, Vec<RecordSet>)>> {
    let mut published = Vec::new();
    for key in store.list_live().await.context("list live resources")? {
        let Some((kind, record_sets)) = publishing_kind(key.kind.as_str()) else {
            continue;
        };
        let sets = record_sets_now(store, kind, key.id, record_sets).await?;
        if !sets.is_empty() {
            published.push((Publisher { kind, id: key.id }, sets));
        }
    }
    Ok(published)
}

/// Reads the audit log after `seq` forever; a failed round is retried on the next tick
/// from the same place.
async fn follow(store: Arc<dyn Store>, zone: Arc<Zone>, mut seq: i64) {
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match catch_up(store.as_ref(), &zone, seq).await {
            Ok(next) => seq = next,
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    seq,
                    "platform DNS sync failed"
                )
            }
        }
    }
}

/// Applies every change of a publishing kind after `seq`; returns the last seq applied.
async fn catch_up(store: &dyn Store, zone: &Zone, mut seq: i64) -> anyhow::Result<i64> {
    loop {
        let events = store
            .events_after(seq, FEED_BATCH)
            .await
            .with_context(|| format!("read the audit log after seq {seq}"))?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(seq);
        };
        // Each object once per batch, read as it is now: its latest state is what counts.
        let changed: BTreeSet<(&'static str, Id)> = events
            .iter()
            .filter_map(|e| {
                let (kind, _) = publishing_kind(&e.resource_kind)?;
                Some((kind, e.resource_id.parse().ok()?))
            })
            .collect();
        for (kind, id) in changed {
            refresh(store, zone, kind, id).await?;
        }
        seq = last;
        if events.len() < FEED_BATCH as usize {
            return Ok(seq);
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
