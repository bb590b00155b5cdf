//! The `local` provider: real private networks on this Linux host.
//!
//! - A platform network is a router namespace with a bridge that carries the network's
//!   gateway address, and one nftables table (`inet isthmus`) as its firewall.
//! - Each cluster node is a namespace on that bridge, with its node IP and a default route
//!   via the gateway.
//! - A lab VPC (the customer's side) is a router namespace with a bridge and host
//!   namespaces; a local peering is a veth pair between the two routers.
//!
//! Nothing is ever addressed or routed in the host's root namespace: veth pairs are born
//! with their ends in the target namespaces. Netlink runs on a dedicated thread per
//! namespace switch; nftables through its JSON interface.

mod driver;
pub mod firewall;
pub mod lab;
pub mod names;
pub mod netns;
mod network;
pub mod nl;
mod peering;
pub mod probe;
mod sweep;
mod topology;

pub use driver::{LocalConfig, LocalDriver};
pub use lab::{LabHost, LabHostSpec, LabVpc, LabVpcSpec};
pub use sweep::{KnownObjects, SweepReport};
