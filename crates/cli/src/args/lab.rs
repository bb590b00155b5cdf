//! `isthmus lab …`: lab VPCs (the customer's side of `local` peerings), their hosts, and
//! commands run inside a host; plus the `serve` options of the local provider.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Lab VPCs: namespaces on this host that stand in for a customer's VPC.
    #[command(subcommand)]
    Vpc(LabVpcCommand),
    /// Hosts inside a lab VPC, to run commands from.
    #[command(subcommand)]
    Host(LabHostCommand),
    /// The lab's internet: hosts with public addresses, to try public endpoints from.
    #[command(subcommand)]
    Internet(LabInternetCommand),
    /// Private endpoints inside a lab VPC, toward a `local` endpoint service.
    #[command(subcommand)]
    Endpoint(LabEndpointCommand),
    /// Services on lab hosts: a self-hosted NATS JetStream server to migrate from.
    #[command(subcommand)]
    Service(LabServiceCommand),
    /// Run a command inside a lab host: `isthmus lab exec VPC/HOST -- CMD ARGS…`
    /// (`internet/HOST` for an internet host). The command's exit code is this command's.
    Exec(LabExecArgs),
}

#[derive(Debug, Subcommand)]
pub enum LabEndpointCommand {
    /// Create an endpoint: an address inside VPC that leads to the service's cluster once
    /// the operator accepts its connection (node i at port + 10000·(i+1)).
    Create {
        vpc: String,
        name: String,
        /// The endpoint service's name (`isthmus.local.<id>`).
        #[arg(long, value_name = "SERVICE")]
        service: String,
        /// The endpoint's address (else the highest free one of the VPC).
        #[arg(long, value_name = "IP")]
        ip: Option<String>,
    },
    /// List the lab endpoints and their connections' status.
    List,
    /// Delete an endpoint (its connection turns disconnected, its flows end): `VPC NAME`
    /// or `VPC/NAME` (the connection's endpoint id).
    Delete { vpc: String, name: Option<String> },
}

#[derive(Debug, Subcommand)]
pub enum LabServiceCommand {
    /// Run a service on a lab host: `nats` is nats-server with JetStream (one node, or a
    /// cluster with `--peers`).
    Add {
        #[arg(value_name = "VPC/HOST")]
        target: String,
        kind: String,
        /// The client port.
        #[arg(long, default_value_t = 4222)]
        port: u16,
        /// Other hosts of the VPC running further nodes of one cluster (comma-separated;
        /// two for a three-node JetStream cluster).
        #[arg(long, value_delimiter = ',', value_name = "HOST,HOST")]
        peers: Vec<String>,
    },
    /// Fill a lab service with events (the migration engine's filler, run on the host).
    Fill {
        #[arg(value_name = "VPC/HOST")]
        target: String,
        kind: String,
        /// The stream (created when missing).
        #[arg(long)]
        stream: String,
        #[arg(long, default_value_t = 10_000)]
        count: u64,
        /// Events go round-robin to this many subjects.
        #[arg(long, default_value_t = 16)]
        subjects: usize,
        /// Payload bytes.
        #[arg(long, default_value_t = 256)]
        size: usize,
    },
    /// Stop a lab service and remove its data.
    Delete {
        #[arg(value_name = "VPC/HOST")]
        target: String,
        kind: String,
    },
    /// The running lab services.
    List,
}

#[derive(Debug, Subcommand)]
pub enum LabInternetCommand {
    /// Hosts on the lab's internet.
    #[command(subcommand)]
    Host(LabInternetHostCommand),
}

#[derive(Debug, Subcommand)]
pub enum LabInternetHostCommand {
    /// Add an internet host (its own namespace, linked to the lab's internet).
    Add {
        name: String,
        /// A public address (else the lowest free one of 203.0.113.0/24 from .10).
        #[arg(long, value_name = "IP")]
        ip: Option<String>,
    },
    /// Delete an internet host.
    Delete { name: String },
    /// List the internet hosts.
    List,
}

#[derive(Debug, Subcommand)]
pub enum LabVpcCommand {
    /// Create a lab VPC (a router namespace with a bridge; its gateway is the first address).
    Create {
        name: String,
        /// The VPC's private CIDR, e.g. 172.16.0.0/16.
        #[arg(long, value_name = "CIDR")]
        cidr: String,
        /// Put this VPC behind another lab VPC's gateway (a VPN-client range or a spoke):
        /// it reaches the platform only through that VPC's peerings.
        #[arg(long, value_name = "HUB")]
        behind: Option<String>,
    },
    /// List lab VPCs and their hosts.
    List,
    /// Delete a lab VPC and its hosts (peerings to it end `deleted_by_peer`).
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum LabHostCommand {
    /// Add a host (its own namespace on the VPC's bridge).
    Add {
        vpc: String,
        host: String,
        /// The host's address (else the lowest free one).
        #[arg(long, value_name = "IP")]
        ip: Option<String>,
    },
    /// Delete a host.
    Delete { vpc: String, host: String },
}

#[derive(Debug, Args)]
pub struct LabExecArgs {
    /// `VPC/HOST`, or `internet/HOST`.
    #[arg(value_name = "VPC/HOST")]
    pub target: String,
    /// Kill the command (and everything it started) after this many seconds (server
    /// default 60, at most 3600).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// The command and its arguments, after `--`; passed as they are, never to a shell.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub argv: Vec<String>,
}

/// `isthmus serve` options of the `local` provider (real networks on this host, as root).
#[derive(Debug, Args)]
pub struct LocalServeArgs {
    /// Prefix of every kernel object of the local provider (4-6 characters starting with
    /// `isth`). Objects under it that the store does not know are removed at start.
    #[arg(
        long,
        value_name = "PREFIX",
        env = "ISTHMUS_LOCAL_PREFIX",
        default_value = "isth"
    )]
    pub local_prefix: String,
    /// Do not run the local provider, even as root.
    #[arg(long)]
    pub no_local: bool,
}
