//! Verbs on the API's resources: projects, networks, peerings, clusters, events, tokens.

use clap::{ArgGroup, Args, Subcommand};
use isthmus_core::resources::{Provider, Role, Topology};

use super::{TimeoutArgs, WaitArgs};

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project; the calling token becomes its admin.
    Create { name: String },
    /// List the projects this token can see.
    List,
    /// Show one project.
    Get { id: String },
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network.
    Create {
        name: String,
        #[arg(long, value_parser = parse_provider)]
        provider: Provider,
        #[arg(long)]
        region: String,
        /// The network's CIDR block, e.g. 10.0.0.0/16.
        #[arg(long)]
        cidr: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// List the project's networks.
    List {
        /// Include networks that are already deleted.
        #[arg(long)]
        include_deleted: bool,
    },
    /// Show one network.
    Get { id: String },
    /// Rename a network (provider, region and CIDR are immutable).
    Update {
        id: String,
        #[arg(long, required = true)]
        name: Option<String>,
    },
    /// Delete a network (refused while clusters remain in it).
    Delete {
        id: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Wait until a network settles.
    Wait {
        id: String,
        #[command(flatten)]
        timeout: TimeoutArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum PeeringCommand {
    /// Request a peering from a network to a customer's VPC/VNet.
    Create {
        name: String,
        /// The Isthmus network to peer from.
        #[arg(long)]
        network: String,
        /// AWS account id, GCP project id or Azure subscription id.
        #[arg(long)]
        peer_account: String,
        /// VPC id, VPC network name or VNet resource id.
        #[arg(long)]
        peer_network: String,
        #[arg(long)]
        peer_region: String,
        /// A customer prefix reachable over the peering; repeat for several.
        #[arg(long = "route", value_name = "CIDR", required = true)]
        routes: Vec<String>,
        /// Azure: admit sources reached through the peer's gateway.
        #[arg(long)]
        allow_gateway_transit: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// List the project's peerings.
    List {
        #[arg(long)]
        include_deleted: bool,
    },
    /// Show one peering, including what the customer must run.
    Get { id: String },
    /// Change a peering's name, routes or gateway transit; the data plane follows.
    #[command(group(ArgGroup::new("change").required(true).multiple(true)
        .args(["name", "routes", "allow_gateway_transit"])))]
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// The new full list of routes (replaces the old one); repeat for several.
        #[arg(long = "route", value_name = "CIDR")]
        routes: Vec<String>,
        #[arg(long, value_name = "true|false")]
        allow_gateway_transit: Option<bool>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Delete a peering.
    Delete {
        id: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Re-observe the peering in the provider now instead of at the next resync.
    Refresh {
        id: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Print the commands the customer runs on their side.
    Actions { id: String },
    /// Wait until a peering settles.
    Wait {
        id: String,
        #[command(flatten)]
        timeout: TimeoutArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Create a cluster in a network (the network may still be provisioning).
    Create {
        name: String,
        #[arg(long)]
        network: String,
        /// Engine from the catalog, e.g. probe.
        #[arg(long)]
        engine: String,
        #[arg(long, value_parser = parse_topology)]
        topology: Topology,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// List the project's clusters.
    List {
        #[arg(long)]
        include_deleted: bool,
    },
    /// Show one cluster with its nodes and addresses.
    Get { id: String },
    /// The URIs a client connects with (connection strings, HTTP, per-node addresses).
    Addresses { id: String },
    /// Rename a cluster.
    Update {
        id: String,
        #[arg(long, required = true)]
        name: Option<String>,
    },
    /// Delete a cluster.
    Delete {
        id: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Wait until a cluster settles.
    Wait {
        id: String,
        #[command(flatten)]
        timeout: TimeoutArgs,
    },
}

/// `isthmus events [list] [--limit N]`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(subcommand)]
    pub command: Option<EventsCommand>,
    /// Show only the N most recent events.
    #[arg(long, global = true)]
    pub limit: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// List the audit log, oldest first (the default).
    List,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token with a role in the project; its secret is shown once.
    Create {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
}

fn parse_provider(s: &str) -> Result<Provider, String> {
    s.parse()
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

fn parse_topology(s: &str) -> Result<Topology, String> {
    [Topology::SingleNode, Topology::ThreeNodeMultiZone]
        .into_iter()
        .find(|t| t.as_str() == s)
        .ok_or_else(|| {
            format!("unknown topology '{s}' (one of single-node, three-node-multi-zone)")
        })
}
