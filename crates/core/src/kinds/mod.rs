//! The kinds the core knows, one file each: their fields, request bodies, owners, index
//! claims and admission rules. [`access`] holds a cluster's access lists, [`routes`] a
//! peering's prefix lists, [`validate`] what every kind's rules share.
//!
//! The other crates reach most of these through `crate::resources` (the types) and
//! `crate::rules` (the rules), which re-export them.

pub mod access;
pub mod cluster;
pub mod cluster_move;
pub mod endpoint_connection;
pub mod endpoint_service;
mod endpoint_service_status;
pub mod migration;
pub mod migration_history;
mod migration_rules;
pub mod migration_transform;
pub mod network;
pub mod node_replace;
pub mod peering;
pub mod principals;
pub mod routes;
pub mod validate;
pub mod vpn_client;
pub mod vpn_config;
pub mod vpn_gateway;
#[cfg(test)]
mod vpn_tests;

/// The store's index of network ranges: overlapping live networks of a project collide.
pub const NETWORK_RANGE: &str = "network_range";
/// The store's index of public endpoint addresses: unique across the installation.
pub const PUBLIC_IP: &str = "public_ip";

#[cfg(test)]
mod tests {
    use crate::object::{Object, OnOwnerDelete, Settled, StatusMachine};
    use crate::resources::{Cluster, Network, Peering};
    use crate::state::{ClusterStatus, NetworkStatus, PeeringStatus};

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

    /// A delete must be able to start from wherever an object stands: no live state may
    /// trap an object the user wants gone.
    #[test]
    fn every_kind_goes_from_any_live_state_to_deleting() {
        fn check<K: Object>() {
            let deleting = K::Status::DELETING;
            for s in K::Status::all().iter().filter(|s| s.is_live()) {
                assert_eq!(
                    s.transition(deleting).ok(),
                    Some(deleting),
                    "{} {s} → {deleting}",
                    K::INFO.name
                );
            }
        }
        check::<Network>();
        check::<Peering>();
        check::<Cluster>();
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
