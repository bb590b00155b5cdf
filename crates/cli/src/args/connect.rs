//! Verbs of cluster connectivity: the installation CA and the `probe` engine's node process.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Print the installation CA certificate (PEM), or write it to a file.
    Get {
        /// Write the certificate here instead of printing it.
        #[arg(short = 'f', long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

/// `isthmus probe`: the `probe` engine's node process, as the controller starts it in a
/// node's namespace. Serves TLS on every listen address and answers with who it is.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Address to serve TLS on (repeat for several).
    #[arg(long, value_name = "IP:PORT", required = true)]
    pub listen: Vec<SocketAddr>,
    /// The node's certificate (PEM); a renewed file is picked up without a restart.
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,
    /// The node's private key (PEM).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The cluster this node belongs to (reported to clients).
    #[arg(long, value_name = "ID")]
    pub cluster_id: String,
    /// This node's index in the cluster (reported to clients).
    #[arg(long, value_name = "N")]
    pub node_index: u32,
    /// A DNS name of this node (repeat: node name, cluster name, public name).
    #[arg(long = "name", value_name = "NAME")]
    pub names: Vec<String>,
}
