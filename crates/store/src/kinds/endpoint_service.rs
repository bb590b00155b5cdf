//! Endpoint services: the cluster (in the project, not going away) and its other live
//! services (the cap per cluster) are read inside the write transaction; decisions on
//! connections are writes of the service, under its version, so an operator's accept and
//! the controller's observation never overwrite each other.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use isthmus_core::customer_actions::endpoint_service::for_endpoint_service;
use isthmus_core::kinds::endpoint_service::{
    change_endpoint_service, new_endpoint_service, EndpointService, EndpointServiceChange,
    EndpointServiceCreate,
};
use isthmus_core::resources::{Cluster, Network};
use isthmus_core::{ClusterId, CoreError, EndpointServiceId, Id, ProjectId};

use super::owned;
use crate::api::{get_in, Admit, Env};
use crate::doc::Tx;
use crate::Result;

#[async_trait]
impl Admit for EndpointService {
    type Create = EndpointServiceCreate;
    type Update = EndpointServiceChange;

    async fn admit_create(
        tx: &mut dyn Tx,
        project: ProjectId,
        id: Id,
        req: &EndpointServiceCreate,
        _env: &Env,
        now: DateTime<Utc>,
    ) -> Result<EndpointService> {
        let raw = &req.cluster_id;
        let cluster_id: ClusterId = raw
            .parse()
            .map_err(|e| CoreError::invalid("cluster_id", "id-syntax", format!("'{raw}' {e}")))?;
        let (_, cluster) = get_in::<Cluster>(tx, project, cluster_id.0).await?;
        let (_, network) = get_in::<Network>(tx, project, cluster.network_id.0).await?;
        let on_cluster: Vec<EndpointService> = owned(tx, cluster.id.0).await?;
        Ok(new_endpoint_service(
            EndpointServiceId(id),
            project,
            req,
            &cluster,
            &network,
            &on_cluster,
            now,
        )?)
    }

    async fn admit_update(
        _tx: &mut dyn Tx,
        current: &EndpointService,
        change: &EndpointServiceChange,
        now: DateTime<Utc>,
    ) -> Result<EndpointService> {
        Ok(change_endpoint_service(current, change, now)?)
    }

    /// The connections are what the provider reports (merged by the controller with the
    /// decisions it read, at this same version); the customer's commands follow them.
    async fn admit_status(
        _tx: &mut dyn Tx,
        next: &mut EndpointService,
        observed: &EndpointService,
    ) -> Result<()> {
        next.connections = observed.connections.clone();
        next.customer_actions = for_endpoint_service(next);
        Ok(())
    }
}
