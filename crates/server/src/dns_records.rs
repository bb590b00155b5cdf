//! What each kind publishes in the platform DNS. A kind implements [`PublishesDns`] (the
//! registry's [`Entry`](crate::kinds::Entry) requires it, so forgetting it does not
//! compile); one that publishes nothing says so with an empty `impl`.
//!
//! The zone knows nothing of kinds: it holds record sets keyed by the object that
//! publishes them ([`Publisher`]), so a change of one object replaces exactly its sets.

use isthmus_connect::dns::{ClusterRecords, RecordSet};
use isthmus_core::object::{Object, StatusMachine};
use isthmus_core::resources::{Cluster, Network, Peering};

/// A kind's DNS names.
pub trait PublishesDns: Object {
    /// The record sets one object publishes; `None` for a kind that never publishes any,
    /// whose objects the DNS then never reads. Not called for an object that is being
    /// deleted: its names go the moment its deletion is asked for, however long the
    /// teardown takes.
    const RECORD_SETS: Option<fn(&Self) -> Vec<RecordSet>> = None;
}

/// How the DNS reads an object of a kind it cannot name: from its stored JSON body.
pub type RecordSetsOfBody = fn(&str) -> anyhow::Result<Vec<RecordSet>>;

/// The kind-erased publisher of `K`, or `None` when `K` publishes nothing.
pub fn publisher_of<K: PublishesDns>() -> Option<RecordSetsOfBody> {
    K::RECORD_SETS.map(|_| record_sets_of_body::<K> as RecordSetsOfBody)
}

fn record_sets_of_body<K: PublishesDns>(body: &str) -> anyhow::Result<Vec<RecordSet>> {
    let object: K = serde_json::from_str(body)
        .map_err(|e| anyhow::anyhow!("read a stored {} for the DNS: {e}", K::INFO.name))?;
    Ok(match K::RECORD_SETS {
        Some(record_sets) if !object.status().is_going() => record_sets(&object),
        _ => Vec::new(),
    })
}

impl PublishesDns for Network {}

impl PublishesDns for Peering {}

/// `<id>` → every node, `<id>-<n>` → node n, and `public-<id>` → the public endpoint while
/// public access is enabled (the store gives the endpoint back when it is turned off, so
/// the name goes with it).
impl PublishesDns for Cluster {
    const RECORD_SETS: Option<fn(&Self) -> Vec<RecordSet>> = Some(|cluster| {
        let public_ip = cluster.public_endpoint.as_ref().map(|e| e.ip);
        ClusterRecords::from_cluster(cluster, public_ip).record_sets()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::KINDS;
    use isthmus_connect::dns::RecordData;
    use isthmus_core::id::{ClusterId, Id, NetworkId, ProjectId};
    use isthmus_core::resources::{Node, PublicAccess, PublicEndpoint, Topology};
    use isthmus_core::state::{ClusterStatus, NodeStatus};
    use std::net::Ipv4Addr;

    fn stored_cluster(status: ClusterStatus, public: Option<Ipv4Addr>) -> (Cluster, String) {
        let now = chrono::Utc::now();
        let node = |index: u32| Node {
            index,
            ip: Ipv4Addr::new(10, 0, 0, 5 + index as u8),
            dns_name: String::new(),
            zone: "local-a".into(),
            status: NodeStatus::Running,
        };
        let cluster = Cluster {
            id: ClusterId::from(Id::from_parts(1, [1; 8])),
            project_id: ProjectId::from(Id::from_parts(1, [2; 8])),
            name: "orders".into(),
            network_id: NetworkId::from(Id::from_parts(1, [3; 8])),
            engine: "probe".into(),
            topology: Topology::ThreeNodeMultiZone,
            public_access: PublicAccess::default(),
            public_endpoint: public.map(|ip| PublicEndpoint {
                dns_name: String::new(),
                ip,
            }),
            private_allowlist: Vec::new(),
            egress_allowlist: Vec::new(),
            warnings: Vec::new(),
            dns_name: String::new(),
            nodes: vec![node(0), node(1), node(2)],
            addresses: Vec::new(),
            network_move: None,
            status,
            status_message: String::new(),
            generation: 1,
            observed_generation: 1,
            conditions: Vec::new(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let body = serde_json::to_string(&cluster).unwrap();
        (cluster, body)
    }

    fn names(sets: &[RecordSet]) -> Vec<&str> {
        sets.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn only_clusters_publish_names_today() {
        let publishing: Vec<&str> = KINDS
            .iter()
            .filter(|k| k.dns_records().is_some())
            .map(|k| k.info().name)
            .collect();
        assert_eq!(publishing, vec!["cluster"]);
    }

    #[test]
    fn a_cluster_publishes_itself_each_node_and_its_public_endpoint() {
        let publish = publisher_of::<Cluster>().expect("clusters publish");
        let public = Ipv4Addr::new(198, 51, 100, 7);
        let (cluster, body) = stored_cluster(ClusterStatus::Running, Some(public));
        let id = cluster.id;
        let sets = publish(&body).unwrap();
        let expected = [
            id.to_string(),
            format!("{id}-0"),
            format!("{id}-1"),
            format!("{id}-2"),
            format!("public-{id}"),
        ];
        assert_eq!(
            names(&sets),
            expected.iter().map(String::as_str).collect::<Vec<_>>()
        );

        let nodes: Vec<Ipv4Addr> = cluster.nodes.iter().map(|n| n.ip).collect();
        assert_eq!(sets[0].data, RecordData::A(nodes.clone()));
        assert_eq!(sets[1].data, RecordData::A(vec![nodes[0]]));
        assert_eq!(sets[4].data, RecordData::A(vec![public]));

        let (_, private) = stored_cluster(ClusterStatus::Running, None);
        let private = publish(&private).unwrap();
        assert!(!names(&private).contains(&format!("public-{id}").as_str()));
    }

    #[test]
    fn a_cluster_being_deleted_publishes_nothing() {
        let publish = publisher_of::<Cluster>().unwrap();
        for status in [ClusterStatus::Deleting, ClusterStatus::Deleted] {
            let (_, body) = stored_cluster(status, Some(Ipv4Addr::new(198, 51, 100, 7)));
            let sets = publish(&body).unwrap();
            assert!(sets.is_empty(), "{status}: {sets:?}");
        }
    }
}
