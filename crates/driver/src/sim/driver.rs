//! The platform's side of a simulated cloud: the `Driver` the controller calls.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use isthmus_core::customer_actions::platform_network_name;
use isthmus_core::resources::{Cluster, Network, Peering, Provider};

use super::journal::Record;
use super::state::{derived_id, SimNetwork, SimNode};
use super::{handshake, SimClouds};
use crate::{
    Driver, DriverError, NetworkObservation, NetworkState, NodeObservation, NodeState,
    PeeringObservation, PeeringState, Result, Teardown,
};

/// The Azure subscription that holds the platform's VNets.
const AZURE_PLATFORM_SUBSCRIPTION: &str = "5f1c4d2e-9b7a-4c3e-8d21-6a0b1c2d3e4f";

pub(crate) struct SimDriver {
    clouds: Arc<SimClouds>,
    cloud: Provider,
}

impl SimDriver {
    pub(crate) fn new(clouds: Arc<SimClouds>, cloud: Provider) -> Self {
        SimDriver { clouds, cloud }
    }

    /// What every call pays first: the round trip, then any injected fault.
    async fn enter(&self, operation: &str) -> Result<()> {
        debug_assert!(super::OPERATIONS.contains(&operation), "{operation}");
        let latency = self.clouds.latency();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if self.cloud == Provider::Local {
            return Err(DriverError::Unsupported(
                "the simulated clouds have no local provider; use the local driver".into(),
            ));
        }
        if let Some(left) = self.clouds.take_fault(operation) {
            return Err(DriverError::Transient(format!(
                "injected fault in {} {operation} ({left} more to come)",
                self.cloud
            )));
        }
        Ok(())
    }

    fn provider_network_id(&self, network: &Network) -> String {
        match self.cloud {
            Provider::Aws => derived_id("vpc", &network.id.to_string()),
            Provider::Azure => format!(
                "/subscriptions/{AZURE_PLATFORM_SUBSCRIPTION}/resourceGroups/isthmus/providers/Microsoft.Network/virtualNetworks/{}",
                platform_network_name(network.id)
            ),
            _ => platform_network_name(network.id),
        }
    }

    fn observe_network_now(&self, network: &Network) -> NetworkObservation {
        let inner = self.clouds.lock();
        match inner.state.networks.get(&network.id) {
            None => NetworkObservation {
                state: NetworkState::Missing,
                provider_network_id: None,
                message: format!("no {} network for {}", self.cloud, network.id),
            },
            Some(n) if Utc::now() < n.ready_at => NetworkObservation {
                state: NetworkState::Creating,
                provider_network_id: Some(n.provider_network_id.clone()),
                message: format!("{} {} is being created", self.cloud, n.provider_network_id),
            },
            Some(n) => NetworkObservation {
                state: NetworkState::Ready,
                provider_network_id: Some(n.provider_network_id.clone()),
                message: format!("{} {} is available", self.cloud, n.provider_network_id),
            },
        }
    }

    fn observe_nodes_now(&self, cluster: &Cluster) -> Vec<NodeObservation> {
        let inner = self.clouds.lock();
        let existing = inner.state.nodes.get(&cluster.id);
        let now = Utc::now();
        cluster
            .nodes
            .iter()
            .map(|node| {
                let (state, message) = match existing.and_then(|m| m.get(&node.index)) {
                    None => (NodeState::Missing, "no instance".to_string()),
                    Some(n) if now < n.ready_at => (
                        NodeState::Starting,
                        format!("instance at {} is starting", node.ip),
                    ),
                    Some(_) => (
                        NodeState::Running,
                        format!("instance at {} is running", node.ip),
                    ),
                };
                NodeObservation {
                    index: node.index,
                    state,
                    message,
                }
            })
            .collect()
    }
}

/// Clouds report their own failures as errors the driver passes on transiently: the
/// journal could not be written, so the change did not happen and a retry may work.
fn journal_error(e: anyhow::Error) -> DriverError {
    DriverError::Transient(format!(
        "simulated cloud could not record the change: {e:#}"
    ))
}

