//! `isthmus reach`: the reachability analyzer's command line.

use clap::Args;

#[derive(Debug, Args)]
pub struct ReachArgs {
    /// Where the connection starts: an IPv4 address or a lab host as VPC/HOST.
    #[arg(long)]
    pub from: String,
    /// A cluster id or DNS name (every node), a node `<cluster-id>-<n>`, node DNS name or
    /// IP; `:PORT` picks the port (default: the engine's first port).
    #[arg(long, value_name = "DESTINATION[:PORT]")]
    pub to: String,
}
