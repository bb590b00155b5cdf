//! `isthmus sim endpoint …`: the customer's endpoints to endpoint services in the
//! simulated clouds.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum SimEndpointCommand {
    /// Create an endpoint in a customer VPC to an endpoint service (superuser); the
    /// cloud answers as it would (unknown service, principal not allowed, pending).
    Create {
        /// aws, gcp or azure.
        #[arg(long)]
        cloud: String,
        /// AWS: 12-digit account id; GCP: project id; Azure: subscription GUID.
        #[arg(long)]
        account: String,
        /// The customer's VPC/VNet.
        #[arg(long)]
        network: String,
        /// The region of the endpoint (AWS and GCP services are regional).
        #[arg(long)]
        region: String,
        /// The endpoint service's service_name.
        #[arg(long)]
        service: String,
    },
    /// Delete the customer's endpoint (the service sees it disconnected).
    Delete { endpoint_id: String },
    /// Every customer endpoint, with its cloud's word for its state.
    List,
}
