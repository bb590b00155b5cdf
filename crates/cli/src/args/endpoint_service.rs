//! `isthmus endpoint-service …`: publish a cluster to customers' VPCs through private
//! endpoints, and decide on their connections.

use clap::Subcommand;
use isthmus_core::kinds::endpoint_service::EndpointService;

use super::verbs::Verbs;
use super::WaitArgs;

#[derive(Debug, Subcommand)]
pub enum EndpointServiceCommand {
    /// Publish a cluster to the principals allowed to connect.
    Create {
        name: String,
        /// The cluster to publish.
        #[arg(long)]
        cluster: String,
        /// Who may connect (repeat): AWS principal ARNs, GCP project ids, Azure
        /// subscription ids, lab VPC names.
        #[arg(long = "principal")]
        principals: Vec<String>,
        /// Accept connections from allowed principals without an operator's accept.
        #[arg(long)]
        no_acceptance: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Change who may connect: the principals given replace the list (a connection whose
    /// principal goes is rejected and its established flows are cut).
    Update {
        id: String,
        /// Who may connect (repeat); give none with --no-principals to allow nobody.
        #[arg(long = "principal")]
        principals: Vec<String>,
        /// Remove every principal.
        #[arg(long, conflicts_with = "principals")]
        no_principals: bool,
    },
    /// The service's connections, with the provider's word for each state.
    Connections { id: String },
    /// Accept a pending connection.
    Accept { id: String, connection: String },
    /// Reject a pending or available connection (its established flows are cut).
    Reject { id: String, connection: String },
    #[command(flatten)]
    Object(Verbs<EndpointService>),
}
