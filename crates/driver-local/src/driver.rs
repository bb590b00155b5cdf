//! `LocalDriver`: the `local` provider, and its provisioner of each kind it supports. Holds the naming scheme, the registry of lab VPCs
//! (the customer side of local peerings) and a lock that serialises changes, so two
//! reconciles never edit one namespace's links or firewall at the same time.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use async_trait::async_trait;
use isthmus_core::resources::{Cluster, Network, Peering, Provider};
use isthmus_driver::{
    NetworkObservation, NodeObservation, PeeringObservation, Provisioner, Provisioners, Teardown,
};

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
    /// Lab endpoints (private endpoints inside lab VPCs) by `<vpc>/<name>`.
    pub(crate) endpoints: Mutex<BTreeMap<String, crate::endpoint::LabEndpoint>>,
    pub(crate) changes: tokio::sync::Mutex<()>,
    /// VPN gateways with `dns: push`, by interface: their router namespace and tunnel
    /// address, where the server binds a resolver of the platform zone.
    pub(crate) vpn_dns: Mutex<BTreeMap<String, (String, std::net::Ipv4Addr)>>,
    /// What the access firewalls hold, as applied last (allow-list changes diff against it).
    pub(crate) applied: Arc<crate::applied::Applied>,
}

impl LocalDriver {
    pub fn new(config: LocalConfig) -> Result<Arc<LocalDriver>> {
        Ok(Arc::new(LocalDriver {
            names: Names::new(&config.prefix)?,
            labs: Mutex::new(HashMap::new()),
            internet: Mutex::new(None),
            endpoints: Mutex::new(BTreeMap::new()),
            changes: tokio::sync::Mutex::new(()),
            vpn_dns: Mutex::new(BTreeMap::new()),
            applied: Arc::default(),
        }))
    }

    pub fn names(&self) -> &Names {
        &self.names
    }

    /// The namespace of one cluster node (to run a server or a probe inside it).
    pub fn node_namespace(&self, cluster: &Cluster, index: u32) -> String {
        self.names.node_ns(&cluster.id.to_string(), index)
    }

    /// Where VPN gateways with `dns: push` need a resolver of the platform zone:
    /// (gateway interface, router namespace, tunnel address).
    pub fn vpn_resolvers(&self) -> Vec<(String, String, std::net::Ipv4Addr)> {
        self.vpn_dns
            .lock()
            .expect("vpn dns registry")
            .iter()
            .map(|(iface, (ns, ip))| (iface.clone(), ns.clone(), *ip))
            .collect()
    }

    /// The router namespace of a platform network.
    pub fn router_namespace(&self, network: &Network) -> String {
        self.names.router_ns(&network.id.to_string())
    }
}

// Each call takes the change lock (observations only read), and classifies its error
// for the controller. The work itself is in `network.rs` and `peering.rs`.
impl LocalDriver {
    /// The provisioners of every kind the local provider supports.
    pub fn provisioners(self: &Arc<Self>) -> Provisioners {
        Provisioners::new()
            .with::<Network>(Provider::Local, self.clone())
            .with::<Peering>(Provider::Local, self.clone())
            .with::<Cluster>(Provider::Local, self.clone())
            .with::<isthmus_core::kinds::endpoint_service::EndpointService>(
                Provider::Local,
                self.clone(),
            )
            .with::<isthmus_core::kinds::vpn_gateway::VpnGateway>(Provider::Local, self.clone())
            .with::<isthmus_core::kinds::vpn_client::VpnClient>(Provider::Local, self.clone())
            .with::<isthmus_core::kinds::migration::Migration>(Provider::Local, self.clone())
    }

    pub async fn ensure_network(
        &self,
        network: &Network,
    ) -> isthmus_driver::Result<NetworkObservation> {
        let _guard = self.changes.lock().await;
        self.ensure_network_impl(network)
            .await
            .map_err(driver_error)
    }
    pub async fn observe_network(
        &self,
        network: &Network,
    ) -> isthmus_driver::Result<NetworkObservation> {
        self.observe_network_impl(network)
            .await
            .map_err(driver_error)
    }
    pub async fn delete_network(&self, network: &Network) -> isthmus_driver::Result<Teardown> {
        let _guard = self.changes.lock().await;
        self.delete_network_impl(network)
            .await
            .map_err(driver_error)
    }

