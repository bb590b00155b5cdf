//! State machines of networks, peerings, clusters and nodes. Every change of status goes
//! through `transition`, so an illegal move (say `deleted → active`) is an error instead of
//! a silent overwrite. Staying in the same state is always allowed (reconciles repeat).
//! Each machine also says where each state stands ([`Settled`]): the one definition the
//! controller, `--wait` and the console share.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::object::{Settled, StatusMachine};
use crate::CoreError;

macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident, $kind:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// Moves to `to` if the machine allows it.
            pub fn transition(self, to: $name) -> Result<$name, CoreError> {
                StatusMachine::transition(self, to)
            }
            /// Not yet `deleted`.
            pub fn is_live(self) -> bool {
                StatusMachine::is_live(self)
            }
        }

        impl StatusMachine for $name {
            const KIND: &'static str = $kind;
            const ERROR: Self = $name::Error;
            const DELETING: Self = $name::Deleting;
            const DELETED: Self = $name::Deleted;
            fn all() -> &'static [Self] {
                Self::ALL
            }
            fn as_str(&self) -> &'static str {
                $name::as_str(self)
            }
            fn allowed_next(self) -> &'static [Self] {
                $name::allowed_next(self)
            }
            fn phase(self) -> Settled {
                $name::phase(self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s { $($text => Ok($name::$variant),)+ _ => Err(format!("unknown {} status '{s}'", $kind)) }
            }
        }
    };
}
pub(crate) use status_enum;

/// The plain lifecycle most kinds share: provisioning, the one ready state and error each
/// move to the others or to deleting; deleting only ends in deleted. Settled: the ready
/// state and deleted are done, error failed.
macro_rules! lifecycle_status {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $ready:ident => $ready_text:literal) => {
        status_enum!(
            $(#[$doc])*
            $name, $kind {
                Provisioning => "provisioning",
                $ready => $ready_text,
                Error => "error",
                Deleting => "deleting",
                Deleted => "deleted",
            }
        );

        impl $name {
            pub fn allowed_next(self) -> &'static [$name] {
                use $name::*;
                match self {
                    Provisioning => &[$ready, Error, Deleting],
                    $ready => &[Provisioning, Error, Deleting],
                    Error => &[Provisioning, $ready, Deleting],
                    Deleting => &[Deleted],
                    Deleted => &[],
                }
            }
            pub fn phase(self) -> Settled {
                use $name::*;
                match self {
                    $ready | Deleted => Settled::Done,
                    Error => Settled::Failed,
                    Provisioning | Deleting => Settled::Moving,
                }
            }
        }
    };
}

lifecycle_status!(
    /// provisioning → active → deleting → deleted, with `error` retried by the controller.
    NetworkStatus, "network", Active => "active"
);

status_enum!(
    /// The peering handshake. AWS waits in `pending_acceptance` for the customer to accept;
    /// GCP (reciprocal peering) and Azure (role grant) wait in `pending_peer`.
    PeeringStatus, "peering" {
        Provisioning => "provisioning",
        PendingAcceptance => "pending_acceptance",
        PendingPeer => "pending_peer",
        Active => "active",
        InvalidSpecification => "invalid_specification",
        RejectedByPeer => "rejected_by_peer",
        DeletedByPeer => "deleted_by_peer",
        Error => "error",
        Deleting => "deleting",
        Deleted => "deleted",
    }
);

