//! What a cluster publishes in the platform DNS: `<id>` → every node, `<id>-<n>` → node
//! n, `public-<id>` → the public endpoint.

use std::net::Ipv4Addr;

use isthmus_core::id::ClusterId;
use isthmus_core::object::Object;
use isthmus_core::resources::Cluster;

use super::record_set::{Publisher, RecordSet};
use super::zone::Zone;

/// The addresses published for one cluster.
///
/// `node_ips[n]` is node `n`: it answers `<cluster-id>-<n>.<zone>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRecords {
    pub cluster_id: ClusterId,
    pub node_ips: Vec<Ipv4Addr>,
    /// The public endpoint, once public access exists.
    pub public_ip: Option<Ipv4Addr>,
}

impl ClusterRecords {
    /// The records of a cluster as the control plane stores it, nodes in index order.
    pub fn from_cluster(cluster: &Cluster, public_ip: Option<Ipv4Addr>) -> ClusterRecords {
        let mut nodes: Vec<_> = cluster.nodes.iter().map(|n| (n.index, n.ip)).collect();
        nodes.sort_by_key(|(index, _)| *index);
        ClusterRecords {
            cluster_id: cluster.id,
            node_ips: nodes.into_iter().map(|(_, ip)| ip).collect(),
            public_ip,
        }
    }

    /// The publisher of a cluster's record sets: the cluster itself.
    pub fn publisher_of(cluster_id: ClusterId) -> Publisher {
        Publisher {
            kind: Cluster::INFO.name,
            id: cluster_id.0,
        }
    }

    pub fn publisher(&self) -> Publisher {
        Self::publisher_of(self.cluster_id)
    }

    /// Every name this cluster owns, as record sets of the default view.
    pub fn record_sets(&self) -> Vec<RecordSet> {
        self.labels()
            .into_iter()
            .map(|(label, ips)| RecordSet::a(label, ips))
            .collect()
    }

    /// The first label of every name this cluster owns, with the addresses each resolves to.
    pub fn labels(&self) -> Vec<(String, Vec<Ipv4Addr>)> {
        let id = self.cluster_id;
        let mut labels = Vec::with_capacity(self.node_ips.len() + 2);
        if !self.node_ips.is_empty() {
            labels.push((id.to_string(), self.node_ips.clone()));
        }
        for (n, ip) in self.node_ips.iter().enumerate() {
            labels.push((format!("{id}-{n}"), vec![*ip]));
        }
        if let Some(public) = self.public_ip {
            labels.push((format!("public-{id}"), vec![public]));
        }
        labels
    }
}

/// Clusters by their records, as the zone was fed before any other kind published.
impl Zone {
    /// Replaces every cluster at once.
    pub fn set_clusters(&self, clusters: Vec<ClusterRecords>) {
        self.set_record_sets(clusters.iter().map(|c| (c.publisher(), c.record_sets())));
    }

    /// Adds a cluster, or replaces what the zone held for it (names it no longer has go away).
    pub fn upsert(&self, cluster: &ClusterRecords) {
        self.publish(cluster.publisher(), cluster.record_sets());
    }

    /// Removes every name of a cluster; returns whether it had any.
    pub fn remove(&self, cluster_id: ClusterId) -> bool {
        self.withdraw(ClusterRecords::publisher_of(cluster_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isthmus_core::id::{Id, NetworkId, ProjectId};
    use isthmus_core::resources::{Node, PublicAccess, Topology};
    use isthmus_core::state::{ClusterStatus, NodeStatus};

    fn node(index: u32, ip: [u8; 4]) -> Node {
        Node {
            index,
            ip: Ipv4Addr::from(ip),
            dns_name: format!("n{index}"),
            zone: "local-a".into(),
            status: NodeStatus::Running,
        }
    }

    fn three_node_cluster(nodes: Vec<Node>) -> Cluster {
        let now = chrono::Utc::now();
        Cluster {
            private_allowlist: Vec::new(),
            public_endpoint: None,
            warnings: Vec::new(),
            id: ClusterId::from(Id::from_parts(1, [1; 8])),
            project_id: ProjectId::from(Id::from_parts(1, [2; 8])),
            name: "orders".into(),
            network_id: NetworkId::from(Id::from_parts(1, [3; 8])),
            engine: "probe".into(),
            topology: Topology::ThreeNodeMultiZone,
            public_access: PublicAccess::default(),
            egress_allowlist: Vec::new(),
            dns_name: String::new(),
            nodes,
            addresses: Vec::new(),
            network_move: None,
            status: ClusterStatus::Running,
            status_message: String::new(),
            generation: 1,
            observed_generation: 1,
            conditions: Vec::new(),
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    #[test]
    fn from_cluster_puts_node_ips_in_node_index_order() {
        let cluster = three_node_cluster(vec![
            node(2, [10, 0, 0, 7]),
            node(0, [10, 0, 0, 5]),
            node(1, [10, 0, 0, 6]),
        ]);
        let records = ClusterRecords::from_cluster(&cluster, None);
        assert_eq!(records.cluster_id, cluster.id);
        assert_eq!(
            records.node_ips,
            vec![
                Ipv4Addr::new(10, 0, 0, 5),
                Ipv4Addr::new(10, 0, 0, 6),
                Ipv4Addr::new(10, 0, 0, 7)
            ]
        );
    }

    #[test]
    fn labels_cover_the_cluster_each_node_and_the_public_endpoint() {
        let cluster = three_node_cluster(vec![node(0, [10, 0, 0, 5]), node(1, [10, 0, 0, 6])]);
        let public = Ipv4Addr::new(198, 51, 100, 9);
        let records = ClusterRecords::from_cluster(&cluster, Some(public));
        let id = cluster.id;
        let labels = records.labels();
        assert_eq!(
            labels,
            vec![
                (
                    id.to_string(),
                    vec![Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 6)]
                ),
                (format!("{id}-0"), vec![Ipv4Addr::new(10, 0, 0, 5)]),
                (format!("{id}-1"), vec![Ipv4Addr::new(10, 0, 0, 6)]),
                (format!("public-{id}"), vec![public]),
            ]
        );
    }
}
