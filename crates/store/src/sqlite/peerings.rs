//! Peerings: routes are checked against the network and every other live peering on it,
//! inside the write transaction, so two peerings can never claim overlapping routes.

use chrono::Utc;
use isthmus_core::resources::{Network, Peering, PeeringCreate, PeeringUpdate};
use isthmus_core::state::PeeringStatus;
use isthmus_core::{rules, CoreError, NetworkId, PeeringId, ProjectId};
use sqlx::SqliteConnection;

use super::codec::Ctx;
use super::{audit, idempotency, rows, SqliteStore};
use crate::{Actor, Created, IdempotencyKey, Page, PageRequest, Result};

/// The network a create request names, which must be in `project`.
pub(crate) async fn network_of_request(
    conn: &mut SqliteConnection,
    project: ProjectId,
    raw_id: &str,
) -> Result<Network> {
    let id: NetworkId = raw_id
        .parse()
        .map_err(|e| CoreError::invalid("network_id", "id-syntax", format!("'{raw_id}' {e}")))?;
    rows::get_in_project(conn, project, id.0).await
}

impl SqliteStore {
    pub(super) async fn create_peering_tx(
        &self,
        actor: &Actor,
        project: ProjectId,
        req: &PeeringCreate,
        idem: Option<&IdempotencyKey>,
    ) -> Result<Created<Peering>> {
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
        let on_network: Vec<Peering> = rows::live_on_network(&mut tx, network.id).await?;
        let now = Utc::now();
        let id = PeeringId(crate::ids::new_id());
        let peering = rules::new_peering(id, project, req, &network, &on_network, now)?;
        rows::insert(&mut tx, &peering).await?;
        audit::log_change(&mut tx, actor, "create", None, &peering, now).await?;
        if let Some(key) = idem {
            idempotency::record(&mut tx, key, &peering).await?;
        }
        tx.commit().await.ctx("commit peering create")?;
        Ok(Created {
            resource: peering,
            replayed: false,
        })
    }

    pub(super) async fn get_peering_rd(
        &self,
        project: ProjectId,
        id: PeeringId,
    ) -> Result<Peering> {
        rows::get_in_project(&mut *self.read().await?, project, id.0).await
    }

    pub(super) async fn list_peerings_rd(
        &self,
        project: ProjectId,
        page: &PageRequest,
    ) -> Result<Page<Peering>> {
        rows::page_in_project(&mut *self.read().await?, project, page).await
    }

    pub(super) async fn update_peering_tx(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: PeeringId,
        req: &PeeringUpdate,
        if_match: Option<u64>,
    ) -> Result<Peering> {
        let mut tx = self.begin_write().await?;
        let current: Peering = rows::get_in_project(&mut tx, project, id.0).await?;
        rows::check_if_match(&current, if_match)?;
        let network: Network = rows::get_in_project(&mut tx, project, current.network_id.0).await?;
        let on_network: Vec<Peering> = rows::live_on_network(&mut tx, network.id).await?;
        let now = Utc::now();
        let mut next = rules::update_peering(&current, req, &network, &on_network, now)?;
        rows::replace(&mut tx, &mut next, current.version).await?;
        audit::log_change(&mut tx, actor, "update", Some(&current), &next, now).await?;
        tx.commit().await.ctx("commit peering update")?;
        Ok(next)
    }

    /// Marks the peering `deleting`; a peering already going away is returned unchanged.
    pub(super) async fn delete_peering_tx(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: PeeringId,
        if_match: Option<u64>,
    ) -> Result<Peering> {
        let mut tx = self.begin_write().await?;
        let current: Peering = rows::get_in_project(&mut tx, project, id.0).await?;
        rows::check_if_match(&current, if_match)?;
        if matches!(
            current.status,
            PeeringStatus::Deleting | PeeringStatus::Deleted
        ) {
            return Ok(current);
        }
        let now = Utc::now();
        let mut next = current.clone();
        next.status = current.status.transition(PeeringStatus::Deleting)?;
        next.status_message = "deleting the peering".into();
        next.updated_at = now;
        rows::replace(&mut tx, &mut next, current.version).await?;
        audit::log_change(&mut tx, actor, "delete", Some(&current), &next, now).await?;
        tx.commit().await.ctx("commit peering delete")?;
        Ok(next)
    }
}
