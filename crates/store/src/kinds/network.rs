//! Networks: no overlap with a live network of the project (read from the range claims
//! that meet the new CIDR); only the name may change.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use isthmus_core::kinds::NETWORK_RANGE;
use isthmus_core::resources::{Network, NetworkCreate, NetworkUpdate};
use isthmus_core::{rules, Cidr, CoreError, Id, NetworkId, ProjectId};

use crate::api::{Admit, Env};
use crate::doc::Tx;
use crate::Result;

#[async_trait]
impl Admit for Network {
    type Create = NetworkCreate;
    type Update = NetworkUpdate;

    async fn admit_create(
        tx: &mut dyn Tx,
        project: ProjectId,
        id: Id,
        req: &NetworkCreate,
        _env: &Env,
        now: DateTime<Utc>,
    ) -> Result<Network> {
        if !tx.project_exists(project).await? {
            return Err(CoreError::not_found("project", project).into());
        }
        // Only networks that share addresses with the new CIDR can break the overlap rule;
        // an unparsable CIDR is refused by the rule itself, so it needs none.
        let existing: Vec<Network> = match req.cidr_block.parse::<Cidr>() {
            Ok(c) => {
                let scope = project.to_string();
                let claims = tx
                    .claims_meeting(NETWORK_RANGE, &scope, c.start(), c.end())
                    .await?;
                claims
                    .iter()
                    .map(|c| c.doc.decode())
                    .collect::<Result<_>>()?
            }
            Err(_) => Vec::new(),
        };
        Ok(rules::new_network(
            NetworkId(id),
            project,
            req,
            &existing,
            now,
        )?)
    }

    async fn admit_update(
        _tx: &mut dyn Tx,
        current: &Network,
        req: &NetworkUpdate,
        now: DateTime<Utc>,
    ) -> Result<Network> {
        Ok(rules::update_network(current, req, now)?)
    }

    async fn admit_status(_tx: &mut dyn Tx, next: &mut Network, observed: &Network) -> Result<()> {
        next.provider_network_id = observed.provider_network_id.clone();
        Ok(())
    }
}
