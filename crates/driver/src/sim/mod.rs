//! Simulated AWS, GCP and Azure: each cloud with its own peering handshake and its own
//! state, kept apart from the Isthmus store (so drift can happen), with configurable
//! latency and injectable faults. The customer-side methods let tests and demos act as
//! the customer's cloud.
//!
//! STUB: signatures fixed; bodies to be written.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use isthmus_core::resources::Provider;
use isthmus_core::PeeringId;
use serde::{Deserialize, Serialize};

use crate::Driver;

#[derive(Debug, Clone, Default)]
pub struct SimConfig {
    /// Added to every driver call, as a cloud API's round trip would be.
    pub latency: Duration,
    /// Where the simulated clouds keep their state (so it survives restarts); None = memory only.
    pub journal: Option<PathBuf>,
}

/// A customer's VPC/VNet in a simulated cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerVpc {
    pub cloud: Provider,
    pub account_id: String,
    pub network_id: String,
    pub region: String,
    pub cidr_block: String,
}

/// What a customer can do on their side of a peering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CustomerActionKind {
    /// AWS: accept the peering connection.
    Accept,
    /// Any cloud: refuse the request.
    Reject,
    /// Any cloud: delete the customer's side of an existing peering (drift).
    DeletePeerSide,
    /// GCP: create the reciprocal peering.
    CreateReciprocal,
    /// Azure: grant the platform's principal the role on the VNet.
    GrantRole,
}

/// The simulated cloud's own view of one peering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimPeeringView {
    pub peering_id: PeeringId,
    pub cloud: Provider,
    pub provider_peering_id: String,
    /// The cloud's own state word (e.g. AWS `pending-acceptance`, GCP `INACTIVE`).
    pub state: String,
    pub routes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("{0}")]
    NotFound(String),
    /// The action does not exist in that cloud or not in the peering's current state.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
}

pub struct SimClouds {}

impl SimClouds {
    pub fn open(_config: SimConfig) -> anyhow::Result<Arc<SimClouds>> {
        Ok(Arc::new(SimClouds {}))
    }
    /// The driver for one simulated cloud (aws, gcp or azure).
    pub fn driver(self: &Arc<Self>, _cloud: Provider) -> Arc<dyn Driver> {
        todo!()
    }
    pub fn create_customer_vpc(&self, _vpc: CustomerVpc) -> Result<CustomerVpc, SimError> {
        todo!()
    }
    pub fn list_customer_vpcs(&self) -> Vec<CustomerVpc> {
        todo!()
    }
    pub fn customer_action(
        &self,
        _peering: PeeringId,
        _action: CustomerActionKind,
    ) -> Result<SimPeeringView, SimError> {
        todo!()
    }
    pub fn peering_view(&self, _peering: PeeringId) -> Option<SimPeeringView> {
        todo!()
    }
    /// Makes the next `count` calls of `operation` (e.g. `ensure_peering`) fail transiently.
    pub fn inject_fault(&self, _operation: &str, _count: u32) {
        todo!()
    }
    pub fn set_latency(&self, _latency: Duration) {
        todo!()
    }
}
