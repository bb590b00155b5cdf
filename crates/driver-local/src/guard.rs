//! Allow-list guards: a chain whose first rule drops every source outside a prefix set
//! (`ip saddr != @<chain>_<0|1> drop`), checked on every packet, so a removed entry cuts
//! its connections at once while the entries that stay keep theirs.
//!
//! A change is one nftables transaction. Usually it adds and deletes elements; when an
//! added prefix overlaps a removed one (nft refuses overlapping intervals within a set,
//! even in one transaction), the guard switches to the other set of its pair, filled with
//! the whole new list, in the same transaction: no packet ever sees a half-applied list.

use std::collections::BTreeSet;

use crate::firewall::{self, accept, ct, drop_, eq, ip, ne, set_ref, text, Batch, Element, Table};
use isthmus_core::Cidr;

/// The entries that decide: contained prefixes dropped (10.1.0.0/16 inside 10.0.0.0/8
/// adds nothing), so the rest are pairwise disjoint, as an interval set needs.
pub fn collapse(prefixes: &[Cidr]) -> Vec<Cidr> {
    let mut sorted: Vec<Cidr> = prefixes.to_vec();
    // By start address, the widest first: a prefix contained in an earlier one follows it.
    sorted.sort_by_key(|c| (c.start(), c.prefix_len()));
    sorted.dedup();
    let mut out: Vec<Cidr> = Vec::with_capacity(sorted.len());
    for cidr in sorted {
        if out.last().is_some_and(|last| last.contains(&cidr)) {
            continue;
        }
        out.push(cidr);
    }
    out
}

/// How a set's elements become `wanted` (both sides collapsed, so disjoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetChange {
    /// Add and delete elements (nothing added overlaps anything deleted).
    Elements { add: Vec<Cidr>, delete: Vec<Cidr> },
    /// Fill a fresh set with `wanted` (an added prefix overlaps a deleted one, many go, or
    /// the set holds elements that are not prefixes: someone's hand edit).
    Replace,
}

impl SetChange {
    pub fn is_noop(&self) -> bool {
        matches!(self, SetChange::Elements { add, delete }
            if add.is_empty() && delete.is_empty())
    }
}

/// Above this many deletions, filling a fresh set is faster: nft (1.0.6) deletes interval
/// elements one by one at a cost that grows with the set (8,000 deletions from an
/// 8,000-entry set take ~40 s; a fresh 8,000-entry set ~0.3 s).
pub const MAX_ELEMENT_DELETIONS: usize = 64;

pub fn plan_change(current: &[Element], wanted: &[Cidr]) -> SetChange {
    let present: BTreeSet<Cidr> = current
        .iter()
        .filter_map(|e| e.as_ref().ok().copied())
        .collect();
    let wanted: BTreeSet<Cidr> = wanted.iter().copied().collect();
    let add: Vec<Cidr> = wanted.difference(&present).copied().collect();
    let delete: Vec<Cidr> = present.difference(&wanted).copied().collect();
    let hand_made = current.iter().any(Result::is_err);
    // Kept elements are disjoint from the added ones (`wanted` is collapsed); only a
    // deleted element can overlap an added one. Hand-made ranges could overlap anything.
    let clash = hand_made || delete.len() > MAX_ELEMENT_DELETIONS || overlaps_any(&add, &delete);
    if clash {
        SetChange::Replace
    } else {
        SetChange::Elements { add, delete }
    }
}

/// Whether a prefix of `a` overlaps one of `b` (both sorted and disjoint within
/// themselves: a merge walk, not a product, since both may hold 8,000 entries).
fn overlaps_any(a: &[Cidr], b: &[Cidr]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].overlaps(&b[j]) {
            return true;
        }
        if a[i].end() < b[j].end() {
            i += 1;
        } else {
            j += 1;
        }
    }
    false
}

/// One guard chain and its pair of sets.
#[derive(Debug, Clone)]
pub struct Guard {
    pub chain: String,
    /// Whether the chain accepts what passes (a base-chain verdict) or returns to its caller.
    pub accept_after: bool,
    /// Judge only packets of the connection's originator (replies to connections the
    /// nodes opened, as their egress allow-list permits, are not a source's to refuse).
    pub originator_only: bool,
}

impl Guard {
    fn set_name(&self, slot: u8) -> String {
        format!("{}_{slot}", self.chain)
    }

    fn rules(&self) -> usize {
        1 + usize::from(self.accept_after)
    }

    /// The set the chain uses now, if the chain is intact.
    pub fn active_set(&self, table: &Table) -> Option<String> {
        if table.rule_count(&self.chain) != self.rules() {
            return None;
        }
        let refs = table.set_refs.get(&self.chain)?;
        [0, 1]
            .map(|slot| self.set_name(slot))
            .into_iter()
            .find(|name| refs.contains(name) && table.elements.contains_key(name))
    }

