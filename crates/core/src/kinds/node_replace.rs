//! Replacing one node of a running cluster, as managed clouds do with an unhealthy
//! instance: the node keeps its index, zone and DNS name (`<cluster-id>-<n>.<zone>`), and
//! gets a new private address in the same network, from the same allocator as new
//! nodes. The old address is not handed back at once: it is `taken` here, so a client
//! that still holds it in a cache reaches nothing rather than another node.
//!
//! What follows the address is derived, not copied: the DNS record, the VPN grants (the
//! gateway resolves a grant to the granted cluster's current nodes), the access lists'
//! per-node rules and the reachability analyzer all read `nodes`.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};

use super::cluster::{allocate_node_ips, Cluster};
use crate::engines;
use crate::object::Object;
use crate::resources::Network;
use crate::state::{ClusterStatus, NodeStatus};
use crate::CoreError;

/// `current` with node `index` at a new address, `updating` until the controller has made
/// the new node; a 409 unless the cluster is running, a 404 for an index it has not.
/// `taken` holds every address already in use on the network (the node's own included).
pub fn replace_node(
    current: &Cluster,
    network: &Network,
    index: u32,
    taken: &HashSet<Ipv4Addr>,
    now: DateTime<Utc>,
) -> Result<Cluster, CoreError> {
    current.ensure_not_going()?;
    let Some(at) = current.nodes.iter().position(|n| n.index == index) else {
        return Err(CoreError::not_found(
            "node",
            format!(
                "{index} of cluster {} (it has nodes 0 to {})",
                current.id,
                current.nodes.len().saturating_sub(1)
            ),
        ));
    };
    if current.status != ClusterStatus::Running {
        return Err(CoreError::conflict(
            None,
            "cluster-not-running",
            format!(
                "cluster {} is {}: a node can be replaced only while the cluster is running",
                current.id, current.status
            ),
        ));
    }
    let ip = allocate_node_ips(network, 1, taken)?[0];
    let mut next = current.clone();
    next.nodes[at].ip = ip;
    next.nodes[at].status = NodeStatus::Provisioning;
    // The per-node URIs name the node, not its address; recomputed anyway so they can
    // never lag behind the nodes they list.
    if let Some(engine) = engines::find(&next.engine) {
        let names: Vec<String> = next.nodes.iter().map(|n| n.dns_name.clone()).collect();
        next.addresses = engine.addresses(&next.dns_name, &names);
    }
    next.status = ClusterStatus::Updating;
    next.status_message = format!("replacing node {index}: new address {ip}");
    next.generation += 1;
    next.updated_at = now;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::resources::{ClusterCreate, NetworkCreate, Provider, Topology};
    use crate::{rules, Id, ProjectId};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
    }

    fn project() -> ProjectId {
        ProjectId::from(Id::from_parts(1_700_000_000, [0, 0, 0, 0, 0, 0, 0, 1]))
    }

    fn setup(cidr: &str) -> (Network, Cluster) {
        let req = NetworkCreate {
            name: "platform".into(),
            provider: Provider::Local,
            region: "local".into(),
            cidr_block: cidr.into(),
        };
        let network = rules::new_network(
            Id::from_parts(1_700_000_000, [0, 0, 0, 2, 0, 0, 0, 0]).into(),
            project(),
            &req,
            &[],
            now(),
        )
        .unwrap();
        let req = ClusterCreate {
            name: "orders".into(),
            network_id: network.id.to_string(),
            engine: "probe".into(),
            topology: Topology::ThreeNodeMultiZone,
            public_access: None,
            private_allowlist: None,
            egress_allowlist: None,
        };
        let mut cluster = rules::new_cluster(
            Id::from_parts(1_700_000_000, [0, 0, 0, 3, 0, 0, 0, 0]).into(),
            project(),
            &req,
            &network,
            &HashSet::new(),
            "isthmus.internal",
            now(),
        )
        .unwrap();
        cluster.status = ClusterStatus::Running;
        for node in &mut cluster.nodes {
            node.status = NodeStatus::Running;
        }
        (network, cluster)
    }

    fn taken(cluster: &Cluster) -> HashSet<Ipv4Addr> {
        cluster.nodes.iter().map(|n| n.ip).collect()
    }

    #[test]
    fn a_replaced_node_keeps_its_name_and_zone_and_gets_a_free_address() {
        let (network, cluster) = setup("10.9.0.0/24");
        let mut taken = taken(&cluster);
        taken.insert("10.9.0.13".parse().unwrap());
        let next = replace_node(&cluster, &network, 1, &taken, now()).unwrap();
        let (old, new) = (&cluster.nodes[1], &next.nodes[1]);
        assert_eq!(new.dns_name, old.dns_name);
        assert_eq!(new.zone, old.zone);
        assert_ne!(new.ip, old.ip);
        assert!(!taken.contains(&new.ip), "{} was in use", new.ip);
        assert!(network.cidr_block.contains_addr(new.ip));
        assert_eq!(new.status, NodeStatus::Provisioning);
        assert_eq!(
            next.nodes[0], cluster.nodes[0],
            "other nodes stay as they were"
        );
        assert_eq!(next.nodes[2], cluster.nodes[2]);
        assert_eq!(next.status, ClusterStatus::Updating);
        assert_eq!(next.generation, cluster.generation + 1);
        assert_eq!(next.dns_name, cluster.dns_name);
    }

    #[test]
    fn only_a_running_cluster_and_an_existing_node_can_be_replaced() {
        let (network, mut cluster) = setup("10.9.0.0/24");
        let err = replace_node(&cluster, &network, 3, &taken(&cluster), now()).unwrap_err();
        assert!(
            matches!(err, CoreError::NotFound { kind: "node", .. }),
            "{err}"
        );
        cluster.status = ClusterStatus::Updating;
        let err = replace_node(&cluster, &network, 0, &taken(&cluster), now()).unwrap_err();
        assert!(
            matches!(&err, CoreError::Conflict { rule, .. } if rule == "cluster-not-running"),
            "{err}"
        );
    }

    #[test]
    fn a_full_network_refuses_the_replacement() {
        // Every address of the network in use: nothing left to give.
        let (network, cluster) = setup("10.9.0.0/28");
        let all: HashSet<Ipv4Addr> = (network.cidr_block.start()..=network.cidr_block.end())
            .map(Ipv4Addr::from)
            .collect();
        let err = replace_node(&cluster, &network, 0, &all, now()).unwrap_err();
        assert!(
            matches!(&err, CoreError::Conflict { rule, .. } if rule == "network-full"),
            "{err}"
        );
    }
}
