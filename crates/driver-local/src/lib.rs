//! The `local` provider: real private networks on this Linux host.
//!
//! - A platform network is a router namespace with a bridge that carries the network's
//!   gateway address, and one nftables table (`inet isthmus`) as its firewall.
//! - Each cluster node is a namespace on that bridge, with its node IP and a default route
//!   via the gateway.
//! - A lab VPC (the customer's side) is a router namespace with a bridge and host
//!   namespaces; a local peering is a veth pair between the two routers. A lab VPC
//!   `behind` another is linked to it and routes everything through it.
//! - The lab's internet is a namespace of ours (`<prefix>-inet`) with internet hosts linked
//!   to it. A network's router gets an uplink to it when a cluster has a public endpoint;
//!   the router filters by the cluster's public allow-list and forwards (DNAT) to nodes.
//! - A lab endpoint (a private endpoint in a lab VPC) is a namespace with a leg on the lab
//!   VPC's bridge and, once accepted, one on the network's bridge; it DNATs to the nodes
//!   and SNATs to its NAT address (`endpoint/`).
//!
//! Nothing is ever addressed or routed in the host's root namespace: veth pairs are born
//! with their ends in the target namespaces. Netlink runs on one long-lived thread per
//! namespace (never on a tokio worker); nftables through its JSON interface.

mod access;
mod applied;
mod driver;
pub mod endpoint;
pub mod errors;
mod fast_access;
pub mod firewall;
pub mod guard;
mod internet;
pub mod lab;
mod lab_exec;
mod migration;
mod move_link;
pub mod names;
pub mod netns;
mod network;
pub mod nl;
mod node_replace;
mod peering;
pub mod probe;
mod sweep;
mod topology;
pub mod vpn;

pub use driver::{LocalConfig, LocalDriver};
pub use endpoint::LabEndpoint;
pub use internet::{INTERNET_GATEWAY, INTERNET_RESOLVER};
pub use lab::{LabHost, LabHostSpec, LabVpc, LabVpcSpec};
pub use lab_exec::{ExecLimits, ExecOutput, MAX_EXEC_OUTPUT};
pub use sweep::{KnownObjects, SweepReport};