    /// Requests the peering if it does not exist, and applies the current routes to an
    /// existing one.
    pub async fn ensure_peering(
        &self,
        network: &Network,
        peering: &Peering,
    ) -> isthmus_driver::Result<PeeringObservation> {
        let _guard = self.changes.lock().await;
        self.ensure_peering_impl(network, peering)
            .await
            .map_err(driver_error)
    }
    pub async fn observe_peering(
        &self,
        network: &Network,
        peering: &Peering,
    ) -> isthmus_driver::Result<PeeringObservation> {
        self.observe_peering_impl(network, peering)
            .await
            .map_err(driver_error)
    }
    pub async fn delete_peering(
        &self,
        network: &Network,
        peering: &Peering,
    ) -> isthmus_driver::Result<Teardown> {
        let _guard = self.changes.lock().await;
        self.delete_peering_impl(network, peering)
            .await
            .map_err(driver_error)
    }

    pub async fn ensure_nodes(
        &self,
        network: &Network,
        cluster: &Cluster,
    ) -> isthmus_driver::Result<Vec<NodeObservation>> {
        let _guard = self.changes.lock().await;
        self.ensure_nodes_impl(network, cluster)
            .await
            .map_err(driver_error)
    }
    pub async fn observe_nodes(
        &self,
        network: &Network,
        cluster: &Cluster,
    ) -> isthmus_driver::Result<Vec<NodeObservation>> {
        self.observe_nodes_impl(network, cluster)
            .await
            .map_err(driver_error)
    }
    pub async fn delete_nodes(
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

/// A network: its router namespace with the bridge, and its uplink to the lab's
/// internet, which stays while any network lives (a network may carry public endpoints).
#[async_trait]
impl Provisioner<Network> for LocalDriver {
    async fn ensure(&self, n: &Network, _: &()) -> isthmus_driver::Result<NetworkObservation> {
        self.ensure_network(n).await
    }
    async fn observe(&self, n: &Network, _: &()) -> isthmus_driver::Result<NetworkObservation> {
        self.observe_network(n).await
    }
    async fn delete(&self, n: &Network, _: &()) -> isthmus_driver::Result<Teardown> {
        self.delete_network(n).await
    }
    fn owned_names(&self, n: &Network) -> Vec<String> {
        let id = n.id.to_string();
        vec![
            self.names.router_ns(&id),
            self.names.bridge(&id),
            self.names.uplink(&id),
            self.names.uplink_peer(&id),
            self.names.internet_ns(),
        ]
    }
}

/// A peering: the two ends of its veth, and its firewall chain and set.
#[async_trait]
impl Provisioner<Peering> for LocalDriver {
    async fn ensure(&self, p: &Peering, n: &Network) -> isthmus_driver::Result<PeeringObservation> {
        self.ensure_peering(n, p).await
    }
    async fn observe(
        &self,
        p: &Peering,
        n: &Network,
    ) -> isthmus_driver::Result<PeeringObservation> {
        self.observe_peering(n, p).await
    }
    async fn delete(&self, p: &Peering, n: &Network) -> isthmus_driver::Result<Teardown> {
        self.delete_peering(n, p).await
    }
    fn owned_names(&self, p: &Peering) -> Vec<String> {
        let id = p.id.to_string();
        vec![
            self.names.peering_link(&id),
            self.names.peering_peer_link(&id),
            self.names.peering_chain(&id),
            self.names.peering_set(&id),
        ]
    }
}

/// A cluster: a namespace and a bridge port per node, and its firewall chains (egress,
/// public endpoint, DNAT, private allow-list).
#[async_trait]
impl Provisioner<Cluster> for LocalDriver {
    async fn ensure(
        &self,
        c: &Cluster,
        n: &Network,
    ) -> isthmus_driver::Result<Vec<NodeObservation>> {
        self.ensure_nodes(n, c).await
    }
    async fn observe(
        &self,
        c: &Cluster,
        n: &Network,
    ) -> isthmus_driver::Result<Vec<NodeObservation>> {
        self.observe_nodes(n, c).await
    }
    async fn delete(&self, c: &Cluster, n: &Network) -> isthmus_driver::Result<Teardown> {
        self.delete_nodes(n, c).await
    }
    fn owned_names(&self, c: &Cluster) -> Vec<String> {
        let id = c.id.to_string();
        let nodes = c.nodes.iter().flat_map(|node| {
            [
                self.names.node_ns(&id, node.index),
                self.names.node_port(&id, node.index),
            ]
        });
        nodes
            .chain([
                self.names.egress_chain(&id),
                self.names.public_chain(&id),
                self.names.dnat_chain(&id),
                self.names.private_chain(&id),
            ])
            .collect()
    }
}
