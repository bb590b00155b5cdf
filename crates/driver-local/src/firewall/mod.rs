//! The firewall of a router namespace: one nftables table (`inet isthmus`), built from the
//! `nftables` crate's typed schema and applied through nftables' JSON interface (`nft -j`).
//! Every value is data inside the document; nothing is ever spliced into a command line.
//!
//! Layout (chains and sets are per object, so a change touches only its object):
//! ```text
//! chain pre      (hook prerouting, prio -150: per packet, before NAT)
//!   iifname <uplink> ip daddr vmap @public_in   -> jump pub_<c> per public endpoint ip
//!   iifname <uplink> drop                       (the internet reaches endpoints only)
//! chain nat_pre  (nat hook prerouting, prio -100: first packet of a connection)
//!   iifname <uplink> ip daddr vmap @public_dnat -> jump dnat_<c>
//! chain forward  (hook forward, policy drop)
//!   iifname vmap @peer_in          -> jump peer_<p> for each peering link
//!   ct state established,related accept
//!   ct state invalid drop
//!   iifname <bridge> oifname <bridge> accept      (node to node)
//!   oifname <uplink> drop                         (nodes never open connections to the internet)
//!   iifname <uplink> oifname <bridge> ct status dnat accept   (public endpoint -> node)
//!   iifname <bridge> ip saddr vmap @egress_from -> jump egress_<c> per node address
//! chain peer_<p>
//!   ip saddr != @src_<p> drop      (non-transitive: routes, + transit_routes if allowed)
//!   ip daddr vmap @private_to      -> jump prv_<c> per node of a cluster with a private list
//!   ct state established,related accept
//!   oifname <bridge> ct state new accept   (inbound to nodes)
//!   drop                           (no transit to other peerings)
//! chain pub_<c>   ip saddr != @pub_<c>_<0|1> drop; accept
//! chain dnat_<c>  dnat ip to numgen inc mod N map { i : node i }   (round robin, same port)
//! chain prv_<c>   ct direction original ip saddr != @prv_<c>_<0|1> drop
//! chain egress_<c>                 (the cluster's egress allow-list)
//!   ip daddr <cidr> [tcp dport { ports }] accept
//! chain input (hook input, policy drop): lo, established, the bridge,
//!   iifname <uplink> ip daddr vmap @public_in   (a VPN gateway's public address)
//!   iifname vmap @peer_in          (a peering's chain: replies only; a VPN gateway's: DNS)
//! chain vpn_<g>    accept          (from a VPN gateway's interface, via @peer_in: the
//!                                   gateway's own table `isthmus_vpn` judged it already)
//! chain vpnin_<g>  ct established accept; udp dport <port> accept; drop   (a VPN gateway's address, via @public_in)
//! chain vpnout_<g> (nat hook postrouting) oifname <uplink> udp sport <port> snat to <address>
//!                  (the gateway's own packets leave from its address, not the uplink's)
//! ```
//! A route change is an element change in `src_<p>`; no rule is rewritten. Allow-list
//! guards (`pub_`, `prv_`) change by elements too, or, when an added prefix overlaps a
//! removed one, by swapping to the other set of the pair in the same transaction.
//!
//! Files: `batch` (commands, one transaction per apply), `expr` (rule building blocks),
//! `base` (table, base chains, maps), `peer` (peering chains), `egress`, `maps`
//! (verdict-map entries and prefix-set elements), `read` (what the kernel holds), `nfnl`
//! (allow-list element changes straight over netlink, without nft's full dump).

mod base;
mod batch;
mod egress;
mod expr;
mod maps;
pub mod nfnl;
mod peer;
mod read;

pub use base::{base, delete_table, FORWARD_RULES, INPUT_RULES, NAT_PRE_RULES, PRE_RULES};
pub use batch::Batch;
pub use egress::{delete_egress, forget_egress_sources, set_egress};
pub use expr::prefix_element;
pub(crate) use expr::{
    accept, ct, ct_state, drop_, eq, ip, jump_entry, meta, ne, round_robin_dnat, set_ref, snat_to,
    text, udp, vmap,
};
pub use maps::{add_elements, delete_elements};
pub(crate) use maps::{delete_chain, set_map_keys};
pub use peer::{add_peering, delete_peering, PEERING_CHAIN_RULES};
pub use read::{read_set, read_table, Element, Table};

/// Peering link name -> jump to the peering's chain (`forward`).
pub(crate) const PEER_IN_MAP: &str = "peer_in";
/// Node ip -> jump to the cluster's egress chain (`forward`).
const EGRESS_MAP: &str = "egress_from";
/// Public endpoint ip -> jump to the cluster's allow-list chain (`pre`).
pub const PUBLIC_IN_MAP: &str = "public_in";
/// Public endpoint ip -> jump to the cluster's DNAT chain (`nat_pre`).
pub const PUBLIC_DNAT_MAP: &str = "public_dnat";
/// Node ip -> jump to the cluster's private allow-list chain (from peering chains).
pub const PRIVATE_TO_MAP: &str = "private_to";
