//! A cluster's egress allow-list: chain `egress_<c>` accepts what the list permits, and
//! `egress_from` sends packets from each of the cluster's node addresses to it.

use std::net::Ipv4Addr;

use isthmus_core::resources::EgressRule;

use super::expr::{accept, eq, ip, jump_entry, numbers, prefix_element, tcp, text};
use super::maps::delete_chain;
use super::{Batch, Table, EGRESS_MAP};

/// Sets a cluster's egress chain to exactly `rules` and points its node addresses at it.
pub fn set_egress(
    b: &mut Batch,
    current: &Table,
    chain: &str,
    nodes: &[Ipv4Addr],
    rules: &[EgressRule],
) {
    b.add_chain(chain);
    b.flush_chain(chain);
    for rule in rules {
        let mut expr = vec![eq(ip("daddr"), prefix_element(&rule.cidr))];
        if !rule.ports.is_empty() {
            let ports = rule.ports.iter().map(|p| u32::from(*p));
            expr.push(eq(tcp("dport"), numbers(ports)));
        }
        expr.push(accept());
        b.rule(chain, expr);
    }
    let missing = nodes
        .iter()
        .map(Ipv4Addr::to_string)
        .filter(|ip| !current.egress_sources.contains(ip))
        .map(|ip| jump_entry(&ip, chain))
        .collect();
    b.add_elements(EGRESS_MAP, missing);
}

/// Removes a cluster's egress chain and its node addresses from the egress map.
pub fn delete_egress(b: &mut Batch, current: &Table, chain: &str, nodes: &[Ipv4Addr]) {
    let present = nodes
        .iter()
        .map(Ipv4Addr::to_string)
        .filter(|ip| current.egress_sources.contains(ip))
        .map(|ip| text(&ip))
        .collect();
    b.delete_elements(EGRESS_MAP, present);
    delete_chain(b, current, chain);
}

/// Takes addresses a cluster's nodes no longer hold (a replaced node's old one) out of
/// the egress map, so a node given one of them later is not sent to this cluster's chain.
pub fn forget_egress_sources(b: &mut Batch, current: &Table, ips: &[Ipv4Addr]) {
    let present = ips
        .iter()
        .map(Ipv4Addr::to_string)
        .filter(|ip| current.egress_sources.contains(ip))
        .map(|ip| text(&ip))
        .collect();
    b.delete_elements(EGRESS_MAP, present);
}
