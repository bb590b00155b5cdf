//! What the controller reads and writes: every live resource, and the status fields it
//! owns. `save_status` is a compare-and-swap on the resource version, so a reconcile that
//! worked from a stale read never overwrites a newer spec (it re-reads and tries again).

use std::future::Future;

use chrono::{DateTime, Utc};
use isthmus_core::resources::{Cluster, Network, Peering};
use isthmus_core::state::ClusterStatus;
use isthmus_core::{customer_actions, CoreError, NetworkId};
use sqlx::{Row, SqliteConnection};

use super::codec::{kind_from_str, parse_id, Ctx, StoredResource};
use super::{audit, public_ips, rows, SqliteStore};
use crate::{Actor, Kind, Resource, ResourceKey, Result};

/// The fields the controller owns on a resource, and how they move.
pub(crate) trait StatusFields: StoredResource + Clone {
    /// `stored` with the controller-owned fields of `observed`; status moves through the
    /// state machine.
    fn with_status_of(
        stored: &Self,
        observed: &Self,
        now: DateTime<Utc>,
    ) -> Result<Self, CoreError>;
    fn same_status(a: &Self, b: &Self) -> bool;
    /// Recomputes fields derived from the controller-owned ones (inside the transaction).
    fn refresh_derived<'a>(
        &'a mut self,
        _conn: &'a mut SqliteConnection,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        async { Ok(()) }
    }
}

impl StatusFields for Network {
    fn with_status_of(
        stored: &Self,
        observed: &Self,
        now: DateTime<Utc>,
    ) -> Result<Self, CoreError> {
        let mut next = stored.clone();
        next.status = stored.status.transition(observed.status)?;
        next.status_message = observed.status_message.clone();
        next.conditions = observed.conditions.clone();
        next.observed_generation = observed.observed_generation;
        next.provider_network_id = observed.provider_network_id.clone();
        next.updated_at = now;
        Ok(next)
    }
    fn same_status(a: &Self, b: &Self) -> bool {
        a.status == b.status
    }
}

impl StatusFields for Peering {
    fn with_status_of(
        stored: &Self,
        observed: &Self,
        now: DateTime<Utc>,
    ) -> Result<Self, CoreError> {
        let mut next = stored.clone();
        next.status = stored.status.transition(observed.status)?;
        next.status_message = observed.status_message.clone();
        next.conditions = observed.conditions.clone();
        next.observed_generation = observed.observed_generation;
        next.provider_peering_id = observed.provider_peering_id.clone();
        next.updated_at = now;
        Ok(next)
    }
    fn same_status(a: &Self, b: &Self) -> bool {
        a.status == b.status
    }
    /// The customer's commands name provider ids (AWS `pcx-…`) that only become known
    /// here, so they are regenerated from the peering and its network on every save.
    async fn refresh_derived(&mut self, conn: &mut SqliteConnection) -> Result<()> {
        let network: Network = rows::get_any(conn, self.network_id.0)
            .await?
            .ok_or_else(|| CoreError::not_found("network", self.network_id))?;
        self.customer_actions = customer_actions::for_peering(&network, self);
        Ok(())
    }
}

impl StatusFields for Cluster {
    fn with_status_of(
        stored: &Self,
        observed: &Self,
        now: DateTime<Utc>,
    ) -> Result<Self, CoreError> {
        let mut next = stored.clone();
        next.status = stored.status.transition(observed.status)?;
        next.status_message = observed.status_message.clone();
        next.conditions = observed.conditions.clone();
        next.observed_generation = observed.observed_generation;
        // Node addresses belong to the spec; only each node's status is observed.
        for node in &mut next.nodes {
            if let Some(seen) = observed.nodes.iter().find(|n| n.index == node.index) {
                node.status = node.status.transition(seen.status)?;
            }
        }
        next.updated_at = now;
        Ok(next)
    }
    fn same_status(a: &Self, b: &Self) -> bool {
        a.status == b.status
    }
    /// A deleted cluster gives its public address back to the pool.
    async fn refresh_derived(&mut self, conn: &mut SqliteConnection) -> Result<()> {
        if self.status == ClusterStatus::Deleted {
            self.public_endpoint = None;
            public_ips::release(conn, self.id).await?;
        }
        Ok(())
    }
}

impl SqliteStore {
    pub(super) async fn list_live_rd(&self) -> Result<Vec<ResourceKey>> {
        let rows =
            sqlx::query("SELECT kind, id FROM resources WHERE status != 'deleted' ORDER BY id")
                .fetch_all(&mut *self.read().await?)
                .await
                .ctx("list live resources")?;
        rows.iter()
            .map(|row| {
                Ok(ResourceKey {
                    kind: kind_from_str(row.try_get("kind").ctx("read resource kind")?)?,
                    id: parse_id(row.try_get("id").ctx("read resource id")?)?,
                })
            })
            .collect()
    }

    pub(super) async fn load_rd(&self, key: ResourceKey) -> Result<Option<Resource>> {
        let mut conn = self.read().await?;
        Ok(match key.kind {
            Kind::Network => rows::get_any::<Network>(&mut conn, key.id)
                .await?
                .map(Resource::Network),
            Kind::Peering => rows::get_any::<Peering>(&mut conn, key.id)
                .await?
                .map(Resource::Peering),
            Kind::Cluster => rows::get_any::<Cluster>(&mut conn, key.id)
                .await?
                .map(Resource::Cluster),
        })
    }

    pub(super) async fn peerings_of_rd(&self, network: NetworkId) -> Result<Vec<Peering>> {
        rows::live_on_network(&mut *self.read().await?, network).await
    }

    pub(super) async fn clusters_of_rd(&self, network: NetworkId) -> Result<Vec<Cluster>> {
        rows::live_on_network(&mut *self.read().await?, network).await
    }

    pub(super) async fn save_status_tx(
        &self,
        actor: &Actor,
        resource: &Resource,
    ) -> Result<Resource> {
        Ok(match resource {
            Resource::Network(n) => Resource::Network(self.save_status_of(actor, n).await?),
            Resource::Peering(p) => Resource::Peering(self.save_status_of(actor, p).await?),
            Resource::Cluster(c) => Resource::Cluster(self.save_status_of(actor, c).await?),
        })
    }

    async fn save_status_of<R: StatusFields>(&self, actor: &Actor, observed: &R) -> Result<R> {
        let mut tx = self.begin_write().await?;
        let stored: R = rows::get_any(&mut tx, observed.id())
            .await?
            .ok_or_else(|| CoreError::not_found(R::KIND.as_str(), observed.id()))?;
        if stored.version() != observed.version() {
            return Err(CoreError::VersionMismatch {
                kind: R::KIND.as_str(),
                id: stored.id().to_string(),
                expected: observed.version(),
                actual: stored.version(),
            }
            .into());
        }
        let now = Utc::now();
        let mut next = R::with_status_of(&stored, observed, now)?;
        next.refresh_derived(&mut tx).await?;
        rows::replace(&mut tx, &mut next, stored.version()).await?;
        if !R::same_status(&stored, &next) {
            audit::log_change(&mut tx, actor, "status", Some(&stored), &next, now).await?;
        }
        tx.commit().await.ctx("commit status")?;
        Ok(next)
    }
}
