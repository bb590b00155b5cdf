//! Public allow-list entries with an expiry (`expires_at`) leave the list once it passes
//! (the private list takes no expiries: emptied, it would admit every peered source): a
//! task looks at every live cluster each tick and, where an entry has expired, writes the
//! list without it — through the store's update, so the
//! removal is an audited `cluster.update` by the actor `allowlist-expiry`, it moves the
//! generation, and the controller applies it to the data plane like any access change.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use isthmus_core::kinds::access::unexpired;
use isthmus_core::object::Object;
use isthmus_core::resources::PublicAccessInput;
use isthmus_core::resources::{AllowlistEntry, AllowlistEntryInput, Cluster, ClusterUpdate};
use isthmus_store::api::Api;
use isthmus_store::{Actor, ObjectKey, Store};
use tokio::task::JoinHandle;

use crate::controller::ControllerHandle;

/// How often expiries are looked for: an expired entry admits for at most about this long.
const TICK: Duration = Duration::from_secs(1);

/// Who the audit log names for a removal.
pub const ACTOR: &str = "allowlist-expiry";

/// Starts the task; it stops when the handle is aborted (with the server).
pub fn start(store: Arc<dyn Store>, controller: ControllerHandle) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = sweep(store.as_ref(), &controller, Utc::now()).await {
                tracing::warn!(error = format!("{e:#}"), "allow-list expiry sweep failed");
            }
        }
    })
}

/// Removes what expired by `now` from every live cluster; returns how many changed.
pub async fn sweep(
    store: &dyn Store,
    controller: &ControllerHandle,
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let mut changed = 0;
    let clusters = store.list_live().await?;
    for key in clusters
        .into_iter()
        .filter(|k| k.kind == Cluster::INFO.name)
    {
        let Some(doc) = store.docs().get_doc(key.kind, key.id).await? else {
            continue;
        };
        let cluster: Cluster = doc.decode()?;
        let Some(update) = without_expired(&cluster, now) else {
            continue;
        };
        // If-Match: a concurrent write wins; the next tick looks again.
        let written = Api::<Cluster>::new(store.docs())
            .update(
                &Actor(ACTOR.into()),
                cluster.project_id,
                key.id,
                &update,
                Some(cluster.version),
            )
            .await;
        match written {
            Ok(_) => {
                changed += 1;
                controller.enqueue(ObjectKey::of::<Cluster>(key.id));
            }
            Err(e) => tracing::info!(error = %e, cluster = %key.id, "expiry retried next tick"),
        }
    }
    Ok(changed)
}

/// The update that drops the expired entries of `cluster`'s public allow-list, if any.
fn without_expired(cluster: &Cluster, now: DateTime<Utc>) -> Option<ClusterUpdate> {
    let (public, gone) = unexpired(&cluster.public_access.allowlist, now);
    gone.then(|| ClusterUpdate {
        public_access: Some(PublicAccessInput {
            enabled: cluster.public_access.enabled,
            allowlist: inputs(&public),
        }),
        ..ClusterUpdate::default()
    })
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
