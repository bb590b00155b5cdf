//! Changes by element: prefixes in a set, `key : jump chain` entries in a verdict map, so
//! that a change to one object never rewrites a rule.

use std::net::Ipv4Addr;

use isthmus_core::Cidr;

use super::expr::{jump_entry, prefix_element, text};
use super::{Batch, Table};

pub fn add_elements(b: &mut Batch, set: &str, prefixes: &[Cidr]) {
    b.add_elements(set, prefixes.iter().map(prefix_element).collect());
}

pub fn delete_elements(b: &mut Batch, set: &str, prefixes: &[Cidr]) {
    b.delete_elements(set, prefixes.iter().map(prefix_element).collect());
}

/// Points `keys` of `map` at `chain` and removes its other keys, touching only what differs.
pub(crate) fn set_map_keys(
    b: &mut Batch,
    table: &Table,
    map: &str,
    chain: &str,
    keys: &[Ipv4Addr],
) {
    let wanted: Vec<String> = keys.iter().map(Ipv4Addr::to_string).collect();
    let present = table.jumps.get(map).cloned().unwrap_or_default();
    let stale = table
        .keys_jumping_to(map, chain)
        .into_iter()
        .filter(|k| !wanted.contains(k))
        .map(|k| text(&k))
        .collect();
    b.delete_elements(map, stale);
    let mut add = vec![];
    for key in wanted {
        match present.get(&key) {
            Some(target) if target == chain => {}
            Some(_) => {
                // Someone else's entry for this address (a stale cluster): ours wins.
                b.delete_elements(map, vec![text(&key)]);
                add.push(jump_entry(&key, chain));
            }
            None => add.push(jump_entry(&key, chain)),
        }
    }
    b.add_elements(map, add);
}

/// Empties and deletes `chain` if the table has it.
pub(crate) fn delete_chain(b: &mut Batch, table: &Table, chain: &str) {
    if table.chains.contains(chain) {
        b.remove_chain(chain);
    }
}
