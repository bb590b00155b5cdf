//! Private endpoints in the simulated clouds: the services the platform publishes and
//! the endpoints customers create in their own VPCs, with each cloud's handshake:
//!
//! - an unknown service name (or, on AWS and GCP, one in another region: their services
//!   are regional) is refused when the customer creates the endpoint;
//! - a principal the service does not allow: AWS and Azure refuse the endpoint (the
//!   service is not visible to that account or subscription); GCP creates it and the
//!   connection `NEEDS_ATTENTION` (the project is not on the accept list);
//! - an allowed endpoint waits for acceptance (`pendingAcceptance`, `PENDING`,
//!   `Pending`), or is accepted at once when the service does not require acceptance;
//! - the platform accepts or rejects; removing a principal rejects its endpoints;
//! - the customer deletes the endpoint: the service sees it gone at its next look.

use std::collections::BTreeMap;

use isthmus_core::clouds::{is_aws_account, is_gcp_project, is_guid};
use isthmus_core::kinds::endpoint_connection::{ConnectionStatus, ObservedConnection};
use isthmus_core::kinds::principals::allows;
use isthmus_core::resources::Provider;
use isthmus_core::EndpointServiceId;
use serde::{Deserialize, Serialize};

use super::journal::Record;
use super::state::derived_id;
use super::{SimClouds, SimError};

/// A service the platform published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SimService {
    pub id: EndpointServiceId,
    pub cloud: Provider,
    pub service_name: String,
    pub region: String,
    pub allowed_principals: Vec<String>,
    pub acceptance_required: bool,
}

/// A customer's endpoint, as their cloud keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SimEndpoint {
    pub endpoint_id: String,
    pub cloud: Provider,
    pub account: String,
    pub network: String,
    pub region: String,
    pub service_name: String,
    pub status: ConnectionStatus,
    pub message: String,
}

