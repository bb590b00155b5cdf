//! Properties of `PrefixSet`, `cover`, `exclude` and `free`, each checked against a naive reference
//! that scans plain `u32` address ranges — slow but obviously right.

use std::net::Ipv4Addr;

use isthmus_core::ipam::PrefixSet;
use isthmus_core::planner::{cover, exclude, free};
use isthmus_core::Cidr;
use proptest::prelude::*;

/// Prefixes clustered in a small space (10.0.0.0/16 and a few wide ones) so that
/// overlaps, nesting and exact duplicates are common.
fn prefix() -> impl Strategy<Value = Cidr> {
    prop_oneof![
        4 => (0u32..65536, 16u8..=32).prop_map(|(low, len)| {
            Cidr::containing(Ipv4Addr::from(0x0A00_0000 | low), len)
        }),
        1 => (any::<u32>(), 0u8..=16).prop_map(|(addr, len)| Cidr::containing(Ipv4Addr::from(addr), len)),
    ]
}

fn address() -> impl Strategy<Value = Ipv4Addr> {
    prop_oneof![
        4 => (0u32..65536).prop_map(|low| Ipv4Addr::from(0x0A00_0000 | low)),
        1 => any::<u32>().prop_map(Ipv4Addr::from),
    ]
}

fn range_overlaps(a: &Cidr, b: &Cidr) -> bool {
    a.start() <= b.end() && b.start() <= a.end()
}

fn build(prefixes: &[Cidr]) -> PrefixSet<usize> {
    prefixes.iter().copied().zip(0..).collect()
}

fn sorted(mut v: Vec<(Cidr, usize)>) -> Vec<(Cidr, usize)> {
    v.sort();
    v
}

proptest! {
    #[test]
    fn overlapping_returns_exactly_the_entries_sharing_an_address(
        prefixes in prop::collection::vec(prefix(), 0..60),
        query in prefix(),
    ) {
        let set = build(&prefixes);
        let expected: Vec<(Cidr, usize)> = prefixes.iter().copied().zip(0..)
            .filter(|(c, _)| range_overlaps(c, &query))
            .collect();
        let got: Vec<(Cidr, usize)> = set.overlapping(&query).into_iter().map(|(c, v)| (*c, *v)).collect();
        prop_assert_eq!(sorted(got), sorted(expected.clone()));

        match set.first_overlap(&query) {
            None => prop_assert!(expected.is_empty()),
            Some((c, v)) => prop_assert!(expected.contains(&(*c, *v))),
        }
    }

    #[test]
    fn longest_match_is_the_narrowest_entry_holding_the_address(
        prefixes in prop::collection::vec(prefix(), 0..60),
        addr in address(),
    ) {
        let set = build(&prefixes);
        let a = u32::from(addr);
        let best_len = prefixes.iter()
            .filter(|c| c.start() <= a && a <= c.end())
            .map(|c| c.prefix_len())
            .max();
        let got = set.longest_match(addr);
        prop_assert_eq!(got.map(|(c, _)| c.prefix_len()), best_len);
        if let Some((c, v)) = got {
            prop_assert!(c.contains_addr(addr));
            prop_assert_eq!(prefixes[*v], *c, "the value belongs to that prefix");
        }
    }

    #[test]
    fn iter_and_len_hold_every_insertion_and_remove_takes_out_one_prefix(
        prefixes in prop::collection::vec(prefix(), 0..60),
        victim in prefix(),
    ) {
        let mut set = build(&prefixes);
        prop_assert_eq!(set.len(), prefixes.len());
        prop_assert_eq!(set.is_empty(), prefixes.is_empty());
        let all: Vec<(Cidr, usize)> = set.iter().map(|(c, v)| (*c, *v)).collect();
        prop_assert_eq!(sorted(all), sorted(prefixes.iter().copied().zip(0..).collect()));

        let mut removed = set.remove(&victim);
        removed.sort();
        let expected: Vec<usize> = (0..prefixes.len()).filter(|i| prefixes[*i] == victim).collect();
        prop_assert_eq!(removed, expected);
        let left: Vec<(Cidr, usize)> = set.iter().map(|(c, v)| (*c, *v)).collect();
        let expected_left: Vec<(Cidr, usize)> =
            prefixes.iter().copied().zip(0..).filter(|(c, _)| *c != victim).collect();
        prop_assert_eq!(sorted(left), sorted(expected_left));
        prop_assert!(set.overlapping(&victim).iter().all(|(c, _)| **c != victim));
    }

    #[test]
    fn cover_holds_everything_and_no_narrower_prefix_does(
        prefixes in prop::collection::vec(prefix(), 1..20),
    ) {
        let c = cover(&prefixes).unwrap();
        prop_assert!(prefixes.iter().all(|p| c.contains(p)));
        if c.prefix_len() < 32 {
            // Both halves of the cover are too narrow: each misses some input.
            for half_start in [c.start(), c.start() + (1u32 << (31 - c.prefix_len()))] {
                let half = Cidr::containing(Ipv4Addr::from(half_start), c.prefix_len() + 1);
                prop_assert!(!prefixes.iter().all(|p| half.contains(p)));
            }
        }
    }

    #[test]
    fn free_finds_the_first_unblocked_aligned_blocks(
        parent_len in 12u8..=24,
        extra in 0u8..=8,
        count in 0usize..6,
        avoid in prop::collection::vec(prefix(), 0..30),
    ) {
        let parent = Cidr::containing(Ipv4Addr::new(10, 0, 0, 0), parent_len);
        let len = (parent_len + extra).min(32);
        // Reference: try every aligned block of the parent in order.
        let step = 1u64 << (32 - len);
        let expected: Vec<Cidr> = (u64::from(parent.start())..=u64::from(parent.end()))
            .step_by(step as usize)
            .map(|s| Cidr::containing(Ipv4Addr::from(s as u32), len))
            .filter(|cand| !avoid.iter().any(|a| range_overlaps(a, cand)))
            .take(count)
            .collect();
        prop_assert_eq!(free(parent, len, count, &avoid), expected);
    }
}

proptest! {
    /// `exclude` keeps exactly the addresses of the route outside the hole, in disjoint
    /// prefixes, lowest first, and no more of them than the lengths differ.
    #[test]
    fn exclude_keeps_every_address_of_the_route_outside_the_hole(
        route in prefix(),
        hole in prefix(),
        probes in proptest::collection::vec(address(), 32),
    ) {
        let kept = exclude(route, hole);
        for pair in kept.windows(2) {
            prop_assert!(pair[0].end() < pair[1].start(), "disjoint and sorted: {kept:?}");
        }
        let outside = route.size() - if range_overlaps(&route, &hole) {
            route.size().min(hole.size())
        } else {
            0
        };
        prop_assert_eq!(kept.iter().map(Cidr::size).sum::<u64>(), outside);
        prop_assert!(
            kept.len() <= usize::from(hole.prefix_len().saturating_sub(route.prefix_len())).max(1)
        );
        let edges = [route.start(), route.end(), hole.start(), hole.end()].map(Ipv4Addr::from);
        for addr in probes.into_iter().chain(edges) {
            let wanted = route.contains_addr(addr) && !hole.contains_addr(addr);
            prop_assert_eq!(kept.iter().any(|k| k.contains_addr(addr)), wanted, "{}", addr);
        }
    }
}
