//! Verbs that are not a resource of the API: the server, the profile, the simulated clouds.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use isthmus_core::resources::Provider;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where the database, the sim journal and the admin token live
    /// (else $ISTHMUS_DATA_DIR, else ~/.local/share/isthmus).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8710")]
    pub listen: SocketAddr,
    /// Re-observe every resource this often, to find drift.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub resync_seconds: u64,
    /// Latency the simulated clouds add to every driver call.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub sim_latency_ms: u64,
    /// Where the platform DNS answers, over UDP and TCP.
    #[arg(long, value_name = "ADDR", default_value_t = isthmus_server::serve::DEFAULT_DNS_LISTEN)]
    pub dns_listen: SocketAddr,
    /// The platform DNS zone: clusters are `<cluster-id>.<zone>`. At most 227 bytes as a
    /// DNS name, so `public-<cluster-id>.<zone>` fits DNS's 255.
    #[arg(long, value_name = "ZONE", default_value = isthmus_server::state::DEFAULT_DNS_ZONE,
          value_parser = parse_dns_zone)]
    pub dns_zone: String,
    /// How long the certificates of local cluster nodes are valid; they are renewed after
    /// two thirds of it.
    #[arg(long, value_name = "N", default_value_t = 30 * 86_400)]
    pub node_cert_lifetime_seconds: u64,
    /// API connections open at once; more wait to be accepted until one closes.
    #[arg(long, value_name = "N", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// A request's headers must arrive within this many seconds of its first byte.
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_seconds: u64,
    /// An API connection with no request in progress is closed after this many seconds.
    #[arg(long, value_name = "N", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idle_timeout_seconds: u64,
    /// A request not answered within this many seconds gets 504 (`lab exec` has its own limit).
    #[arg(long, value_name = "N", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub request_timeout_seconds: u64,
    /// Serve without the lab API: every /v1/lab route answers 404. The lab API runs
    /// commands as root on this host for the superuser token.
    #[arg(long)]
    pub no_lab: bool,
    /// Keep the state in this PostgreSQL database (`postgres://user:password@host/db`, or
    /// `postgres://user@localhost/db?host=/socket/dir`) instead of the data dir's SQLite
    /// file; several replicas may share it.
    #[arg(long, value_name = "URL", env = "ISTHMUS_DATABASE_URL",
          value_parser = parse_database_url)]
    pub database: Option<String>,
    /// Send the `aws` provider's EC2 calls here (an emulator such as moto). `aws` uses EC2
    /// only when AWS credentials are found (environment, then the shared credentials
    /// file's profile); without them it stays on the simulator and says so at start.
    #[arg(long, value_name = "URL", env = "AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
    /// With several replicas: reconcile only these providers' resources (comma-separated,
    /// e.g. `aws,gcp`); each needs a driver here (`local` needs the local provider).
    /// Default: every provider this replica has a driver for.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_provider)]
    pub providers: Option<Vec<Provider>>,
    #[command(flatten)]
    pub local: super::LocalServeArgs,
}

/// `--database`: a PostgreSQL URL (SQLite needs no URL: it is the default).
pub(crate) fn parse_database_url(url: &str) -> Result<String, String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(url.to_string())
    } else {
        Err("must be a PostgreSQL URL (postgres://…); without --database the data dir's SQLite file is used".into())
    }
}

/// `isthmus store …`: the installation's state itself, offline.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy a stopped installation's SQLite database (every resource, token and lab VPC,
    /// the audit log included) into an empty PostgreSQL database, then verify the copy.
    Copy(StoreCopyArgs),
}

#[derive(Debug, Args)]
pub struct StoreCopyArgs {
    /// The SQLite database file (`<data-dir>/isthmus.db`) of a stopped server.
    #[arg(long, value_name = "PATH")]
    pub from: PathBuf,
    /// The empty PostgreSQL database to copy into (`postgres://…`).
    #[arg(long, value_name = "URL", value_parser = parse_database_url)]
    pub to: String,
}

/// `--dns-zone`: a DNS name with room under it for every name the platform publishes.
fn parse_dns_zone(zone: &str) -> Result<String, String> {
    isthmus_connect::dns::check_zone(zone)
        .map(|_| zone.to_string())
        .map_err(|e| format!("{e:#}"))
}

/// `isthmus login --url U --token T [--project P]`: the global flags are the input, so
/// the same spelling works for login and for every other verb.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Save without first checking the token against the server.
    #[arg(long)]
    pub no_verify: bool,
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Customer VPCs/VNets in the simulated clouds.
    #[command(subcommand)]
    Vpc(SimVpcCommand),
    /// Customer endpoints to endpoint services (private endpoints).
    #[command(subcommand)]
    Endpoint(super::sim_endpoint::SimEndpointCommand),
    /// AWS: accept the peering connection.
    Accept {
        peering_id: String,
        /// Wait until the platform sees it: the peering reaches the status this leads to.
        #[command(flatten)]
        wait: crate::args::WaitArgs,
    },
    /// Refuse the peering request.
    Reject {
        peering_id: String,
        /// Wait until the platform sees it: the peering reaches the status this leads to.
        #[command(flatten)]
        wait: crate::args::WaitArgs,
    },
    /// Delete the customer's side of a peering (drift).
    DeletePeerSide {
        peering_id: String,
        /// Wait until the platform sees it: the peering reaches the status this leads to.
        #[command(flatten)]
        wait: crate::args::WaitArgs,
    },
    /// GCP: create the reciprocal peering.
    CreateReciprocal {
        peering_id: String,
        /// Wait until the platform sees it: the peering reaches the status this leads to.
        #[command(flatten)]
        wait: crate::args::WaitArgs,
    },
    /// Azure: grant the platform's principal the role on the VNet.
    GrantRole {
        peering_id: String,
        /// Wait until the platform sees it: the peering reaches the status this leads to.
        #[command(flatten)]
        wait: crate::args::WaitArgs,
    },
    /// Show the simulated cloud's own view of a peering.
    Peering { peering_id: String },
    /// Make the next COUNT driver calls of OPERATION fail (transiently); COUNT 0 clears.
    Fault {
        /// A simulated driver operation.
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(isthmus_driver::sim::OPERATIONS))]
        operation: String,
        #[arg(long, default_value_t = 1)]
        count: u32,
    },
    /// Set the latency every simulated driver call adds.
    Latency { millis: u64 },
}

#[derive(Debug, Subcommand)]
pub enum SimVpcCommand {
    /// Create a customer VPC/VNet (superuser). Ids are checked as the real cloud would.
    Create {
        #[arg(long, value_parser = parse_provider)]
        cloud: Provider,
        /// AWS: 12-digit account id; GCP: project id; Azure: subscription GUID.
        #[arg(long)]
        account: String,
        /// AWS: VPC id (vpc-0a1b2c3d); GCP: network name; Azure: VNet name or resource id.
        #[arg(long)]
        network: String,
        /// A region of the cloud (us-east-1, us-central1, westeurope, …).
        #[arg(long)]
        region: String,
        /// The address space (AWS: /16 to /28).
        #[arg(long)]
        cidr: String,
    },
    /// List the customer VPCs of every simulated cloud.
    List,
}

fn parse_provider(s: &str) -> Result<Provider, String> {
    s.parse()
}
