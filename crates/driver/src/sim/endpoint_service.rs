//! The platform's side of private endpoints in a simulated cloud: publish the service,
//! carry the operator's decisions (and the allowed principals) to the customers'
//! endpoints, and report them. The customers' side is in `endpoints.rs`.

use async_trait::async_trait;
use isthmus_core::kinds::endpoint_connection::{ConnectionStatus, Decision};
use isthmus_core::kinds::endpoint_service::EndpointService;
use isthmus_core::kinds::principals::allows;
use isthmus_core::resources::Cluster;

use super::driver::{journal_error, SimCloud};
use super::endpoints::{SimEndpoints, SimService};
use super::journal::Record;
use crate::{EndpointServiceObservation, Provisioner, Result, Teardown};

#[async_trait]
impl Provisioner<EndpointService> for SimCloud {
    async fn ensure(&self, s: &EndpointService, _: &Cluster) -> Result<EndpointServiceObservation> {
        self.enter("ensure_endpoint_service").await?;
        let mut inner = self.clouds.lock();
        let service = SimService {
            id: s.id,
            cloud: self.cloud,
            service_name: s.service_name.clone(),
            region: s.region.clone(),
            allowed_principals: s.allowed_principals.clone(),
            acceptance_required: s.acceptance_required,
        };
        if inner.state.endpoints.services.get(&s.id) != Some(&service) {
            inner
                .commit(Record::EndpointService(service))
                .map_err(journal_error)?;
        }
        let changed: Vec<_> = inner
            .state
            .endpoints
            .of(&s.service_name)
            .filter_map(|e| {
                let decision = s
                    .connections
                    .iter()
                    .find(|c| c.endpoint_id == e.endpoint_id)
                    .map(|c| c.decision);
                let open = matches!(
                    e.status,
                    ConnectionStatus::PendingAcceptance | ConnectionStatus::Available
                );
                let (to, why) = if open && !allows(self.cloud, &s.allowed_principals, &e.account) {
                    (
                        ConnectionStatus::Rejected,
                        "the principal is no longer allowed",
                    )
                } else if open && decision == Some(Decision::Rejected) {
                    (
                        ConnectionStatus::Rejected,
                        "rejected by the service provider",
                    )
                } else if e.status == ConnectionStatus::PendingAcceptance
                    && (decision == Some(Decision::Accepted) || !s.acceptance_required)
                {
                    (
                        ConnectionStatus::Available,
                        "accepted by the service provider",
                    )
                } else {
                    return None;
                };
                let mut next = e.clone();
                next.status = to;
                next.message = why.to_string();
                Some(next)
            })
            .collect();
        for e in changed {
            inner.commit(Record::Endpoint(e)).map_err(journal_error)?;
        }
        Ok(observation(&inner.state.endpoints, s))
    }

    async fn observe(
        &self,
        s: &EndpointService,
        _: &Cluster,
    ) -> Result<EndpointServiceObservation> {
        self.enter("observe_endpoint_service").await?;
        let inner = self.clouds.lock();
        Ok(observation(&inner.state.endpoints, s))
    }

    async fn delete(&self, s: &EndpointService, _: &Cluster) -> Result<Teardown> {
        self.enter("delete_endpoint_service").await?;
        let mut inner = self.clouds.lock();
        if inner.state.endpoints.services.contains_key(&s.id) {
            inner
                .commit(Record::EndpointServiceDeleted { id: s.id })
                .map_err(journal_error)?;
        }
        // The customers' endpoints stay, leading nowhere: their cloud says so.
        let orphaned: Vec<_> = inner
            .state
            .endpoints
            .of(&s.service_name)
            .filter(|e| e.status != ConnectionStatus::Failed)
            .cloned()
            .collect();
        for mut e in orphaned {
            e.status = ConnectionStatus::Failed;
            e.message = "the endpoint service was deleted".into();
            inner.commit(Record::Endpoint(e)).map_err(journal_error)?;
        }
        Ok(Teardown::Done)
    }
}

fn observation(endpoints: &SimEndpoints, s: &EndpointService) -> EndpointServiceObservation {
    let published = endpoints.services.contains_key(&s.id);
    EndpointServiceObservation {
        ready: published,
        message: if published {
            format!("published as {}", s.service_name)
        } else {
            format!("{} is not published", s.service_name)
        },
        connections: endpoints
            .of(&s.service_name)
            .map(|e| e.observed())
            .collect(),
    }
}