#[async_trait]
impl Driver for SimDriver {
    fn name(&self) -> &'static str {
        match self.cloud {
            Provider::Aws => "sim-aws",
            Provider::Gcp => "sim-gcp",
            Provider::Azure => "sim-azure",
            Provider::Local => "sim-local",
        }
    }

    async fn ensure_network(&self, network: &Network) -> Result<NetworkObservation> {
        self.enter("ensure_network").await?;
        // The cloud refuses what it does not offer (the API refuses it first).
        if let Err(e) = isthmus_core::clouds::check_region("region", self.cloud, &network.region) {
            return Err(DriverError::Invalid(e.message));
        }
        {
            let mut inner = self.clouds.lock();
            if !inner.state.networks.contains_key(&network.id) {
                let ready_at = Utc::now()
                    + chrono::Duration::from_std(self.clouds.latency()).unwrap_or_default();
                let created = SimNetwork {
                    id: network.id,
                    cloud: self.cloud,
                    provider_network_id: self.provider_network_id(network),
                    region: network.region.clone(),
                    cidr_block: network.cidr_block,
                    ready_at,
                };
                inner
                    .commit(Record::Network(created))
                    .map_err(journal_error)?;
            }
        }
        Ok(self.observe_network_now(network))
    }

    async fn observe_network(&self, network: &Network) -> Result<NetworkObservation> {
        self.enter("observe_network").await?;
        Ok(self.observe_network_now(network))
    }

    async fn delete_network(&self, network: &Network) -> Result<Teardown> {
        self.enter("delete_network").await?;
        let mut inner = self.clouds.lock();
        let Some(net) = inner.state.networks.get(&network.id) else {
            return Ok(Teardown::Done);
        };
        let peerings = inner
            .state
            .peerings
            .values()
            .filter(|p| p.network_id == network.id)
            .count();
        let nodes = inner
            .state
            .nodes
            .values()
            .filter(|m| m.values().any(|n| n.network_id == network.id))
            .count();
        if peerings + nodes > 0 {
            // Like AWS DependencyViolation: the caller removes the dependents first.
            return Err(DriverError::Transient(format!(
                "{} {} still has {peerings} peering connections and {nodes} clusters",
                self.cloud, net.provider_network_id
            )));
        }
        inner
            .commit(Record::NetworkDeleted { id: network.id })
            .map_err(journal_error)?;
        Ok(Teardown::Done)
    }

    async fn ensure_peering(
        &self,
        network: &Network,
        peering: &Peering,
    ) -> Result<PeeringObservation> {
        self.enter("ensure_peering").await?;
        let mut inner = self.clouds.lock();
        let Some(net) = inner.state.networks.get(&network.id).cloned() else {
            return Err(DriverError::Transient(format!(
                "platform network {} does not exist in {}; it must be created first",
                network.id, self.cloud
            )));
        };
        let next = match inner.state.peerings.get(&peering.id) {
            Some(live) if !live.phase.is_terminal() => {
                if handshake::same_spec(live, peering) {
                    return Ok(handshake::observation(live));
                }
                handshake::with_spec(live, peering)
            }
            previous => {
                let attempt = previous.map_or(1, |p| p.attempt + 1);
                handshake::request(&inner.state, &net, peering, attempt)
            }
        };
        let observation = handshake::observation(&next);
        inner.commit(Record::Peering(next)).map_err(journal_error)?;
        Ok(observation)
    }

    async fn observe_peering(
        &self,
        _network: &Network,
        peering: &Peering,
    ) -> Result<PeeringObservation> {
        self.enter("observe_peering").await?;
        let inner = self.clouds.lock();
        Ok(match inner.state.peerings.get(&peering.id) {
            Some(p) => handshake::observation(p),
            None => PeeringObservation {
                state: PeeringState::Missing,
                provider_peering_id: None,
                message: format!("no {} peering connection for {}", self.cloud, peering.id),
            },
        })
    }

    async fn delete_peering(&self, _network: &Network, peering: &Peering) -> Result<Teardown> {
        self.enter("delete_peering").await?;
        let mut inner = self.clouds.lock();
        if inner.state.peerings.contains_key(&peering.id) {
            inner
                .commit(Record::PeeringDeleted { id: peering.id })
                .map_err(journal_error)?;
        }
        Ok(Teardown::Done)
    }

    async fn ensure_nodes(
        &self,
        network: &Network,
        cluster: &Cluster,
    ) -> Result<Vec<NodeObservation>> {
        self.enter("ensure_nodes").await?;
        {
            let mut inner = self.clouds.lock();
            match inner.state.networks.get(&network.id) {
                Some(n) if Utc::now() >= n.ready_at => {}
                _ => {
                    return Err(DriverError::Transient(format!(
                        "{} network for {} is not ready for instances yet",
                        self.cloud, network.id
                    )))
                }
            }
            let ready_at =
                Utc::now() + chrono::Duration::from_std(self.clouds.latency()).unwrap_or_default();
            for node in &cluster.nodes {
                let exists = inner
                    .state
                    .nodes
                    .get(&cluster.id)
                    .is_some_and(|m| m.contains_key(&node.index));
                if !exists {
                    let record = Record::Node(SimNode {
                        cluster: cluster.id,
                        index: node.index,
                        network_id: network.id,
                        ready_at,
                    });
                    inner.commit(record).map_err(journal_error)?;
                }
            }
        }
        Ok(self.observe_nodes_now(cluster))
    }

    async fn observe_nodes(
        &self,
        _network: &Network,
        cluster: &Cluster,
    ) -> Result<Vec<NodeObservation>> {
        self.enter("observe_nodes").await?;
        Ok(self.observe_nodes_now(cluster))
    }

    async fn delete_nodes(&self, _network: &Network, cluster: &Cluster) -> Result<Teardown> {
        self.enter("delete_nodes").await?;
        let mut inner = self.clouds.lock();
        if inner.state.nodes.contains_key(&cluster.id) {
            inner
                .commit(Record::NodesDeleted {
                    cluster: cluster.id,
                })
                .map_err(journal_error)?;
        }
        Ok(Teardown::Done)
    }
}
