//! Drivers: the only code that touches a provider. Every call is idempotent: `ensure_*`
//! makes one step toward the desired state and reports what it sees, `observe_*` only
//! looks, `delete_*` tears down and says whether anything remains.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use isthmus_core::resources::{Cluster, Network, Peering, Provider};

pub mod sim;

pub type Result<T> = std::result::Result<T, DriverError>;

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// Worth retrying with backoff (timeouts, throttling, injected faults).
    #[error("{0}")]
    Transient(String),
    /// Retrying the same call will not help (a bug, a missing capability).
    #[error("{0}")]
    Permanent(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkState {
    /// Asked for, not ready yet.
    Creating,
    Ready,
    /// Nothing exists at the provider.
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkObservation {
    pub state: NetworkState,
    /// The provider's id, e.g. `vpc-0a1b…`.
    pub provider_network_id: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeeringState {
    /// Our request is being created at the provider.
    Requested,
    /// AWS: waits for the customer to accept.
    PendingAcceptance,
    /// GCP: waits for the reciprocal peering; Azure: waits for the role grant.
    PendingPeer,
    Active,
    /// The provider refused the request (e.g. unknown peer VPC, overlapping CIDR).
    Invalid,
    RejectedByPeer,
    DeletedByPeer,
    /// Our side is damaged (drift, e.g. a link or route removed): `ensure` repairs it.
    NeedsRepair,
    /// Nothing exists at the provider for this peering.
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeeringObservation {
    pub state: PeeringState,
    /// e.g. `pcx-…`.
    pub provider_peering_id: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    Starting,
    Running,
    Failed,
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeObservation {
    pub index: u32,
    pub state: NodeState,
    pub message: String,
}

/// The result of a delete: gone, or still tearing down (call again later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Teardown {
    Done,
    InProgress,
}

#[async_trait]
pub trait Driver: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    async fn ensure_network(&self, network: &Network) -> Result<NetworkObservation>;
    async fn observe_network(&self, network: &Network) -> Result<NetworkObservation>;
    async fn delete_network(&self, network: &Network) -> Result<Teardown>;

    /// Requests the peering if it does not exist or is in a terminal state (rejected,
    /// deleted by peer, invalid), and applies the current routes to an existing one.
    async fn ensure_peering(
        &self,
        network: &Network,
        peering: &Peering,
    ) -> Result<PeeringObservation>;
    async fn observe_peering(
        &self,
        network: &Network,
        peering: &Peering,
    ) -> Result<PeeringObservation>;
    async fn delete_peering(&self, network: &Network, peering: &Peering) -> Result<Teardown>;

    async fn ensure_nodes(
        &self,
        network: &Network,
        cluster: &Cluster,
    ) -> Result<Vec<NodeObservation>>;
    async fn observe_nodes(
        &self,
        network: &Network,
        cluster: &Cluster,
    ) -> Result<Vec<NodeObservation>>;
    async fn delete_nodes(&self, network: &Network, cluster: &Cluster) -> Result<Teardown>;
}

/// The driver of each provider.
#[derive(Clone, Default)]
pub struct Drivers {
    by_provider: HashMap<Provider, Arc<dyn Driver>>,
}

impl Drivers {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, provider: Provider, driver: Arc<dyn Driver>) -> Self {
        self.by_provider.insert(provider, driver);
        self
    }

    pub fn get(&self, provider: Provider) -> Result<Arc<dyn Driver>> {
        self.by_provider.get(&provider).cloned().ok_or_else(|| {
            DriverError::Permanent(format!(
                "no driver for provider {provider} in this installation"
            ))
        })
    }
}
