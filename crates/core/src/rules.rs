//! The rules the core enforces, as pure functions over a snapshot of the state they need.
//! The store calls them inside the same transaction that writes, so two concurrent
//! requests can never both pass a rule only one may pass.
//!
//! Each kind's rules live beside its type under [`crate::kinds`]; this module gathers
//! them under the paths the other crates use.

pub use crate::kinds::access::{
    assign_public_endpoint, cluster_warnings, egress_warnings, public_pool, validate_allowlist,
    validate_comment, validate_egress, validate_public_access, MAX_ALLOWLIST_ENTRIES,
    MAX_COMMENT_LEN, MAX_EGRESS_PORTS,
};
pub use crate::kinds::cluster::{
    allocate_node_ips, cluster_dns_name, new_cluster, node_dns_name, update_cluster,
};
pub use crate::kinds::network::{
    check_network_deletable, check_network_overlap, gateway_address, new_network, private_ranges,
    reserved_addresses, update_network, validate_network_cidr, validate_private_cidr,
};
pub use crate::kinds::node_replace::replace_node;
pub use crate::kinds::peering::{new_peering, peering_warnings, taken_routes, update_peering};
pub use crate::kinds::routes::{validate_routes, validate_transit_routes, MAX_ROUTES};
pub use crate::kinds::validate::{
    check_printable, parse_cidr, validate_name, validate_region, Checks, MAX_NAME_LEN,
};
