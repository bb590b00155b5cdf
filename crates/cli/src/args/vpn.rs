//! `isthmus vpn gateway …` and `isthmus vpn client …`: WireGuard access for laptops to
//! the clusters of one network, with grants the gateway enforces.

use clap::{Subcommand, ValueEnum};
use isthmus_core::kinds::vpn_gateway::VpnGateway;

use super::verbs::Verbs;
use super::WaitArgs;

#[derive(Debug, Subcommand)]
pub enum VpnCommand {
    /// The WireGuard gateway of a network (at most one per network).
    #[command(subcommand)]
    Gateway(VpnGatewayCommand),
    /// People's keys on a gateway, with what each may reach.
    #[command(subcommand)]
    Client(VpnClientCommand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DnsMode {
    /// The config names a resolver through the tunnel for the platform zone.
    Push,
    None,
}

#[derive(Debug, Subcommand)]
pub enum VpnGatewayCommand {
    /// Create a network's gateway.
    Create {
        name: String,
        /// The network whose clusters clients reach.
        #[arg(long)]
        network: String,
        /// The clients' tunnel addresses: a private range overlapping nothing of the
        /// network, its peerings or the project's other gateways (e.g. 100.64.0.0/24).
        #[arg(long)]
        client_cidr: String,
        #[arg(long, value_enum, default_value_t = DnsMode::None)]
        dns: DnsMode,
        /// The longest a client may live, in days (default 90, at most 365).
        #[arg(long)]
        max_client_days: Option<u32>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    #[command(flatten)]
    Object(Verbs<VpnGateway>),
}

#[derive(Debug, Subcommand)]
pub enum VpnClientCommand {
    /// Add a client. Without --public-key the server makes the key pair and answers the
    /// private key once (it keeps only the public key).
    Add {
        /// The gateway id.
        gateway: String,
        name: String,
        /// What the client may reach: CLUSTER (its engine's first port) or
        /// CLUSTER:PORT[,PORT…]. Repeat for several.
        #[arg(long = "grant", value_name = "CLUSTER[:PORTS]")]
        grants: Vec<String>,
        /// How long until it expires (e.g. 30d, 12h); default and ceiling: the
        /// gateway's maximum.
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
        /// The laptop's own public key (`wg pubkey < private.key`).
        #[arg(long)]
        public_key: Option<String>,
    },
    /// List a gateway's clients with their states.
    List {
        /// The gateway id.
        gateway: String,
    },
    /// Show one client: state, last handshake, endpoint, bytes, denied flows.
    Get { client: String },
    /// The client's wg-quick config (the private key is a placeholder unless given).
    Config {
        client: String,
        /// A file with the private key to put into the config (else a placeholder).
        #[arg(long, value_name = "FILE")]
        private_key_file: Option<std::path::PathBuf>,
        /// A PNG QR code of the config instead (needs --out).
        #[arg(long)]
        qr: bool,
        /// Write to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
    /// Revoke a client: the gateway drops its key and cuts its open connections.
    Revoke {
        client: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Change a client's grants (the new full list) or name.
    Update {
        client: String,
        /// The new full list of grants: CLUSTER or CLUSTER:PORT[,PORT…]; repeat.
        #[arg(long = "grant", value_name = "CLUSTER[:PORTS]")]
        grants: Vec<String>,
        #[arg(long)]
        name: Option<String>,
    },
    /// Give a client a new key: same address, same grants; the old key stops working.
    Rotate {
        client: String,
        /// The new public key (else the server makes a pair and answers the private key
        /// once).
        #[arg(long)]
        public_key: Option<String>,
    },
}
