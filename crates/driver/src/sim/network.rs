//! Networks in a simulated cloud: created at once, ready after the configured latency;
//! a network with peerings or nodes left cannot be deleted (like AWS's
//! DependencyViolation).

use async_trait::async_trait;
use chrono::Utc;
use isthmus_core::resources::Network;

use super::driver::{journal_error, SimCloud};
use super::journal::Record;
use super::state::SimNetwork;
use crate::{DriverError, NetworkObservation, NetworkState, Provisioner, Result, Teardown};

impl SimCloud {
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
}

#[async_trait]
impl Provisioner<Network> for SimCloud {
    async fn ensure(&self, network: &Network, _: &()) -> Result<NetworkObservation> {
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

    async fn observe(&self, network: &Network, _: &()) -> Result<NetworkObservation> {
        self.enter("observe_network").await?;
        Ok(self.observe_network_now(network))
    }

    async fn delete(&self, network: &Network, _: &()) -> Result<Teardown> {
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
}