impl PeeringStatus {
    pub fn allowed_next(self) -> &'static [PeeringStatus] {
        use PeeringStatus::*;
        match self {
            Provisioning => &[
                PendingAcceptance,
                PendingPeer,
                Active,
                InvalidSpecification,
                RejectedByPeer,
                Error,
                Deleting,
            ],
            // Waiting for the customer, whichever way the cloud asks them.
            PendingAcceptance | PendingPeer => &[
                Provisioning,
                Active,
                RejectedByPeer,
                DeletedByPeer,
                InvalidSpecification,
                Error,
                Deleting,
            ],
            Active => &[Provisioning, DeletedByPeer, Error, Deleting],
            // A changed spec (or a refresh) starts the handshake again.
            InvalidSpecification => &[Provisioning, Deleting],
            RejectedByPeer => &[Provisioning, Deleting],
            DeletedByPeer => &[Provisioning, Deleting],
            Error => &[
                Provisioning,
                PendingAcceptance,
                PendingPeer,
                Active,
                InvalidSpecification,
                RejectedByPeer,
                DeletedByPeer,
                Deleting,
            ],
            Deleting => &[Deleted],
            Deleted => &[],
        }
    }
    /// Waiting for the customer (accept, reciprocal peering, role grant) is settled: the
    /// platform has nothing left to do until they act.
    pub fn phase(self) -> Settled {
        use PeeringStatus::*;
        match self {
            Active | PendingAcceptance | PendingPeer | Deleted => Settled::Done,
            InvalidSpecification | RejectedByPeer | DeletedByPeer | Error => Settled::Failed,
            Provisioning | Deleting => Settled::Moving,
        }
    }
}

status_enum!(
    /// provisioning → running, updating, error, deleting → deleted.
    ClusterStatus, "cluster" {
        Provisioning => "provisioning",
        Running => "running",
        Updating => "updating",
        Moving => "moving",
        Error => "error",
        Deleting => "deleting",
        Deleted => "deleted",
    }
);

impl ClusterStatus {
    pub fn allowed_next(self) -> &'static [ClusterStatus] {
        use ClusterStatus::*;
        match self {
            Provisioning => &[Running, Error, Deleting],
            Running => &[Updating, Moving, Error, Deleting],
            Updating => &[Running, Error, Deleting],
            // A move (see `kinds::cluster_move`) ends running, whether done or cancelled.
            Moving => &[Running, Error, Deleting],
            Error => &[Provisioning, Running, Updating, Moving, Deleting],
            Deleting => &[Deleted],
            Deleted => &[],
        }
    }
    pub fn phase(self) -> Settled {
        use ClusterStatus::*;
        match self {
            Running | Deleted => Settled::Done,
            Error => Settled::Failed,
            Provisioning | Updating | Moving | Deleting => Settled::Moving,
        }
    }
}

lifecycle_status!(
    /// One node of a cluster.
    NodeStatus, "node", Running => "running"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleted_is_terminal_for_every_machine() {
        for s in NetworkStatus::ALL {
            if *s != NetworkStatus::Deleted {
                assert!(NetworkStatus::Deleted.transition(*s).is_err());
            }
        }
        for s in PeeringStatus::ALL {
            if *s != PeeringStatus::Deleted {
                assert!(PeeringStatus::Deleted.transition(*s).is_err());
            }
        }
        for s in ClusterStatus::ALL {
            if *s != ClusterStatus::Deleted {
                assert!(ClusterStatus::Deleted.transition(*s).is_err());
            }
        }
    }

    #[test]
    fn deleting_only_goes_to_deleted() {
        assert!(NetworkStatus::Deleting
            .transition(NetworkStatus::Active)
            .is_err());
        assert_eq!(
            NetworkStatus::Deleting.transition(NetworkStatus::Deleted),
            Ok(NetworkStatus::Deleted)
        );
        assert!(PeeringStatus::Deleting
            .transition(PeeringStatus::Active)
            .is_err());
        assert!(ClusterStatus::Deleting
            .transition(ClusterStatus::Running)
            .is_err());
    }

    #[test]
    fn the_aws_handshake_path_is_legal_and_skipping_back_is_not() {
        use PeeringStatus::*;
        let s = Provisioning.transition(PendingAcceptance).unwrap();
        let s = s.transition(Active).unwrap();
        assert!(s.transition(PendingAcceptance).is_err());
        assert!(RejectedByPeer.transition(Active).is_err());
        let err = InvalidSpecification.transition(Active).unwrap_err();
        assert_eq!(
            err.to_string(),
            "peering cannot go from invalid_specification to active"
        );
    }

    #[test]
    fn statuses_round_trip_through_text_and_json() {
        for s in PeeringStatus::ALL {
            assert_eq!(s.as_str().parse::<PeeringStatus>().unwrap(), *s);
            assert_eq!(
                serde_json::to_string(s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
    }
}
