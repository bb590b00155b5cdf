//! Peerings: routes are checked against the network and every other live peering on it,
//! inside the write transaction, so two peerings can never claim overlapping routes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use isthmus_core::object::Object;
use isthmus_core::resources::{Network, Peering, PeeringCreate, PeeringUpdate};
use isthmus_core::{customer_actions, rules, CoreError, Id, PeeringId, ProjectId};

use super::{network_of_request, owned};
use crate::api::{get_in, Admit, Env};
use crate::doc::Tx;
use crate::Result;

#[async_trait]
impl Admit for Peering {
    type Create = PeeringCreate;
    type Update = PeeringUpdate;

    async fn admit_create(
        tx: &mut dyn Tx,
        project: ProjectId,
        id: Id,
        req: &PeeringCreate,
        _env: &Env,
        now: DateTime<Utc>,
    ) -> Result<Peering> {
        let network = network_of_request(tx, project, &req.network_id).await?;
        let on_network: Vec<Peering> = owned(tx, network.id.0).await?;
        Ok(rules::new_peering(
            PeeringId(id),
            project,
            req,
            &network,
            &on_network,
            now,
        )?)
    }

    async fn admit_update(
        tx: &mut dyn Tx,
        current: &Peering,
        req: &PeeringUpdate,
        now: DateTime<Utc>,
    ) -> Result<Peering> {
        let (_, network) = get_in::<Network>(tx, current.project_id, current.network_id.0).await?;
        let on_network: Vec<Peering> = owned(tx, network.id.0).await?;
        Ok(rules::update_peering(
            current,
            req,
            &network,
            &on_network,
            now,
        )?)
    }

    /// The customer's commands name provider ids (AWS `pcx-…`) that only become known
    /// here, so they are regenerated from the peering and its network on every save.
    async fn admit_status(tx: &mut dyn Tx, next: &mut Peering, observed: &Peering) -> Result<()> {
        next.provider_peering_id = observed.provider_peering_id.clone();
        let network: Network = match tx.get(Network::INFO.name, next.network_id.0).await? {
            Some(doc) => doc.decode()?,
            None => return Err(CoreError::not_found("network", next.network_id).into()),
        };
        next.customer_actions = customer_actions::for_peering(&network, next);
        Ok(())
    }
}
