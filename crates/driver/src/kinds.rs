//! What a provisioner of each kind reports, and what it is handed besides the object
//! (see [`Provisioned`]). A new kind adds its observation and one `Provisioned` impl here.

use isthmus_core::resources::{Cluster, Network, Peering};

use crate::Provisioned;

// ---- networks ----

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

/// A network lives in a project only: its provisioner is handed nothing else.
impl Provisioned for Network {
    type Owner = ();
    type Observation = NetworkObservation;
}

// ---- peerings ----

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

/// A peering is made from its platform network.
impl Provisioned for Peering {
    type Owner = Network;
    type Observation = PeeringObservation;
}

// ---- clusters (their nodes) ----

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

/// A cluster's nodes live on its network; the provider reports each node.
impl Provisioned for Cluster {
    type Owner = Network;
    type Observation = Vec<NodeObservation>;
}

// ---- endpoint services ----

/// What the provider says of an endpoint service and the endpoints connected to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointServiceObservation {
    /// Published: customers can point endpoints at its name.
    pub ready: bool,
    pub message: String,
    /// Every customer endpoint of the service, in the provider's words.
    pub connections: Vec<isthmus_core::kinds::endpoint_connection::ObservedConnection>,
}

/// An endpoint service fronts its cluster's nodes.
impl Provisioned for isthmus_core::kinds::endpoint_service::EndpointService {
    type Owner = Cluster;
    type Observation = EndpointServiceObservation;
}

// ---- migrations (their replicator's place in the target network) ----

/// Where a migration's replicator runs: its target cluster and that cluster's network.
#[derive(Debug, Clone)]
pub struct MigrationPlace {
    pub cluster: Cluster,
    pub network: Network,
}

/// What the provider says of a replicator's place: its address in the network and the
/// egress to the source, opened (or not yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationWorkerObservation {
    pub ready: bool,
    /// Where the replicator process runs (a namespace on `local`), when it has one.
    pub namespace: Option<String>,
    pub message: String,
}

/// A replicator is placed in its target cluster's network.
impl Provisioned for isthmus_core::kinds::migration::Migration {
    type Owner = MigrationPlace;
    type Observation = MigrationWorkerObservation;
}
