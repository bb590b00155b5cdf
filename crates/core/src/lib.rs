//! Isthmus core: the resources of the private-networking control plane, their ids, the
//! rules they obey, their state machines, and the IPAM and planner that the rules use.
//!
//! Pure by design: no I/O, no async, no clock. Everything above (store, drivers, server,
//! CLI) depends on this crate; it depends on nothing of theirs. Times are passed in.

pub mod allowlist_file;
pub mod cidr;
pub mod clouds;
pub mod conditions;
pub mod customer_actions;
pub mod engines;
pub mod error;
pub mod id;
pub mod ipam;
pub mod kinds;
pub mod lab;
pub mod object;
pub mod planner;
pub mod reach;
pub mod resources;
pub mod rules;
pub mod state;
pub mod wg_key;

pub use cidr::Cidr;
pub use error::{CoreError, FieldError};
pub use id::{
    ClusterId, EndpointServiceId, Id, MigrationId, NetworkId, PeeringId, ProjectId, TokenId,
    VpnClientId, VpnGatewayId,
};
