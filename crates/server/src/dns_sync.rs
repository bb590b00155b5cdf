//! The platform DNS inside `isthmus serve`: the authoritative server for the zone, loaded
//! with every live cluster at start and kept current by following the audit log, so a
//! created or deleted cluster is visible to the next query within a poll interval.
//!
//! Following the log (rather than hooking every write path) means any change that reaches
//! the store — API, controller, another process on the same database — reaches the zone.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use isthmus_connect::dns::{ClusterRecords, DnsHandle, DnsServer, Zone};
use isthmus_core::resources::Cluster;
use isthmus_core::state::ClusterStatus;
use isthmus_core::ClusterId;
use isthmus_store::{Kind, Resource, ResourceKey, Store};
use tokio::task::JoinHandle;

/// Where `isthmus serve` answers DNS unless told otherwise (UDP and TCP).
pub const DEFAULT_DNS_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8753);
/// How often the audit log is read for cluster changes: well inside the one second in
/// which a change must be visible, and one cheap indexed query when nothing changed.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Events read per query while catching up.
const FEED_BATCH: u32 = 1000;

/// The running DNS server and the task that keeps its zone current; both stop on drop.
pub struct PlatformDns {
    server: DnsHandle,
    follower: JoinHandle<()>,
}

impl PlatformDns {
    /// Starts answering on `listen` for `zone` with every live cluster of every project.
    pub async fn start(
        store: Arc<dyn Store>,
        listen: SocketAddr,
        zone: &str,
    ) -> anyhow::Result<PlatformDns> {
        let server = DnsServer::start(listen, zone)
            .await
            .with_context(|| format!("start the platform DNS for {zone} on {listen}"))?;
        // The seq is read before the clusters: a change in between is then replayed by
        // the follower, never missed (replaying is harmless, records are replaced whole).
        let from_seq = store
            .last_event_seq()
            .await
            .context("read where the audit log ends")?;
        let clusters = live_clusters(store.as_ref())
            .await
            .context("load live clusters into the platform DNS")?;
        tracing::info!(clusters = clusters.len(), "platform DNS zone loaded");
        server.set_clusters(clusters);
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

/// What the zone publishes for a cluster: nothing from the moment its deletion is asked
/// for, so a deleted cluster's names answer NXDOMAIN within a poll interval however long
/// its nodes take to tear down. `public-<id>` exists while public access is enabled (the
/// store gives the endpoint back when it is turned off, so the name goes with it).
fn published(cluster: &Cluster) -> Option<ClusterRecords> {
    let going = matches!(
        cluster.status,
        ClusterStatus::Deleting | ClusterStatus::Deleted
    );
    let public_ip = cluster.public_endpoint.as_ref().map(|e| e.ip);
    (!going).then(|| ClusterRecords::from_cluster(cluster, public_ip))
}

async fn live_clusters(store: &dyn Store) -> anyhow::Result<Vec<ClusterRecords>> {
    let mut records = Vec::new();
    for key in store.list_live().await.context("list live resources")? {
        if key.kind != Kind::Cluster {
            continue;
        }
        if let Some(Resource::Cluster(cluster)) = store
            .load(key)
            .await
            .with_context(|| format!("load cluster {}", key.id))?
        {
            records.extend(published(&cluster));
        }
    }
    Ok(records)
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

/// Applies every cluster change after `seq`; returns the last seq applied.
async fn catch_up(store: &dyn Store, zone: &Zone, mut seq: i64) -> anyhow::Result<i64> {
    loop {
        let events = store
            .events_after(seq, FEED_BATCH)
            .await
            .with_context(|| format!("read the audit log after seq {seq}"))?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(seq);
        };
        // Each cluster once per batch, read as it is now: its latest state is what counts.
        let changed: BTreeSet<ClusterId> = events
            .iter()
            .filter(|e| e.resource_kind == Kind::Cluster.as_str())
            .filter_map(|e| e.resource_id.parse().ok())
            .collect();
        for id in changed {
            refresh(store, zone, id).await?;
        }
        seq = last;
        if events.len() < FEED_BATCH as usize {
            return Ok(seq);
        }
    }
}

async fn refresh(store: &dyn Store, zone: &Zone, id: ClusterId) -> anyhow::Result<()> {
    let key = ResourceKey {
        kind: Kind::Cluster,
        id: id.0,
    };
    let loaded = store
        .load(key)
        .await
        .with_context(|| format!("load cluster {id} for the platform DNS"))?;
    match loaded.as_ref().and_then(|r| match r {
        Resource::Cluster(cluster) => published(cluster),
        _ => None,
    }) {
        Some(records) => zone.upsert(&records),
        None => {
            zone.remove(id);
        }
    }
    Ok(())
}
