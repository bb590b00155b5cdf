//! An allow-list as a lookup structure: up to 8,000 prefixes, possibly nested
//! (10.0.0.0/8 and 10.1.0.0/16), asked "which entry holds this address?".
//!
//! Entries are sorted once; a lookup tries, from the longest prefix length in use to the
//! shortest, the one prefix of that length that could hold the address — a binary search
//! each — so the most specific entry answers in at most 33 × log₂(n) comparisons, and
//! building costs one sort (cheaper than a tree of 8,000 nodes per cluster).

use std::net::Ipv4Addr;

use crate::resources::AllowlistEntry;
use crate::Cidr;

#[derive(Debug, Clone, Default)]
pub(super) struct AllowSet {
    /// The entries' prefixes, sorted.
    sorted: Vec<Cidr>,
    /// Bit `len` is set when some entry has prefix length `len`.
    lens: u64,
}

impl AllowSet {
    pub(super) fn new(entries: &[AllowlistEntry]) -> AllowSet {
        let mut sorted: Vec<Cidr> = entries.iter().map(|e| e.cidr).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let lens = sorted.iter().fold(0u64, |acc, c| acc | 1 << c.prefix_len());
        AllowSet { sorted, lens }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// The most specific entry holding `ip`.
    pub(super) fn longest_match(&self, ip: Ipv4Addr) -> Option<Cidr> {
        (0..=32u8)
            .rev()
            .filter(|len| self.lens & (1 << len) != 0)
            .map(|len| Cidr::containing(ip, len))
            .find(|c| self.sorted.binary_search(c).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(cidrs: &[&str]) -> AllowSet {
        let entries: Vec<AllowlistEntry> = cidrs
            .iter()
            .map(|c| AllowlistEntry {
                cidr: c.parse().unwrap(),
                comment: String::new(),
                expires_at: None,
            })
            .collect();
        AllowSet::new(&entries)
    }

    #[test]
    fn the_most_specific_entry_answers() {
        let s = set(&["10.0.0.0/8", "10.1.0.0/16", "203.0.113.10/32"]);
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            s.longest_match(ip("10.1.2.3")),
            Some("10.1.0.0/16".parse().unwrap())
        );
        assert_eq!(
            s.longest_match(ip("10.2.2.3")),
            Some("10.0.0.0/8".parse().unwrap())
        );
        assert_eq!(
            s.longest_match(ip("203.0.113.10")),
            Some("203.0.113.10/32".parse().unwrap())
        );
        assert_eq!(s.longest_match(ip("203.0.113.11")), None);
    }

    #[test]
    fn zero_slash_zero_holds_every_address_and_an_empty_list_none() {
        let any = set(&["0.0.0.0/0"]);
        assert_eq!(
            any.longest_match("198.51.100.7".parse().unwrap()),
            Some("0.0.0.0/0".parse().unwrap())
        );
        let none = set(&[]);
        assert!(none.is_empty());
        assert_eq!(none.longest_match("198.51.100.7".parse().unwrap()), None);
    }
}
