//! Clusters: node addresses are allocated from the network inside the write transaction,
//! so two clusters never get the same IP; so are public endpoint addresses (installation-wide).

use std::collections::HashSet;
use std::net::Ipv4Addr;

use chrono::Utc;
use isthmus_core::resources::{Cluster, ClusterCreate, ClusterUpdate, Network, Peering};
use isthmus_core::state::ClusterStatus;
use isthmus_core::{rules, ClusterId, ProjectId};

use super::codec::Ctx;
use super::peerings::network_of_request;
use super::{audit, idempotency, public_ips, rows, SqliteStore};
use crate::{Actor, Created, IdempotencyKey, Page, PageRequest, Result};

impl SqliteStore {
    pub(super) async fn create_cluster_tx(
        &self,
        actor: &Actor,
        project: ProjectId,
        req: &ClusterCreate,
        dns_zone: &str,
        idem: Option<&IdempotencyKey>,
    ) -> Result<Created<Cluster>> {
        let mut tx = self.begin_write().await?;
        if let Some(key) = idem {
            if let Some(resource) = idempotency::replay(&mut tx, key, project).await? {
                return Ok(Created {
                    resource,
                    replayed: true,
                });
            }
        }
        let network = network_of_request(&mut tx, project, &req.network_id).await?;
        let on_network: Vec<Cluster> = rows::live_on_network(&mut tx, network.id).await?;
        let taken: HashSet<Ipv4Addr> = on_network
            .iter()
            .flat_map(|c| c.nodes.iter().map(|n| n.ip))
            .collect();
        let now = Utc::now();
        let id = ClusterId(crate::ids::new_id());
        let mut cluster = rules::new_cluster(id, project, req, &network, &taken, dns_zone, now)?;
        if !cluster.egress_allowlist.is_empty() {
            let peerings: Vec<Peering> = rows::live_on_network(&mut tx, network.id).await?;
            let warnings = rules::egress_warnings(&cluster, &network, &peerings);
            cluster.warnings.extend(warnings);
        }
        public_ips::sync(&mut tx, &mut cluster).await?;
        rows::insert(&mut tx, &cluster).await?;
        audit::log_change(&mut tx, actor, "create", None, &cluster, now).await?;
        if let Some(key) = idem {
            idempotency::record(&mut tx, key, &cluster).await?;
        }
        tx.commit().await.ctx("commit cluster create")?;
        Ok(Created {
            resource: cluster,
            replayed: false,
        })
    }

    pub(super) async fn get_cluster_rd(
        &self,
        project: ProjectId,
        id: ClusterId,
    ) -> Result<Cluster> {
        rows::get_in_project(&mut *self.read().await?, project, id.0).await
    }

    pub(super) async fn list_clusters_rd(
        &self,
        project: ProjectId,
        page: &PageRequest,
    ) -> Result<Page<Cluster>> {
        rows::page_in_project(&mut *self.read().await?, project, page).await
    }

    pub(super) async fn update_cluster_tx(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: ClusterId,
        req: &ClusterUpdate,
        if_match: Option<u64>,
    ) -> Result<Cluster> {
        let mut tx = self.begin_write().await?;
        let current: Cluster = rows::get_in_project(&mut tx, project, id.0).await?;
        rows::check_if_match(&current, if_match)?;
        let now = Utc::now();
        let mut next = rules::update_cluster(&current, req, now)?;
        if !next.egress_allowlist.is_empty() {
            let network: Network =
                rows::get_in_project(&mut tx, project, next.network_id.0).await?;
            let peerings: Vec<Peering> = rows::live_on_network(&mut tx, network.id).await?;
            let warnings = rules::egress_warnings(&next, &network, &peerings);
            next.warnings.extend(warnings);
        }
        public_ips::sync(&mut tx, &mut next).await?;
        rows::replace(&mut tx, &mut next, current.version).await?;
        audit::log_change(&mut tx, actor, "update", Some(&current), &next, now).await?;
        tx.commit().await.ctx("commit cluster update")?;
        Ok(next)
    }

    /// Marks the cluster `deleting`; a cluster already going away is returned unchanged.
    pub(super) async fn delete_cluster_tx(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: ClusterId,
        if_match: Option<u64>,
    ) -> Result<Cluster> {
        let mut tx = self.begin_write().await?;
        let current: Cluster = rows::get_in_project(&mut tx, project, id.0).await?;
        rows::check_if_match(&current, if_match)?;
        if matches!(
            current.status,
            ClusterStatus::Deleting | ClusterStatus::Deleted
        ) {
            return Ok(current);
        }
        let now = Utc::now();
        let mut next = current.clone();
        next.status = current.status.transition(ClusterStatus::Deleting)?;
        next.status_message = "deleting the cluster".into();
        next.updated_at = now;
        rows::replace(&mut tx, &mut next, current.version).await?;
        audit::log_change(&mut tx, actor, "delete", Some(&current), &next, now).await?;
        tx.commit().await.ctx("commit cluster delete")?;
        Ok(next)
    }
}
