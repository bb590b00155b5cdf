//! `isthmus reach`: the reachability analyzer's command line.

use clap::Args;

#[derive(Debug, Args)]
pub struct ReachArgs {
    /// Where the connection starts: an IPv4 address, a lab host as VPC/HOST, or an
    /// internet host as internet/HOST.
    #[arg(long)]
    pub from: String,
    /// A cluster id or DNS name (every node), a node `<cluster-id>-<n>`, node DNS name or
    /// IP, or the public endpoint `public-<id>.<zone>`; `:PORT` picks the port (default:
    /// the engine's first port).
    #[arg(long, value_name = "DESTINATION[:PORT]")]
    pub to: String,
}