impl SimEndpoint {
    pub fn observed(&self) -> ObservedConnection {
        ObservedConnection {
            endpoint_id: self.endpoint_id.clone(),
            principal: self.account.clone(),
            network: self.network.clone(),
            provider_state: self.status.provider_word(self.cloud).to_string(),
            message: self.message.clone(),
            connections: 0,
            bytes: 0,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct SimEndpoints {
    pub services: BTreeMap<EndpointServiceId, SimService>,
    pub endpoints: BTreeMap<String, SimEndpoint>,
}

impl SimEndpoints {
    pub fn apply(&mut self, record: Record) {
        match record {
            Record::EndpointService(s) => {
                self.services.insert(s.id, s);
            }
            Record::EndpointServiceDeleted { id } => {
                self.services.remove(&id);
            }
            Record::Endpoint(e) => {
                self.endpoints.insert(e.endpoint_id.clone(), e);
            }
            Record::EndpointDeleted { endpoint_id } => {
                self.endpoints.remove(&endpoint_id);
            }
            _ => {}
        }
    }

    /// The endpoints pointed at `service_name`.
    pub fn of(&self, service_name: &str) -> impl Iterator<Item = &SimEndpoint> {
        let name = service_name.to_string();
        self.endpoints
            .values()
            .filter(move |e| e.service_name == name)
    }
}

/// What a customer asks their cloud for: an endpoint in `network` to `service`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRequest {
    pub cloud: Provider,
    /// AWS account id, GCP project id, Azure subscription id.
    pub account: String,
    pub network: String,
    pub region: String,
    /// The endpoint service's `service_name`.
    pub service: String,
}

/// The customer's cloud's view of one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimEndpointView {
    pub endpoint_id: String,
    pub cloud: Provider,
    pub account: String,
    pub network: String,
    pub service: String,
    /// The cloud's own word for the connection's state.
    pub state: String,
    pub message: String,
}

impl From<&SimEndpoint> for SimEndpointView {
    fn from(e: &SimEndpoint) -> Self {
        SimEndpointView {
            endpoint_id: e.endpoint_id.clone(),
            cloud: e.cloud,
            account: e.account.clone(),
            network: e.network.clone(),
            service: e.service_name.clone(),
            state: e.status.provider_word(e.cloud).to_string(),
            message: e.message.clone(),
        }
    }
}

/// The cloud's id of a new endpoint.
fn endpoint_id(req: &EndpointRequest) -> String {
    let seed = format!(
        "{}/{}/{}/{}",
        req.account,
        req.network,
        req.service,
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let name = derived_id("ep", &seed);
    match req.cloud {
        Provider::Gcp => format!(
            "projects/{}/regions/{}/forwardingRules/{name}",
            req.account, req.region
        ),
        Provider::Azure => format!(
            "/subscriptions/{}/resourceGroups/customer/providers/Microsoft.Network/privateEndpoints/{name}",
            req.account
        ),
        _ => derived_id("vpce", &seed),
    }
}

impl SimClouds {
    /// The customer creates an endpoint to a service, and their cloud answers as it would.
    pub fn create_endpoint(&self, req: EndpointRequest) -> Result<SimEndpointView, SimError> {
        let account_ok = match req.cloud {
            Provider::Aws => is_aws_account(&req.account),
            Provider::Gcp => is_gcp_project(&req.account),
            Provider::Azure => is_guid(&req.account),
            Provider::Local => {
                return Err(SimError::Invalid(
                    "the simulated clouds are aws, gcp and azure; local endpoints are lab endpoints (isthmus lab endpoint create)".into(),
                ))
            }
        };
        if !account_ok {
            return Err(SimError::Invalid(format!(
                "account: '{}' is not a {} account id",
                req.account, req.cloud
            )));
        }
        let mut inner = self.lock();
        let regional = matches!(req.cloud, Provider::Aws | Provider::Gcp);
        let service = inner
            .state
            .endpoints
            .services
            .values()
            .find(|s| {
                s.cloud == req.cloud
                    && s.service_name == req.service
                    && (!regional || s.region == req.region)
            })
            .cloned()
            .ok_or_else(|| SimError::NotFound(unknown_service(&req)))?;
        let allowed = allows(req.cloud, &service.allowed_principals, &req.account);
        let (status, message) = match (allowed, req.cloud) {
            (false, Provider::Gcp) => (
                ConnectionStatus::Failed,
                format!(
                    "project {} is not on the accept list of service attachment {}",
                    req.account, service.service_name
                ),
            ),
            (false, _) => {
                return Err(SimError::Conflict(format!(
                "principal {} is not allowed to connect to {} (the service is not visible to it)",
                req.account, service.service_name
            )))
            }
            (true, _) if service.acceptance_required => (
                ConnectionStatus::PendingAcceptance,
                "waiting for the service provider to accept".into(),
            ),
            (true, _) => (
                ConnectionStatus::Available,
                "accepted automatically (the service does not require acceptance)".into(),
            ),
        };
        let endpoint = SimEndpoint {
            endpoint_id: endpoint_id(&req),
            cloud: req.cloud,
            account: req.account,
            network: req.network,
            region: req.region,
            service_name: service.service_name,
            status,
            message,
        };
        let view = SimEndpointView::from(&endpoint);
        inner
            .commit(Record::Endpoint(endpoint))
            .map_err(|e| SimError::Unavailable(format!("{e:#}")))?;
        Ok(view)
    }

    /// The customer deletes their endpoint.
    pub fn delete_endpoint(&self, endpoint_id: &str) -> Result<SimEndpointView, SimError> {
        let mut inner = self.lock();
        let Some(e) = inner.state.endpoints.endpoints.get(endpoint_id) else {
            return Err(SimError::NotFound(format!("no endpoint {endpoint_id}")));
        };
        let view = SimEndpointView::from(e);
        inner
            .commit(Record::EndpointDeleted {
                endpoint_id: endpoint_id.to_string(),
            })
            .map_err(|e| SimError::Unavailable(format!("{e:#}")))?;
        Ok(view)
    }

    /// The platform's service published as `service_name`, if any: whom to tell when a
    /// customer's endpoint to it comes or goes.
    pub fn endpoint_service_named(&self, service_name: &str) -> Option<EndpointServiceId> {
        let inner = self.lock();
        let services = &inner.state.endpoints.services;
        services
            .values()
            .find(|s| s.service_name == service_name)
            .map(|s| s.id)
    }

    pub fn list_endpoints(&self) -> Vec<SimEndpointView> {
        let inner = self.lock();
        inner
            .state
            .endpoints
            .endpoints
            .values()
            .map(SimEndpointView::from)
            .collect()
    }
}

/// What each cloud says of a service name it does not know (in that region).
fn unknown_service(req: &EndpointRequest) -> String {
    match req.cloud {
        Provider::Aws => format!(
            "InvalidServiceName: The Vpc Endpoint Service '{}' does not exist in {}",
            req.service, req.region
        ),
        Provider::Gcp => format!(
            "The resource '{}' was not found in region {}",
            req.service, req.region
        ),
        _ => format!(
            "PrivateLinkServiceNotFound: no Private Link service has the alias '{}'",
            req.service
        ),
    }
}
