//! Status changes go through the state machines: the handshakes of each cloud are legal
//! paths, deletion is one-way, and an illegal move is an error naming both states.

use isthmus_core::state::{ClusterStatus, NetworkStatus, NodeStatus, PeeringStatus};
use isthmus_core::CoreError;

fn walk<S: Copy + std::fmt::Debug>(
    start: S,
    path: &[S],
    step: impl Fn(S, S) -> Result<S, CoreError>,
) -> S {
    path.iter().fold(start, |s, next| {
        step(s, *next).unwrap_or_else(|e| panic!("{s:?} -> {next:?}: {e}"))
    })
}

#[test]
fn a_network_provisions_retries_errors_and_is_deleted_for_good() {
    use NetworkStatus::*;
    let end = walk(
        Provisioning,
        &[Error, Provisioning, Active, Deleting, Deleted],
        NetworkStatus::transition,
    );
    assert_eq!(end, Deleted);
    let err = Deleted.transition(Active).unwrap_err();
    assert_eq!(err.to_string(), "network cannot go from deleted to active");
    assert!(Deleting.transition(Active).is_err(), "deletion is one-way");
}

#[test]
fn each_cloud_handshake_is_a_legal_peering_path() {
    use PeeringStatus::*;
    // AWS: the customer accepts.
    walk(
        Provisioning,
        &[PendingAcceptance, Active],
        PeeringStatus::transition,
    );
    // GCP reciprocal peering, Azure role grant.
    walk(
        Provisioning,
        &[PendingPeer, Active],
        PeeringStatus::transition,
    );
    // Drift: the customer deletes their side; a refresh or spec change starts over.
    walk(
        Active,
        &[
            DeletedByPeer,
            Provisioning,
            PendingAcceptance,
            RejectedByPeer,
            Deleting,
            Deleted,
        ],
        PeeringStatus::transition,
    );
}

#[test]
fn failed_peerings_do_not_jump_back_to_active() {
    use PeeringStatus::*;
    for failed in [InvalidSpecification, RejectedByPeer, DeletedByPeer] {
        let err = failed.transition(Active).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("peering cannot go from {} to active", failed.as_str())
        );
    }
    assert!(Active.transition(PendingAcceptance).is_err());
}

#[test]
fn staying_in_the_same_state_is_always_allowed_because_reconciles_repeat() {
    for s in NetworkStatus::ALL {
        assert_eq!(s.transition(*s), Ok(*s));
    }
    for s in PeeringStatus::ALL {
        assert_eq!(s.transition(*s), Ok(*s));
    }
    for s in ClusterStatus::ALL {
        assert_eq!(s.transition(*s), Ok(*s));
    }
    for s in NodeStatus::ALL {
        assert_eq!(s.transition(*s), Ok(*s));
    }
}

#[test]
fn clusters_and_nodes_run_update_and_are_deleted_for_good() {
    use ClusterStatus::*;
    walk(
        Provisioning,
        &[
            Running, Updating, Running, Error, Running, Deleting, Deleted,
        ],
        ClusterStatus::transition,
    );
    assert_eq!(
        Deleted.transition(Running).unwrap_err().to_string(),
        "cluster cannot go from deleted to running"
    );
    assert!(
        Provisioning.transition(Updating).is_err(),
        "nothing to update before it runs"
    );
    walk(
        NodeStatus::Provisioning,
        &[
            NodeStatus::Running,
            NodeStatus::Deleting,
            NodeStatus::Deleted,
        ],
        NodeStatus::transition,
    );
    assert!(NodeStatus::Deleted.transition(NodeStatus::Running).is_err());
}
