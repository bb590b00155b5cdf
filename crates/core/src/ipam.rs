//! IPAM: prefix sets with fast overlap and containment queries.
//!
//! NOTE: placeholder linear implementation; replaced by a prefix structure (see issue 2).

use crate::Cidr;

/// A set of prefixes, each carrying a value (e.g. the peering that owns a route).
#[derive(Debug, Clone)]
pub struct PrefixSet<V> {
    entries: Vec<(Cidr, V)>,
}

impl<V> Default for PrefixSet<V> {
    fn default() -> Self {
        PrefixSet {
            entries: Vec::new(),
        }
    }
}

impl<V> PrefixSet<V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, cidr: Cidr, value: V) {
        self.entries.push((cidr, value));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Some prefix of the set that shares an address with `cidr`, with its value.
    pub fn first_overlap(&self, cidr: &Cidr) -> Option<(&Cidr, &V)> {
        self.entries
            .iter()
            .find(|(c, _)| c.overlaps(cidr))
            .map(|(c, v)| (c, v))
    }

    /// Every prefix of the set that shares an address with `cidr`.
    pub fn overlapping(&self, cidr: &Cidr) -> Vec<(&Cidr, &V)> {
        self.entries
            .iter()
            .filter(|(c, _)| c.overlaps(cidr))
            .map(|(c, v)| (c, v))
            .collect()
    }

    /// The most specific prefix of the set that contains `addr`.
    pub fn longest_match(&self, addr: std::net::Ipv4Addr) -> Option<(&Cidr, &V)> {
        self.entries
            .iter()
            .filter(|(c, _)| c.contains_addr(addr))
            .max_by_key(|(c, _)| c.prefix_len())
            .map(|(c, v)| (c, v))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Cidr, &V)> {
        self.entries.iter().map(|(c, v)| (c, v))
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
