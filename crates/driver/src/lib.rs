//! Drivers: the only code that touches a provider. Every call is idempotent: `ensure_*`
//! makes one step toward the desired state and reports what it sees, `observe_*` only
//! looks, `delete_*` tears down and says whether anything remains.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use isthmus_core::resources::{Cluster, Network, Peering, Provider};

pub mod sim;

pub type Result<T> = std::result::Result<T, DriverError>;

/// What went wrong at a provider, classified by what the controller should do about it.
/// The first three may clear on their own and are retried with exponential backoff; the
/// last two will not (retrying the same call gets the same answer): the controller puts the
/// resource into `error` with the reason and tries again only when its spec changes or at
/// the next resync.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// Worth retrying with backoff (timeouts, throttling, a busy kernel, a lost race,
    /// injected faults).
    #[error("{0}")]
    Transient(String),
    /// Something the call works on vanished or is not there (yet): retried with backoff,
    /// the next call sees the current state.
    #[error("{0}")]
    NotFound(String),
    /// Waits for something else to exist or be ready first (the network under a peering, a
    /// lab VPC's router): retried with backoff.
    #[error("{0}")]
    Dependency(String),
    /// The provider (or this host) cannot do this at all: no driver for the provider, no
    /// permission, a kernel feature that is missing. Permanent.
    #[error("{0}")]
    Unsupported(String),
    /// The provider refuses the request as asked (e.g. a CIDR the kernel will not take).
    /// Permanent until the spec changes.
    #[error("{0}")]
    Invalid(String),
}

/// The class of a [`DriverError`], without its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DriverErrorKind {
    Transient,
    NotFound,
    Dependency,
    Unsupported,
    Invalid,
}

impl DriverErrorKind {
    /// Retrying the same call cannot succeed: only a changed spec (or a changed provider,
    /// seen at the next resync) can.
    pub fn is_permanent(self) -> bool {
        matches!(
            self,
            DriverErrorKind::Unsupported | DriverErrorKind::Invalid
        )
    }

    /// The CamelCase reason a condition records for this class.
    pub fn reason(self) -> &'static str {
        match self {
            DriverErrorKind::Transient => "DriverError",
            DriverErrorKind::NotFound => "NotFound",
            DriverErrorKind::Dependency => "DependencyNotReady",
            DriverErrorKind::Unsupported => "Unsupported",
            DriverErrorKind::Invalid => "InvalidRequest",
        }
    }
}

impl DriverError {
    pub fn new(kind: DriverErrorKind, message: impl Into<String>) -> Self {
        let message = message.into();
        match kind {
            DriverErrorKind::Transient => DriverError::Transient(message),
            DriverErrorKind::NotFound => DriverError::NotFound(message),
            DriverErrorKind::Dependency => DriverError::Dependency(message),
            DriverErrorKind::Unsupported => DriverError::Unsupported(message),
            DriverErrorKind::Invalid => DriverError::Invalid(message),
        }
    }

    pub fn kind(&self) -> DriverErrorKind {
        match self {
            DriverError::Transient(_) => DriverErrorKind::Transient,
            DriverError::NotFound(_) => DriverErrorKind::NotFound,
            DriverError::Dependency(_) => DriverErrorKind::Dependency,
            DriverError::Unsupported(_) => DriverErrorKind::Unsupported,
            DriverError::Invalid(_) => DriverErrorKind::Invalid,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            DriverError::Transient(m)
            | DriverError::NotFound(m)
            | DriverError::Dependency(m)
            | DriverError::Unsupported(m)
            | DriverError::Invalid(m) => m,
        }
    }

    /// See [`DriverErrorKind::is_permanent`].
    pub fn is_permanent(&self) -> bool {
        self.kind().is_permanent()
    }
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
            DriverError::Unsupported(format!(
                "no driver for provider {provider} in this installation"
            ))
        })
    }
}
