//! `LocalDriver`: the `local` provider. Holds the naming scheme, the registry of lab VPCs
//! (the customer side of local peerings) and a lock that serialises changes, so two
//! reconciles never edit one namespace's links or firewall at the same time.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use async_trait::async_trait;
use isthmus_core::resources::{Cluster, Network, Peering};
use isthmus_driver::{Driver, NetworkObservation, NodeObservation, PeeringObservation, Teardown};

use crate::errors::driver_error;
use crate::lab::{LabHost, LabVpc};
use crate::names::{Names, DEFAULT_PREFIX};

#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Prefix of every kernel object (4-6 chars starting with `isth`). Tests use their own
    /// so that parallel runs and sweeps never touch each other's objects.
    pub prefix: String,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            prefix: DEFAULT_PREFIX.to_string(),
        }
    }
}

pub struct LocalDriver {
    pub(crate) names: Names,
    pub(crate) labs: Mutex<HashMap<String, LabVpc>>,
    /// The lab's internet: `None` until [`ensure_internet`](Self::ensure_internet); then
    /// its hosts by name.
    pub(crate) internet: Mutex<Option<BTreeMap<String, LabHost>>>,
    pub(crate) changes: tokio::sync::Mutex<()>,
}

impl LocalDriver {
    pub fn new(config: LocalConfig) -> Result<Arc<LocalDriver>> {
        Ok(Arc::new(LocalDriver {
            names: Names::new(&config.prefix)?,
            labs: Mutex::new(HashMap::new()),
            internet: Mutex::new(None),
            changes: tokio::sync::Mutex::new(()),
        }))
    }

    pub fn names(&self) -> &Names {
        &self.names
    }

    /// The namespace of one cluster node (to run a server or a probe inside it).
    pub fn node_namespace(&self, cluster: &Cluster, index: u32) -> String {
        self.names.node_ns(&cluster.id.to_string(), index)
    }

    /// The router namespace of a platform network.
    pub fn router_namespace(&self, network: &Network) -> String {
        self.names.router_ns(&network.id.to_string())
    }
}

#[async_trait]
impl Driver for LocalDriver {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn ensure_network(
        &self,
        network: &Network,
    ) -> isthmus_driver::Result<NetworkObservation> {
        let _guard = self.changes.lock().await;
        self.ensure_network_impl(network)
            .await
            .map_err(driver_error)
    }
    async fn observe_network(
        &self,
        network: &Network,
    ) -> isthmus_driver::Result<NetworkObservation> {
        self.observe_network_impl(network)
            .await
            .map_err(driver_error)
    }
    async fn delete_network(&self, network: &Network) -> isthmus_driver::Result<Teardown> {
        let _guard = self.changes.lock().await;
        self.delete_network_impl(network)
            .await
            .map_err(driver_error)
    }

    async fn ensure_peering(
        &self,
        network: &Network,
        peering: &Peering,
    ) -> isthmus_driver::Result<PeeringObservation> {
        let _guard = self.changes.lock().await;
        self.ensure_peering_impl(network, peering)
            .await
            .map_err(driver_error)
    }
    async fn observe_peering(
        &self,
        network: &Network,
        peering: &Peering,
    ) -> isthmus_driver::Result<PeeringObservation> {
        self.observe_peering_impl(network, peering)
            .await
            .map_err(driver_error)
    }
    async fn delete_peering(
        &self,
        network: &Network,
        peering: &Peering,
    ) -> isthmus_driver::Result<Teardown> {
        let _guard = self.changes.lock().await;
        self.delete_peering_impl(network, peering)
            .await
            .map_err(driver_error)
    }

    async fn ensure_nodes(
        &self,
        network: &Network,
        cluster: &Cluster,
    ) -> isthmus_driver::Result<Vec<NodeObservation>> {
        let _guard = self.changes.lock().await;
        self.ensure_nodes_impl(network, cluster)
            .await
            .map_err(driver_error)
    }
    async fn observe_nodes(
        &self,
        network: &Network,
        cluster: &Cluster,
    ) -> isthmus_driver::Result<Vec<NodeObservation>> {
        self.observe_nodes_impl(network, cluster)
            .await
            .map_err(driver_error)
    }
    async fn delete_nodes(
        &self,
        network: &Network,
        cluster: &Cluster,
    ) -> isthmus_driver::Result<Teardown> {
        let _guard = self.changes.lock().await;
        self.delete_nodes_impl(network, cluster)
            .await
            .map_err(driver_error)
    }
}
