//! Cluster nodes as network interfaces: one per node, with the node's allocated private
//! address, in the subnet that holds that address, in the network's security group,
//! tagged with the cluster id and node index. (The engines run elsewhere; the interface
//! is what holds the address and the firewall in the VPC.)

use async_trait::async_trait;
use isthmus_core::resources::{Cluster, Network};
use isthmus_driver::{DriverError, NodeObservation, NodeState, Provisioner, Teardown};

use crate::xml::{self, tag, NetworkInterface};
use crate::{AwsDriver, Params, TAG_CLUSTER, TAG_NETWORK, TAG_NODE};

type Result<T> = std::result::Result<T, DriverError>;

fn observe_node(
    node: &isthmus_core::kinds::cluster::Node,
    enis: &[NetworkInterface],
) -> NodeObservation {
    let eni = enis
        .iter()
        .find(|e| tag(&e.tag_set, TAG_NODE) == Some(node.index.to_string().as_str()));
    let (state, message) = match eni {
        None => (
            NodeState::Missing,
            format!("no network interface for {}", node.ip),
        ),
        Some(e) if e.private_ip_address != node.ip.to_string() => (
            NodeState::Failed,
            format!(
                "{} has {}, not the node's {}",
                e.network_interface_id, e.private_ip_address, node.ip
            ),
        ),
        Some(e) if matches!(e.status.as_str(), "available" | "in-use" | "") => (
            NodeState::Running,
            format!("{} holds {}", e.network_interface_id, node.ip),
        ),
        Some(e) => (
            NodeState::Starting,
            format!("{} is {}", e.network_interface_id, e.status),
        ),
    };
    NodeObservation {
        index: node.index,
        state,
        message,
    }
}

impl AwsDriver {
    async fn interfaces(&self, cluster: &Cluster, net: &Network) -> Result<Vec<NetworkInterface>> {
        let params = Params::new().filters(&[("tag:isthmus:cluster-id", cluster.id.to_string())]);
        let found: xml::DescribeNetworkInterfaces = self
            .call(
                &net.region,
                "DescribeNetworkInterfaces",
                params,
                &format!("look up the nodes of cluster {}", cluster.id),
            )
            .await?;
        let id = cluster.id.to_string();
        Ok(found
            .network_interface_set
            .item
            .into_iter()
            .filter(|e| tag(&e.tag_set, TAG_CLUSTER) == Some(id.as_str()))
            .collect())
    }
}

#[async_trait]
impl Provisioner<Cluster> for AwsDriver {
    async fn ensure(&self, cluster: &Cluster, net: &Network) -> Result<Vec<NodeObservation>> {
        let parts = self.parts(net).await?;
        let (Some(group), false) = (&parts.group, parts.subnets.is_empty()) else {
            return Err(DriverError::Dependency(format!(
                "network {} is not ready for nodes yet (no subnets or security group)",
                net.id
            )));
        };
        let enis = self.interfaces(cluster, net).await?;
        let what = format!("create the nodes of cluster {}", cluster.id);
        for node in &cluster.nodes {
            if observe_node(node, &enis).state != NodeState::Missing {
                continue;
            }
            let subnet = parts
                .subnets
                .iter()
                .find(|s| {
                    s.cidr_block
                        .parse::<isthmus_core::Cidr>()
                        .is_ok_and(|c| c.contains_addr(node.ip))
                })
                .ok_or_else(|| {
                    DriverError::Invalid(format!("{what}: no subnet holds {}", node.ip))
                })?;
            let params = Params::new()
                .set("SubnetId", &subnet.subnet_id)
                .set("PrivateIpAddress", node.ip.to_string())
                .set("SecurityGroupId.1", &group.group_id)
                .set(
                    "Description",
                    format!("isthmus node {} of {}", node.index, cluster.id),
                )
                .tags(
                    "network-interface",
                    &[
                        (TAG_CLUSTER, cluster.id.to_string()),
                        (TAG_NODE, node.index.to_string()),
                        (TAG_NETWORK, net.id.to_string()),
                        ("Name", format!("isthmus-{}-{}", cluster.id, node.index)),
                    ],
                );
            let _: xml::Ignored = self
                .call(&net.region, "CreateNetworkInterface", params, &what)
                .await?;
        }
        <Self as Provisioner<Cluster>>::observe(self, cluster, net).await
    }

    async fn observe(&self, cluster: &Cluster, net: &Network) -> Result<Vec<NodeObservation>> {
        let enis = self.interfaces(cluster, net).await?;
        Ok(cluster
            .nodes
            .iter()
            .map(|n| observe_node(n, &enis))
            .collect())
    }

    async fn delete(&self, cluster: &Cluster, net: &Network) -> Result<Teardown> {
        let what = format!("delete the nodes of cluster {}", cluster.id);
        for e in self.interfaces(cluster, net).await? {
            let params = Params::new().set("NetworkInterfaceId", &e.network_interface_id);
            self.gone_ok(&net.region, "DeleteNetworkInterface", params, &what)
                .await?;
        }
        Ok(Teardown::Done)
    }
}
