//! IPAM: prefix sets with fast overlap and containment queries.
//!
//! Two IPv4 prefixes either nest or are disjoint, never partly overlap. So a prefix `q`
//! overlaps exactly (a) the prefixes that contain it — at most one per length, found by
//! truncating `q` to each length in use — and (b) the prefixes that start inside `q`,
//! which are one contiguous run of a map ordered by start address. Both are logarithmic
//! lookups in a `BTreeMap`, so a peering's 50 routes check against 100,000 taken routes in
//! microseconds (see `benches/overlap.rs`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::ops::Bound;

use crate::Cidr;

/// Map key: the prefix (ordered by start address, then length) and an insertion number,
/// so the same prefix can be held more than once with different values.
type Key = (Cidr, u64);

/// A set of prefixes, each carrying a value (e.g. the peering that owns a route).
/// The same prefix may be inserted several times; each insertion is its own entry.
/// Iteration is in address order (start address, then shorter prefix first).
#[derive(Debug, Clone)]
pub struct PrefixSet<V> {
    entries: BTreeMap<Key, V>,
    /// Entries per prefix length, so ancestor lookups only visit lengths in use.
    per_len: [usize; 33],
    next_seq: u64,
}

impl<V> Default for PrefixSet<V> {
    fn default() -> Self {
        PrefixSet {
            entries: BTreeMap::new(),
            per_len: [0; 33],
            next_seq: 0,
        }
    }
}

impl<V> PrefixSet<V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, cidr: Cidr, value: V) {
        self.entries.insert((cidr, self.next_seq), value);
        self.next_seq += 1;
        self.per_len[usize::from(cidr.prefix_len())] += 1;
    }

    /// Removes every entry of exactly this prefix and returns their values
    /// (empty when the prefix was not in the set).
    pub fn remove(&mut self, cidr: &Cidr) -> Vec<V> {
        let keys: Vec<Key> = self
            .exact_range(cidr)
            .map(|((c, seq), _)| (*c, *seq))
            .collect();
        self.per_len[usize::from(cidr.prefix_len())] -= keys.len();
        keys.iter().filter_map(|k| self.entries.remove(k)).collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Some prefix of the set that shares an address with `cidr`, with its value.
    /// A containing (wider) prefix is preferred, widest first.
    pub fn first_overlap(&self, cidr: &Cidr) -> Option<(&Cidr, &V)> {
        self.containing(cidr)
            .next()
            .or_else(|| self.inside(cidr).next())
    }

    /// Every prefix of the set that shares an address with `cidr`: first those that
    /// contain it (widest first), then those inside it in address order.
    pub fn overlapping(&self, cidr: &Cidr) -> Vec<(&Cidr, &V)> {
        self.containing(cidr).chain(self.inside(cidr)).collect()
    }

    /// The most specific prefix of the set that contains `addr`.
    pub fn longest_match(&self, addr: Ipv4Addr) -> Option<(&Cidr, &V)> {
        (0..=32u8)
            .rev()
            .filter(|len| self.per_len[usize::from(*len)] > 0)
            .find_map(|len| self.exact_range(&Cidr::containing(addr, len)).next())
            .map(|((c, _), v)| (c, v))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Cidr, &V)> {
        self.entries.iter().map(|((c, _), v)| (c, v))
    }

    /// Entries of exactly `cidr`.
    fn exact_range(&self, cidr: &Cidr) -> impl Iterator<Item = (&Key, &V)> {
        self.entries.range((*cidr, 0)..=(*cidr, u64::MAX))
    }

    /// Entries strictly wider than `cidr` that contain it, widest first.
    fn containing<'a>(&'a self, cidr: &Cidr) -> impl Iterator<Item = (&'a Cidr, &'a V)> + 'a {
        let addr = cidr.network();
        (0..cidr.prefix_len())
            .filter(|len| self.per_len[usize::from(*len)] > 0)
            .flat_map(move |len| self.exact_range(&Cidr::containing(addr, len)))
            .map(|((c, _), v)| (c, v))
    }

    /// Entries that start inside `cidr` (the prefix itself and everything nested in it).
    /// A prefix starting inside `cidr` is either `cidr`'s start with a shorter length
    /// (handled by `containing`, and sorted before `(cidr, 0)`) or lies wholly inside.
    fn inside<'a>(&'a self, cidr: &Cidr) -> impl Iterator<Item = (&'a Cidr, &'a V)> + 'a {
        let last = Cidr::containing(cidr.broadcast(), 32);
        self.entries
            .range((
                Bound::Included((*cidr, 0)),
                Bound::Included((last, u64::MAX)),
            ))
            .map(|((c, _), v)| (c, v))
    }
}

impl<V> FromIterator<(Cidr, V)> for PrefixSet<V> {
    fn from_iter<T: IntoIterator<Item = (Cidr, V)>>(iter: T) -> Self {
        let mut set = PrefixSet::new();
        for (c, v) in iter {
            set.insert(c, v);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn overlaps_are_found_above_below_and_at_the_prefix() {
        let set: PrefixSet<&str> = [
            (c("10.0.0.0/8"), "wide"),
            (c("192.168.1.0/24"), "exact"),
            (c("172.16.5.0/24"), "narrow"),
        ]
        .into_iter()
        .collect();
        assert_eq!(set.first_overlap(&c("10.9.0.0/16")).unwrap().1, &"wide");
        assert_eq!(set.first_overlap(&c("192.168.1.0/24")).unwrap().1, &"exact");
        assert_eq!(set.first_overlap(&c("172.16.0.0/12")).unwrap().1, &"narrow");
        assert!(set.first_overlap(&c("172.16.6.0/24")).is_none());
    }

    #[test]
    fn remove_takes_out_every_entry_of_that_prefix_only() {
        let mut set = PrefixSet::new();
        set.insert(c("10.1.0.0/16"), 1);
        set.insert(c("10.1.0.0/16"), 2);
        set.insert(c("10.1.0.0/24"), 3);
        assert_eq!(set.remove(&c("10.1.0.0/16")), vec![1, 2]);
        assert_eq!(set.len(), 1);
        assert_eq!(
            set.longest_match("10.1.0.9".parse().unwrap()).unwrap().1,
            &3
        );
        assert!(set.remove(&c("10.1.0.0/16")).is_empty());
    }
}
