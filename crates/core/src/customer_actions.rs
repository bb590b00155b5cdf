//! The commands a customer runs on their side of a peering, generated from its fields.
//! (Filled in by the sim-driver work.)

use crate::resources::{CustomerAction, Network, Peering};

/// Placeholder until the per-cloud generators land.
pub fn for_peering(_network: &Network, _peering: &Peering) -> Vec<CustomerAction> {
    Vec::new()
}
