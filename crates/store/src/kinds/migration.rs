//! Migrations: the target cluster (in the project, running NATS) and its network are read
//! inside the write transaction, with every address the network has handed out (nodes of
//! its clusters, other replicators), so the replicator's address is free when admitted.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use isthmus_core::kinds::migration::{
    new_migration, update_migration, Migration, MigrationCreate, MigrationUpdate,
};
use isthmus_core::resources::{Cluster, Network};
use isthmus_core::{ClusterId, CoreError, Id, MigrationId, ProjectId};

use super::owned;
use crate::api::{get_in, Admit, Env};
use crate::doc::Tx;
use crate::Result;

#[async_trait]
impl Admit for Migration {
    type Create = MigrationCreate;
    type Update = MigrationUpdate;

    async fn admit_create(
        tx: &mut dyn Tx,
        project: ProjectId,
        id: Id,
        req: &MigrationCreate,
        _env: &Env,
        now: DateTime<Utc>,
    ) -> Result<Migration> {
        let raw = &req.target_cluster_id;
        let cluster_id: ClusterId = raw.parse().map_err(|e| {
            CoreError::invalid("target_cluster_id", "id-syntax", format!("'{raw}' {e}"))
        })?;
        let target = get_in::<Cluster>(tx, project, cluster_id.0)
            .await
            .map_err(|e| match e {
                crate::StoreError::Core(CoreError::NotFound { .. }) => CoreError::invalid(
                    "target_cluster_id",
                    "exists",
                    format!("no cluster {cluster_id} in this project"),
                )
                .into(),
                e => e,
            })?
            .1;
        let (_, network) = get_in::<Network>(tx, project, target.network_id.0).await?;
        let mut taken: HashSet<Ipv4Addr> = HashSet::new();
        for cluster in owned::<Cluster>(tx, network.id.0).await? {
            taken.extend(cluster.nodes.iter().map(|n| n.ip));
            let migrations: Vec<Migration> = owned(tx, cluster.id.0).await?;
            taken.extend(migrations.iter().map(|m| m.worker_ip));
        }
        Ok(new_migration(
            MigrationId(id),
            project,
            req,
            &target,
            &network,
            &taken,
            now,
        )?)
    }

    async fn admit_update(
        _tx: &mut dyn Tx,
        current: &Migration,
        req: &MigrationUpdate,
        now: DateTime<Utc>,
    ) -> Result<Migration> {
        Ok(update_migration(current, req, now)?)
    }

    /// What the engine reported, and the cut-over's report, are observed.
    async fn admit_status(
        _tx: &mut dyn Tx,
        next: &mut Migration,
        observed: &Migration,
    ) -> Result<()> {
        next.progress = observed.progress.clone();
        next.cutover = observed.cutover.clone();
        Ok(())
    }
}
