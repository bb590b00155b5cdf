//! A peering's objects: its allowed-sources set `src_<p>`, its chain `peer_<p>`, and the
//! `peer_in` entry that sends packets from its link to that chain.

use isthmus_core::Cidr;
use nftables::expr::MetaKey;

use super::expr::{accept, ct_state, drop_, eq, ip, jump_entry, meta, ne, set_ref, text, vmap};
use super::maps::{add_elements, delete_chain};
use super::{Batch, Table, PEER_IN_MAP, PRIVATE_TO_MAP};

/// The rules [`add_peering`] puts in the peering's chain.
pub const PEERING_CHAIN_RULES: usize = 5;

/// Adds a peering: its allowed-sources set (filled with `routes`), its chain, and the
/// map entry that sends packets from its link to that chain.
pub fn add_peering(
    b: &mut Batch,
    link: &str,
    set: &str,
    chain: &str,
    bridge: &str,
    routes: &[Cidr],
) {
    b.add_interval_set(set);
    b.add_chain(chain);
    b.flush_chain(chain);
    // Non-transitive: only the peering's own sources come in.
    b.rule(chain, vec![ne(ip("saddr"), set_ref(set)), drop_()]);
    b.rule(chain, vec![vmap(ip("daddr"), PRIVATE_TO_MAP)]);
    b.rule(chain, vec![ct_state(&["established", "related"]), accept()]);
    b.rule(
        chain,
        vec![
            eq(meta(MetaKey::Oifname), text(bridge)),
            ct_state(&["new"]),
            accept(),
        ],
    );
    // No transit to other peerings or the internet.
    b.rule(chain, vec![drop_()]);
    add_elements(b, set, routes);
    b.add_elements(PEER_IN_MAP, vec![jump_entry(link, chain)]);
}

/// Removes a peering's map entry, chain and set (each only if present in `current`).
pub fn delete_peering(b: &mut Batch, current: &Table, link: &str, set: &str, chain: &str) {
    if current.peer_links.contains(link) {
        b.delete_elements(PEER_IN_MAP, vec![text(link)]);
    }
    delete_chain(b, current, chain);
    if current.sets.contains(set) {
        b.delete_set(set);
    }
}
