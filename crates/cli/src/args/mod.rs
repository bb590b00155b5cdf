//! The command line, as clap derive types. One file per group of verbs; `main.rs`
//! dispatches on [`Command`] and the `commands/` modules do the work.

pub mod catalog;
mod connect;
pub mod endpoint_service;
mod lab;
pub mod migration;
mod reach;
mod resources;
pub mod sim_endpoint;
mod tools;
mod verbs;
pub mod vpn;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use connect::{CaCommand, ProbeArgs};
pub use lab::{
    LabCommand, LabEndpointCommand, LabExecArgs, LabHostCommand, LabInternetCommand,
    LabInternetHostCommand, LabServiceCommand, LabVpcCommand, LocalServeArgs,
};
pub use reach::ReachArgs;
pub(crate) use resources::parse_duration_seconds;
pub use resources::{
    ClusterAccessCreate, ClusterAccessUpdate, ClusterCommand, EventsArgs, NetworkCommand,
    PeeringCommand, ProjectCommand, TokenCommand,
};
pub use tools::{LoginArgs, ServeArgs, SimCommand, SimVpcCommand, StoreCommand};
pub use verbs::ObjectVerb;

/// Isthmus: private networks, peerings and clusters for managed databases.
///
/// `isthmus serve` runs the control plane; every other verb is a client of its REST API.
#[derive(Debug, Parser)]
#[command(name = "isthmus", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every client verb understands; they may go before or after the verb.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Output format: table, json, yaml, jsonpath=EXPR (e.g. `jsonpath={.id}`) or
    /// template=TEXT (e.g. `template='{{.name}}\t{{.status}}'`, once per item of a list).
    #[arg(short = 'o', long, global = true, value_name = "FORMAT", default_value = "table",
          value_parser = crate::select::parse_output)]
    pub output: OutputFormat,
    /// Base URL of the Isthmus API (else $ISTHMUS_URL, the profile, http://127.0.0.1:8710).
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// API token (else $ISTHMUS_TOKEN, the profile, the local admin-token file).
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// Project id or name (else $ISTHMUS_PROJECT, the profile).
    #[arg(short = 'p', long, global = true)]
    pub project: Option<String>,
    /// Use the named profile (saved by `isthmus login --profile NAME`; else
    /// $ISTHMUS_PROFILE, else the default profile).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Yaml,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server and the controller.
    Serve(ServeArgs),
    /// Save the URL, token and default project in the profile file; the token is read
    /// from a prompt (or from stdin when it is not a terminal) unless --token gives it.
    Login(LoginArgs),
    /// Forget the profile's token (the profile file is removed).
    Logout,
    /// Projects: the unit of ownership and access.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Networks: a CIDR block in one provider and region.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Peerings: links from a network to a customer's VPC/VNet.
    #[command(subcommand)]
    Peering(PeeringCommand),
    /// Database clusters placed in a network.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Endpoint services: a cluster reached from customers' VPCs through private endpoints.
    #[command(subcommand)]
    EndpointService(endpoint_service::EndpointServiceCommand),
    /// VPN gateways and their clients: WireGuard access to a network's clusters.
    #[command(subcommand)]
    Vpn(vpn::VpnCommand),
    /// Live migrations: copy a NATS JetStream source into a cluster, then cut over.
    #[command(subcommand)]
    Migration(migration::MigrationCommand),
    /// Create or update networks, peerings and clusters from a file, by name.
    Apply(ApplyArgs),
    /// The project's audit log.
    Events(EventsArgs),
    /// API tokens of the project.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Act as the customer's side in the simulated clouds.
    #[command(subcommand)]
    Sim(SimCommand),
    /// Offline address planning: covering prefixes, split tables, free ranges.
    #[command(subcommand)]
    Plan(crate::plan::PlanCommand),
    /// Lab VPCs on the server's host: the customer's side of `local` peerings.
    #[command(subcommand)]
    Lab(LabCommand),
    /// May a source connect to a cluster or node? Hop by hop, with the fix for a denial.
    Reach(ReachArgs),
    /// The installation CA that signs every node's TLS certificate.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Run the `probe` engine for one node (started by the controller in a node's namespace).
    Probe(ProbeArgs),
    /// Which replica runs the controller, under which lease epoch, since when.
    Leader,
    /// The installation's state itself, offline (moving it to PostgreSQL).
    #[command(subcommand)]
    Store(StoreCommand),
    /// Print a shell completion script (e.g. `source <(isthmus completions bash)`).
    Completions(catalog::CompletionsArgs),
    /// The regions each provider accepts for networks and peers.
    Regions(catalog::RegionsArgs),
    /// The engine catalog: each engine, the topologies it supports and its ports.
    Engines,
    /// Run the migration engine (`isthmus-migrate`), as the controller does in a
    /// replicator's namespace.
    #[command(hide = true)]
    MigrateEngine {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

/// `isthmus apply -f FILE [--dry-run]`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// YAML or JSON: one document or several (`---`), as `get -o yaml` prints them; `-`
    /// reads stdin.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: String,
    /// Print what would change, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `--wait` and its deadline, shared by every verb that changes a resource's status.
#[derive(Debug, Clone, Copy, Args)]
pub struct WaitArgs {
    /// Wait until the resource settles, showing its status as it changes.
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
}

/// The deadline alone, for `wait` verbs where waiting is the whole point.
#[derive(Debug, Clone, Copy, Args)]
pub struct TimeoutArgs {
    /// Give up waiting after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
}

impl From<TimeoutArgs> for WaitArgs {
    fn from(t: TimeoutArgs) -> Self {
        WaitArgs {
            wait: true,
            timeout: t.timeout,
        }
    }
}
