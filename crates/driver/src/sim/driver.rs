//! The platform's side of one simulated cloud: what every provisioner call pays first,
//! and the provider ids it hands out. The provisioners of each kind are in `network.rs`,
//! `peering.rs` and `nodes.rs`.

use std::sync::Arc;

use isthmus_core::customer_actions::platform_network_name;
use isthmus_core::resources::{Network, Provider};

use super::state::derived_id;
use super::SimClouds;
use crate::{DriverError, Result};

/// The Azure subscription that holds the platform's VNets.
const AZURE_PLATFORM_SUBSCRIPTION: &str = "5f1c4d2e-9b7a-4c3e-8d21-6a0b1c2d3e4f";

/// One simulated cloud (aws, gcp or azure) as the platform sees it: the provisioner of
/// networks, peerings and cluster nodes there.
pub struct SimCloud {
    pub(super) clouds: Arc<SimClouds>,
    pub(super) cloud: Provider,
}

impl SimCloud {
    pub(super) fn new(clouds: Arc<SimClouds>, cloud: Provider) -> Self {
        SimCloud { clouds, cloud }
    }

    /// What every call pays first: the round trip, then any injected fault.
    pub(super) async fn enter(&self, operation: &str) -> Result<()> {
        debug_assert!(super::OPERATIONS.contains(&operation), "{operation}");
        let latency = self.clouds.latency();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if self.cloud == Provider::Local {
            return Err(DriverError::Unsupported(
                "the simulated clouds have no local provider; use the local driver".into(),
            ));
        }
        if let Some(left) = self.clouds.take_fault(operation) {
            return Err(DriverError::Transient(format!(
                "injected fault in {} {operation} ({left} more to come)",
                self.cloud
            )));
        }
        Ok(())
    }

    pub(super) fn provider_network_id(&self, network: &Network) -> String {
        match self.cloud {
            Provider::Aws => derived_id("vpc", &network.id.to_string()),
            Provider::Azure => format!(
                "/subscriptions/{AZURE_PLATFORM_SUBSCRIPTION}/resourceGroups/isthmus/providers/Microsoft.Network/virtualNetworks/{}",
                platform_network_name(network.id)
            ),
            _ => platform_network_name(network.id),
        }
    }
}

/// Clouds report their own failures as errors the driver passes on transiently: the
/// journal could not be written, so the change did not happen and a retry may work.
pub(super) fn journal_error(e: anyhow::Error) -> DriverError {
    DriverError::Transient(format!(
        "simulated cloud could not record the change: {e:#}"
    ))
}
