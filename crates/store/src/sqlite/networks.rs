//! Networks: create (no overlap with a live network of the project), rename, delete
//! (refused while clusters remain; takes the network's peerings down with it).

use chrono::Utc;
use isthmus_core::resources::{Cluster, Network, NetworkCreate, NetworkUpdate, Peering};
use isthmus_core::state::{NetworkStatus, PeeringStatus};
use isthmus_core::{rules, Cidr, NetworkId, ProjectId};

use super::codec::Ctx;
use super::{audit, idempotency, projects, rows, SqliteStore};
use crate::{Actor, Created, IdempotencyKey, Page, PageRequest, Result};

impl SqliteStore {
    pub(super) async fn create_network_tx(
        &self,
        actor: &Actor,
        project: ProjectId,
        req: &NetworkCreate,
        idem: Option<&IdempotencyKey>,
    ) -> Result<Created<Network>> {
        let mut tx = self.begin_write().await?;
        if let Some(key) = idem {
            if let Some(resource) = idempotency::replay(&mut tx, key, project).await? {
                return Ok(Created {
                    resource,
                    replayed: true,
                });
            }
        }
        projects::get(&mut tx, project).await?;
        // Only networks that share addresses with the new CIDR can break the overlap rule;
        // an unparsable CIDR is refused by the rule itself, so it needs none.
        let existing: Vec<Network> = match req.cidr_block.parse::<Cidr>() {
            Ok(c) => rows::live_networks_overlapping(&mut tx, project, c.start(), c.end()).await?,
            Err(_) => Vec::new(),
        };
        let now = Utc::now();
        let id = NetworkId(crate::ids::new_id());
        let network = rules::new_network(id, project, req, &existing, now)?;
        rows::insert(&mut tx, &network).await?;
        audit::log_change(&mut tx, actor, "create", None, &network, now).await?;
        if let Some(key) = idem {
            idempotency::record(&mut tx, key, &network).await?;
        }
        tx.commit().await.ctx("commit network create")?;
        Ok(Created {
            resource: network,
            replayed: false,
        })
    }

    pub(super) async fn get_network_rd(
        &self,
        project: ProjectId,
        id: NetworkId,
    ) -> Result<Network> {
        rows::get_in_project(&mut *self.read().await?, project, id.0).await
    }

    pub(super) async fn list_networks_rd(
        &self,
        project: ProjectId,
        page: &PageRequest,
    ) -> Result<Page<Network>> {
        rows::page_in_project(&mut *self.read().await?, project, page).await
    }

    pub(super) async fn update_network_tx(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: NetworkId,
        req: &NetworkUpdate,
        if_match: Option<u64>,
    ) -> Result<Network> {
        let mut tx = self.begin_write().await?;
        let current: Network = rows::get_in_project(&mut tx, project, id.0).await?;
        rows::check_if_match(&current, if_match)?;
        let now = Utc::now();
        let mut next = rules::update_network(&current, req, now)?;
        rows::replace(&mut tx, &mut next, current.version).await?;
        audit::log_change(&mut tx, actor, "update", Some(&current), &next, now).await?;
        tx.commit().await.ctx("commit network update")?;
        Ok(next)
    }

    /// Marks the network and its live peerings `deleting`; the controller finishes the job.
    /// Deleting a network that is already going away changes nothing.
    pub(super) async fn delete_network_tx(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: NetworkId,
        if_match: Option<u64>,
    ) -> Result<Network> {
        let mut tx = self.begin_write().await?;
        let current: Network = rows::get_in_project(&mut tx, project, id.0).await?;
        rows::check_if_match(&current, if_match)?;
        if matches!(
            current.status,
            NetworkStatus::Deleting | NetworkStatus::Deleted
        ) {
            return Ok(current);
        }
        let clusters: Vec<Cluster> = rows::live_on_network(&mut tx, id).await?;
        rules::check_network_deletable(&current, &clusters)?;
        let now = Utc::now();
        let mut next = current.clone();
        next.status = current.status.transition(NetworkStatus::Deleting)?;
        next.status_message = "deleting the network".into();
        next.updated_at = now;
        rows::replace(&mut tx, &mut next, current.version).await?;
        audit::log_change(&mut tx, actor, "delete", Some(&current), &next, now).await?;
        let peerings: Vec<Peering> = rows::live_on_network(&mut tx, id).await?;
        for peering in peerings {
            if peering.status == PeeringStatus::Deleting {
                continue;
            }
            let mut gone = peering.clone();
            gone.status = peering.status.transition(PeeringStatus::Deleting)?;
            gone.status_message = format!("deleting with network {id}");
            gone.updated_at = now;
            rows::replace(&mut tx, &mut gone, peering.version).await?;
            audit::log_change(&mut tx, actor, "delete", Some(&peering), &gone, now).await?;
        }
        tx.commit().await.ctx("commit network delete")?;
        Ok(next)
    }
}
