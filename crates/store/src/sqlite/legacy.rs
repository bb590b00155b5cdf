//! Upgrades of data written by older versions that SQL alone cannot make, run when the
//! store opens (each a no-op once done).

use async_trait::async_trait;
use chrono::Utc;
use isthmus_core::object::Object;
use isthmus_core::resources::Cluster;
use isthmus_core::{rules, Id};

use super::SqliteStore;
use crate::api::put_of;
use crate::doc::{DocStore, Plan, Tx, WriteOp};
use crate::sql::codec::{parse_id, Ctx};
use crate::sql::query::{query, Get};
use crate::sql::Backend;
use crate::{kinds, Actor, Result};

/// Gives an endpoint to every live cluster stored with public access enabled but no
/// address claimed (written before endpoints existed, migration 0004), bumping its
/// generation so the controller opens it. Logs no event, as no one asked for a change.
pub(super) async fn give_public_clusters_endpoints(store: &SqliteStore) -> Result<()> {
    let rows = query(
        "SELECT id FROM resources WHERE kind = 'cluster' AND status NOT IN ('deleting', 'deleted')
           AND json_extract(body, '$.public_access.enabled')
           AND id NOT IN (SELECT resource_id FROM resource_index WHERE index_name = ?1)
         ORDER BY id",
    )
    .bind(isthmus_core::kinds::PUBLIC_IP)
    .fetch_all(&mut *store.read().await?)
    .await
    .ctx("list public clusters without an endpoint")?;
    for row in rows {
        let id: &str = row.try_get("id").ctx("read a cluster id")?;
        let op = GiveEndpoint { id: parse_id(id)? };
        store
            .write(&Actor::controller(), None, Box::new(op))
            .await?;
    }
    Ok(())
}

struct GiveEndpoint {
    id: Id,
}

#[async_trait]
impl WriteOp for GiveEndpoint {
    async fn run(&mut self, tx: &mut dyn Tx) -> Result<Plan> {
        let Some(doc) = tx.get(Cluster::INFO.name, self.id).await? else {
            return Ok(Plan::Put(Vec::new()));
        };
        let stored: Cluster = doc.decode()?;
        let mut cluster = stored.clone();
        kinds::give_endpoint(tx, &mut cluster).await?;
        cluster.generation += 1;
        cluster.warnings = rules::cluster_warnings(&cluster);
        Ok(Plan::Put(vec![put_of(
            Some(&stored),
            cluster,
            None,
            Utc::now(),
        )?]))
    }
}
