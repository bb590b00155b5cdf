//! Platform networks (a router namespace with a bridge and a firewall) and the cluster
//! nodes on them (one namespace per node).

use anyhow::{Context, Result};
use isthmus_core::resources::{Cluster, Network};
use isthmus_core::rules::gateway_address;
use isthmus_driver::{
    DriverError, NetworkObservation, NetworkState, NodeObservation, NodeState, Teardown,
};

use crate::driver::LocalDriver;
use crate::errors::{classify, combined_kind};
use crate::topology::{self, HostSpec, RouterSpec};
use crate::{firewall, netns};

impl LocalDriver {
    pub(crate) fn router_spec(&self, network: &Network) -> RouterSpec {
        let id = network.id.to_string();
        RouterSpec {
            ns: self.names.router_ns(&id),
            bridge: self.names.bridge(&id),
            cidr: network.cidr_block,
            gateway: gateway_address(&network.cidr_block),
        }
    }

    fn node_specs(&self, cluster: &Cluster) -> Vec<(u32, HostSpec)> {
        let id = cluster.id.to_string();
        cluster
            .nodes
            .iter()
            .map(|node| {
                let spec = HostSpec {
                    ns: self.names.node_ns(&id, node.index),
                    port: self.names.node_port(&id, node.index),
                    ip: node.ip,
                };
                (node.index, spec)
            })
            .collect()
    }

    pub(crate) async fn ensure_network_impl(
        &self,
        network: &Network,
    ) -> Result<NetworkObservation> {
        let router = self.router_spec(network);
        let fresh = topology::ensure_router(&router)
            .await
            .with_context(|| format!("ensure network {}", network.id))?;
        let bridge = router.bridge.clone();
        let uplink = self.names.uplink(&network.id.to_string());
        netns::run_in_async(Some(&router.ns), move || {
            // A namespace made just now has no table to read (each nft run counts here).
            if fresh || !firewall::read_table()?.base_intact() {
                firewall::base(&bridge, &uplink).apply()?;
            }
            Ok(())
        })
        .await
        .with_context(|| format!("ensure firewall of network {}", network.id))?;
        // The base was just found intact or applied whole (one transaction): not read again.
        self.observe_network_with(network, true).await
    }

    pub(crate) async fn observe_network_impl(
        &self,
        network: &Network,
    ) -> Result<NetworkObservation> {
        self.observe_network_with(network, false).await
    }

    async fn observe_network_with(
        &self,
        network: &Network,
        firewall_known: bool,
    ) -> Result<NetworkObservation> {
        let router = self.router_spec(network);
        if !netns::exists(&router.ns) {
            return Ok(NetworkObservation {
                state: NetworkState::Missing,
                provider_network_id: None,
                message: format!("router namespace {} does not exist", router.ns),
            });
        }
        let mut drift = topology::router_drift(&router).await?;
        let table_ok = firewall_known
            || netns::run_in_async(Some(&router.ns), || {
                Ok(firewall::read_table()?.base_intact())
            })
            .await?;
        if !table_ok {
            drift.push("firewall table is missing or altered".to_string());
        }
        let (state, message) = if drift.is_empty() {
            (
                NetworkState::Ready,
                format!("router {} with bridge {}", router.ns, router.bridge),
            )
        } else {
            // The trait has no "needs repair" for networks: `ensure` completes it again.
            (
                NetworkState::Creating,
                format!("needs repair: {}", drift.join("; ")),
            )
        };
        Ok(NetworkObservation {
            state,
            provider_network_id: Some(router.ns),
            message,
        })
    }

    pub(crate) async fn delete_network_impl(&self, network: &Network) -> Result<Teardown> {
        // The namespace takes its bridge, firewall and peering links with it. The uplink
        // goes first, explicitly: a deleted namespace's interfaces linger until the kernel
        // gets round to it, and the internet would still route endpoints there.
        let inet = self.names.internet_ns();
        if netns::exists(&inet) {
            let uplink = self.names.uplink_peer(&network.id.to_string());
            netns::netlink_in_async(&inet, move |h| async move {
                if let Some(link) = crate::nl::link(&h, &uplink).await? {
                    crate::nl::delete_link(&h, link.index).await?;
                }
                Ok(())
            })
            .await
            .with_context(|| format!("delete the uplink of network {}", network.id))?;
        }
        let router = self.router_spec(network);
        self.applied.forget(&router.ns);
        netns::delete_async(&router.ns)
            .await
            .with_context(|| format!("delete network {}", network.id))?;
        self.release_internet_if_unused_locked().await?;
        Ok(Teardown::Done)
    }

