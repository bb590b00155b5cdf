//! The `aws` provider on the EC2 API: networks (VPC, a subnet per zone, a route table, a
//! security group), peerings (VPC peering connections, their routes and ingress rules)
//! and cluster nodes (network interfaces with the allocated addresses).
//!
//! Everything the driver creates is tagged with the Isthmus id it belongs to, and found
//! again by that tag: a restarted server adopts what its predecessor created instead of
//! creating it twice (EC2's `CreateVpcPeeringConnection` has no client token). Filters
//! are sent to EC2 and the results checked here too, since emulators ignore some.
//! The calls made, and which of them moto verifies, are listed in docs/aws.md.

pub mod config;
pub mod ec2;
mod network;
mod nodes;
mod peering;
pub mod xml;

use std::sync::Arc;

use isthmus_core::resources::{Cluster, Network, Peering, Provider};
use isthmus_driver::{DriverError, Provisioners};

pub use config::{AwsConfig, Credentials};
pub use ec2::{Ec2, Ec2Error, Params};

/// Tag keys (`Name` is for people browsing the console).
pub const TAG_NETWORK: &str = "isthmus:network-id";
pub const TAG_PEERING: &str = "isthmus:peering-id";
pub const TAG_CLUSTER: &str = "isthmus:cluster-id";
pub const TAG_NODE: &str = "isthmus:node-index";
pub const TAG_ZONE: &str = "isthmus:zone";
/// When a peering request was made (RFC 3339, sortable): the newest request wins.
pub const TAG_REQUESTED_AT: &str = "isthmus:requested-at";

/// The platform's AWS account as the `aws` provider's provisioner of networks,
/// peerings and cluster nodes.
pub struct AwsDriver {
    ec2: Ec2,
}

impl AwsDriver {
    pub fn new(config: AwsConfig) -> Arc<AwsDriver> {
        Arc::new(AwsDriver {
            ec2: Ec2::new(config),
        })
    }

    /// The client the driver calls EC2 with (tests act as the customer through it).
    pub fn ec2(&self) -> &Ec2 {
        &self.ec2
    }

    /// The `aws` provisioners of networks, peerings and clusters. Kinds the driver does
    /// not provision (VPN gateways, endpoint services, migrations) stay unsupported on
    /// `aws` and say so.
    pub fn provisioners(self: &Arc<Self>) -> Provisioners {
        Provisioners::new()
            .with::<Network>(Provider::Aws, self.clone())
            .with::<Peering>(Provider::Aws, self.clone())
            .with::<Cluster>(Provider::Aws, self.clone())
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        region: &str,
        action: &str,
        params: Params,
        what: &str,
    ) -> Result<T, DriverError> {
        self.ec2
            .call(region, action, &params)
            .await
            .map_err(|e| e.into_driver(&format!("{action} to {what}")))
    }
}

/// What the server says at start about the `aws` provider, and the provisioners to use
/// for it: EC2 when there are credentials, the simulator otherwise.
pub fn choose(endpoint: Option<String>) -> (Option<Provisioners>, String) {
    match AwsConfig::from_env(endpoint) {
        Ok(config) => {
            let line = format!(
                "aws provider: EC2 at {} with credentials from {}",
                config
                    .endpoint_url
                    .clone()
                    .unwrap_or_else(|| "https://ec2.<region>.amazonaws.com".into()),
                config.credentials_source
            );
            (Some(AwsDriver::new(config).provisioners()), line)
        }
        Err(why) => (None, format!("aws provider: simulated ({why})")),
    }
}
