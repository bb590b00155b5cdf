//! Cluster nodes in a simulated cloud: instances on a ready network, running after the
//! configured latency.

use async_trait::async_trait;
use chrono::Utc;
use isthmus_core::resources::{Cluster, Network};

use super::driver::{journal_error, SimCloud};
use super::journal::Record;
use super::state::SimNode;
use crate::{DriverError, NodeObservation, NodeState, Provisioner, Result, Teardown};

impl SimCloud {
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

#[async_trait]
impl Provisioner<Cluster> for SimCloud {
    async fn ensure(&self, cluster: &Cluster, network: &Network) -> Result<Vec<NodeObservation>> {
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
                // A node replaced since its instance launched (another address) gets a new
                // instance, starting again like any new one.
                let current = inner
                    .state
                    .nodes
                    .get(&cluster.id)
                    .and_then(|m| m.get(&node.index))
                    .is_some_and(|n| n.ip.is_none_or(|ip| ip == node.ip));
                if !current {
                    let record = Record::Node(SimNode {
                        cluster: cluster.id,
                        index: node.index,
                        network_id: network.id,
                        ready_at,
                        ip: Some(node.ip),
                    });
                    inner.commit(record).map_err(journal_error)?;
                }
            }
        }
        Ok(self.observe_nodes_now(cluster))
    }

    async fn observe(&self, cluster: &Cluster, _network: &Network) -> Result<Vec<NodeObservation>> {
        self.enter("observe_nodes").await?;
        Ok(self.observe_nodes_now(cluster))
    }

    /// Deletes the instances of the nodes `cluster` lists (all of them when it is deleted;
    /// one side's during a move, see `kinds::cluster_move`).
    async fn delete(&self, cluster: &Cluster, _network: &Network) -> Result<Teardown> {
        self.enter("delete_nodes").await?;
        let mut inner = self.clouds.lock();
        let Some(existing) = inner.state.nodes.get(&cluster.id) else {
            return Ok(Teardown::Done);
        };
        let listed: Vec<u32> = cluster.nodes.iter().map(|n| n.index).collect();
        let (going, staying): (Vec<u32>, Vec<u32>) =
            existing.keys().partition(|index| listed.contains(index));
        let records = if staying.is_empty() {
            vec![Record::NodesDeleted {
                cluster: cluster.id,
            }]
        } else {
            going
                .into_iter()
                .map(|index| Record::NodeDeleted {
                    cluster: cluster.id,
                    index,
                })
                .collect()
        };
        for record in records {
            inner.commit(record).map_err(journal_error)?;
        }
        Ok(Teardown::Done)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use isthmus_core::resources::Provider;

    use super::super::tests::{cluster, network};
    use super::super::{SimClouds, SimConfig};
    use crate::{NodeState, Provisioner};

    #[tokio::test]
    async fn a_node_replaced_with_a_new_address_gets_a_new_instance_that_starts_again() {
        let sim = SimClouds::open(SimConfig {
            latency: Duration::from_millis(20),
            journal: None,
        })
        .unwrap();
        let driver = sim.cloud(Provider::Aws);
        let net = network(Provider::Aws, "10.20.0.0/16");
        let mut c = cluster(&net);
        driver.ensure(&net, &()).await.unwrap();
        driver.observe(&net, &()).await.unwrap();
        driver.ensure(&c, &net).await.unwrap();
        let nodes = driver.observe(&c, &net).await.unwrap();
        assert!(nodes.iter().all(|n| n.state == NodeState::Running));

        c.nodes[1].ip = "10.20.0.99".parse().unwrap();
        let nodes = driver.ensure(&c, &net).await.unwrap();
        assert_eq!(nodes[1].state, NodeState::Starting, "{:?}", nodes[1]);
        assert_eq!(nodes[0].state, NodeState::Running, "the others stay up");
        assert_eq!(nodes[2].state, NodeState::Running);
        assert!(
            nodes[1].message.contains("10.20.0.99"),
            "{}",
            nodes[1].message
        );
        let nodes = driver.observe(&c, &net).await.unwrap();
        assert!(nodes.iter().all(|n| n.state == NodeState::Running));
    }
}