    pub(crate) async fn ensure_nodes_impl(
        &self,
        network: &Network,
        cluster: &Cluster,
    ) -> Result<Vec<NodeObservation>> {
        let router = self.router_spec(network);
        if !netns::exists(&router.ns) {
            return Err(crate::errors::dependency(format!(
                "network {} is not provisioned yet (no {})",
                network.id, router.ns
            )));
        }
        // A replaced node's old instance goes first (see `node_replace`).
        let started = std::time::Instant::now();
        self.retire_replaced_nodes(network, cluster).await?;
        let specs = self.node_specs(cluster);
        for (index, host) in &specs {
            topology::ensure_host(&router, host)
                .await
                .with_context(|| format!("ensure node {index} of cluster {}", cluster.id))?;
        }
        let hosts = started.elapsed();
        let access = self.access_plan(network, cluster);
        self.apply_access(network, &access)
            .await
            .with_context(|| format!("apply access lists of cluster {}", cluster.id))?;
        let applied = started.elapsed();
        let seen = self.observe_nodes_with(network, cluster, true).await;
        // Where an ensure's time goes (RUST_LOG=isthmus_driver_local=debug).
        tracing::debug!(cluster = %cluster.id, hosts_ms = hosts.as_secs_f64() * 1e3,
            access_ms = (applied - hosts).as_secs_f64() * 1e3,
            observe_ms = (started.elapsed() - applied).as_secs_f64() * 1e3, "nodes ensured");
        seen
    }

    pub(crate) async fn observe_nodes_impl(
        &self,
        network: &Network,
        cluster: &Cluster,
    ) -> Result<Vec<NodeObservation>> {
        self.observe_nodes_with(network, cluster, false).await
    }

    /// `just_applied`: the access firewall is checked against the record of what was just
    /// applied, not read back in full (see `access_drift`).
    async fn observe_nodes_with(
        &self,
        network: &Network,
        cluster: &Cluster,
        just_applied: bool,
    ) -> Result<Vec<NodeObservation>> {
        let router = self.router_spec(network);
        // The cluster's endpoint and lists: drift there is the nodes' to repair.
        let access = self
            .access_drift(network, &self.access_plan(network, cluster), just_applied)
            .await
            .with_context(|| format!("observe access lists of cluster {}", cluster.id))?;
        let mut out = vec![];
        for (index, host) in self.node_specs(cluster) {
            let (state, message) = match topology::host_drift(&router, &host).await? {
                None => (
                    NodeState::Missing,
                    format!("namespace {} does not exist", host.ns),
                ),
                Some(drift) if drift.is_empty() && access.is_empty() => {
                    (NodeState::Running, format!("{} in {}", host.ip, host.ns))
                }
                Some(drift) if drift.is_empty() => (
                    NodeState::Starting,
                    format!("needs repair: {}", access.join("; ")),
                ),
                // Partial: `ensure_nodes` completes it (the trait has no "needs repair" for nodes).
                Some(drift) => (
                    NodeState::Starting,
                    format!("needs repair: {}", drift.join("; ")),
                ),
            };
            out.push(NodeObservation {
                index,
                state,
                message,
            });
        }
        Ok(out)
    }

    pub(crate) async fn delete_nodes_impl(
        &self,
        network: &Network,
        cluster: &Cluster,
    ) -> Result<Teardown> {
        let router = self.router_spec(network);
        let specs = self.node_specs(cluster);
        let mut errors = vec![];
        let mut kinds = vec![];
        for (index, host) in &specs {
            if let Err(e) = topology::delete_host(&router.ns, host).await {
                kinds.push(classify(&e));
                errors.push(format!("node {index}: {e:#}"));
            }
        }
        if netns::exists(&router.ns) {
            let chain = self.names.egress_chain(&cluster.id.to_string());
            let ips: Vec<_> = specs.iter().map(|(_, h)| h.ip).collect();
            let result = netns::run_in_async(Some(&router.ns), move || {
                let current = firewall::read_table()?;
                let mut batch = firewall::Batch::new();
                firewall::delete_egress(&mut batch, &current, &chain, &ips);
                batch.apply()
            })
            .await;
            if let Err(e) = result {
                kinds.push(classify(&e));
                errors.push(format!("egress chain: {e:#}"));
            }
            let access = self.access_plan(network, cluster);
            if let Err(e) = self.delete_access(network, &access).await {
                kinds.push(classify(&e));
                errors.push(format!("public endpoint and private allow-list: {e:#}"));
            }
        }
        if !errors.is_empty() {
            return Err(anyhow::Error::new(DriverError::new(
                combined_kind(&kinds),
                format!(
                    "delete nodes of cluster {}: {}",
                    cluster.id,
                    errors.join("; ")
                ),
            )));
        }
        Ok(Teardown::Done)
    }
}