    /// What differs from `wanted` (`None`: nothing).
    pub fn drift(&self, table: &Table, wanted: &[Cidr]) -> Option<String> {
        let Some(set) = self.active_set(table) else {
            return Some(format!(
                "allow-list chain {} is missing or altered",
                self.chain
            ));
        };
        let change = plan_change(&table.elements[&set], &collapse(wanted));
        (!change.is_noop()).then(|| format!("allow-list set {set} differs from the list"))
    }

    /// Clears leftovers so [`apply`](Self::apply) can create its set afresh: the unused
    /// set of the pair (a crash between transactions), or, when the chain is missing or
    /// altered, the chain's rules and both sets. Applied as a batch of its own first.
    pub fn prepare(&self, table: &Table, b: &mut Batch) {
        let active = self.active_set(table);
        if active.is_none() && table.chains.contains(&self.chain) {
            b.flush_chain(&self.chain);
        }
        for slot in [0, 1] {
            let name = self.set_name(slot);
            if table.sets.contains(&name) && active.as_deref() != Some(name.as_str()) {
                b.delete_set(&name);
            }
        }
    }

    /// Brings the guard to `wanted` (after [`prepare`](Self::prepare) was applied).
    /// Returns the set its chain uses once `b` is applied.
    pub fn apply(&self, table: &Table, b: &mut Batch, wanted: &[Cidr]) -> String {
        let wanted = collapse(wanted);
        let active = self.active_set(table);
        if let Some(set) = &active {
            if let SetChange::Elements { add, delete } = plan_change(&table.elements[set], &wanted)
            {
                firewall::delete_elements(b, set, &delete);
                firewall::add_elements(b, set, &add);
                return set.clone();
            }
        }
        let next = match &active {
            Some(set) if *set == self.set_name(0) => self.set_name(1),
            _ => self.set_name(0),
        };
        b.add_interval_set(&next);
        firewall::add_elements(b, &next, &wanted);
        b.add_chain(&self.chain);
        b.flush_chain(&self.chain);
        let mut guard = vec![];
        if self.originator_only {
            guard.push(eq(ct("direction"), text("original")));
        }
        guard.push(ne(ip("saddr"), set_ref(&next)));
        guard.push(drop_());
        b.rule(&self.chain, guard);
        if self.accept_after {
            b.rule(&self.chain, vec![accept()]);
        }
        if let Some(old) = active {
            b.delete_set(&old);
        }
        next
    }

    /// Removes the chain and its sets (callers first remove the map entries that jump here).
    pub fn delete(&self, table: &Table, b: &mut Batch) {
        firewall::delete_chain(b, table, &self.chain);
        for slot in [0, 1] {
            let name = self.set_name(slot);
            if table.sets.contains(&name) {
                b.delete_set(&name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|c| c.parse().unwrap()).collect()
    }

    #[test]
    fn contained_prefixes_add_nothing_and_everything_is_one_prefix() {
        assert_eq!(
            collapse(&cidrs(&[
                "10.1.0.0/16",
                "10.0.0.0/8",
                "192.0.2.7/32",
                "10.0.0.0/8"
            ])),
            cidrs(&["10.0.0.0/8", "192.0.2.7/32"])
        );
        assert_eq!(
            collapse(&cidrs(&["203.0.113.0/24", "0.0.0.0/0"])),
            cidrs(&["0.0.0.0/0"])
        );
    }

    #[test]
    fn overlap_is_found_between_sorted_lists() {
        let a = cidrs(&["10.0.0.0/24", "10.0.2.0/24", "11.0.0.0/8"]);
        assert!(!overlaps_any(&a, &cidrs(&["10.0.1.0/24", "10.0.3.0/24"])));
        assert!(overlaps_any(&a, &cidrs(&["10.0.1.0/24", "10.0.2.128/25"])));
        assert!(overlaps_any(&a, &cidrs(&["11.5.0.0/16"])));
        assert!(overlaps_any(&cidrs(&["0.0.0.0/0"]), &a));
    }

    #[test]
    fn many_deletions_replace_the_set() {
        let current: Vec<Element> = (0..=MAX_ELEMENT_DELETIONS as u32)
            .map(|i| {
                Ok(Cidr::containing(
                    std::net::Ipv4Addr::from(0x0a00_0000 + (i << 8)),
                    24,
                ))
            })
            .collect();
        assert_eq!(plan_change(&current, &[]), SetChange::Replace);
    }

    #[test]
    fn a_widened_entry_replaces_the_set_and_a_disjoint_one_is_an_element_change() {
        let current: Vec<Element> = cidrs(&["10.0.0.0/16", "192.0.2.0/24"])
            .into_iter()
            .map(Ok)
            .collect();
        assert_eq!(
            plan_change(&current, &cidrs(&["10.0.0.0/8", "192.0.2.0/24"])),
            SetChange::Replace
        );
        assert_eq!(
            plan_change(&current, &cidrs(&["10.0.0.0/16", "198.51.100.0/24"])),
            SetChange::Elements {
                add: cidrs(&["198.51.100.0/24"]),
                delete: cidrs(&["192.0.2.0/24"]),
            }
        );
    }
}
