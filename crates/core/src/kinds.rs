//! The kinds the core knows: their names, owners and index claims.

use crate::object::{IndexEntry, KindInfo, OnOwnerDelete, Owner};
use crate::resources::{Cluster, Network, Peering};
use crate::state::{ClusterStatus, NetworkStatus, PeeringStatus};

/// The store's index of network ranges: overlapping live networks of a project collide.
pub const NETWORK_RANGE: &str = "network_range";
/// The store's index of public endpoint addresses: unique across the installation.
pub const PUBLIC_IP: &str = "public_ip";

crate::object!(
    Network,
    NetworkStatus,
    KindInfo {
        name: "network",
        plural: "networks",
        owner: None,
    },
    owner = |_n| None,
    index = |n| vec![IndexEntry {
        index: NETWORK_RANGE,
        scope: n.project_id.to_string(),
        start: n.cidr_block.start(),
        end: n.cidr_block.end(),
    }],
);

crate::object!(
    Peering,
    PeeringStatus,
    KindInfo {
        name: "peering",
        plural: "peerings",
        owner: Some(Owner {
            kind: "network",
            field: "network_id",
            on_delete: OnOwnerDelete::Cascade,
        }),
    },
    owner = |p| Some(p.network_id.0),
);

crate::object!(
    Cluster,
    ClusterStatus,
    KindInfo {
        name: "cluster",
        plural: "clusters",
        owner: Some(Owner {
            kind: "network",
            field: "network_id",
            on_delete: OnOwnerDelete::Block,
        }),
    },
    owner = |c| Some(c.network_id.0),
    index = |c| c
        .public_endpoint
        .iter()
        .map(|e| {
            let ip = u32::from(e.ip);
            IndexEntry {
                index: PUBLIC_IP,
                scope: String::new(),
                start: ip,
                end: ip,
            }
        })
        .collect(),
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{Object, Settled, StatusMachine};

    #[test]
    fn every_machine_settles_error_as_a_failure_and_deleted_as_done() {
        fn check<S: StatusMachine>() {
            assert_eq!(S::ERROR.phase(), Settled::Failed, "{}", S::KIND);
            assert_eq!(S::DELETED.phase(), Settled::Done, "{}", S::KIND);
            assert_eq!(S::DELETING.phase(), Settled::Moving, "{}", S::KIND);
        }
        check::<NetworkStatus>();
        check::<PeeringStatus>();
        check::<ClusterStatus>();
    }

    #[test]
    fn waiting_for_the_customer_is_settled_but_a_rejection_is_a_failure() {
        assert_eq!(PeeringStatus::PendingAcceptance.phase(), Settled::Done);
        assert_eq!(PeeringStatus::RejectedByPeer.phase(), Settled::Failed);
        assert_eq!(PeeringStatus::Provisioning.phase(), Settled::Moving);
    }

    #[test]
    fn owners_are_declared_once_per_kind() {
        assert_eq!(Network::INFO.owner, None);
        let peering = Peering::INFO.owner.unwrap();
        assert_eq!(
            (peering.kind, peering.on_delete),
            ("network", OnOwnerDelete::Cascade)
        );
        let cluster = Cluster::INFO.owner.unwrap();
        assert_eq!(
            (cluster.kind, cluster.on_delete),
            ("network", OnOwnerDelete::Block)
        );
    }
}
