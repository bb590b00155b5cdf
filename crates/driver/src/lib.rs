//! Drivers: the only code that touches a provider. Each provider has a provisioner per
//! kind it supports ([`Provisioner`]), found through the [`Provisioners`] registry; a kind
//! a provider does not support is `Unsupported`, said clearly.

mod error;
mod kinds;
mod provisioner;
pub mod sim;
mod vpn;
pub mod wg_keys;

pub use error::{DriverError, DriverErrorKind};
pub use kinds::{
    EndpointServiceObservation, MigrationPlace, MigrationWorkerObservation, NetworkObservation,
    NetworkState, NodeObservation, NodeState, PeeringObservation, PeeringState,
};
pub use provisioner::{Provisioned, Provisioner, Provisioners, Teardown};
pub use vpn::{VpnClientContext, VpnClientObservation, VpnGatewayObservation, VpnGatewayState};

pub type Result<T> = std::result::Result<T, DriverError>;
