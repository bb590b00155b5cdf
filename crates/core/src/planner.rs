//! Offline planners behind `isthmus plan`: the prefix that covers a set of prefixes, a
//! split of a parent into subnets of given sizes, and free prefixes that avoid what is
//! taken. Pure arithmetic on `Cidr`; the CLI only parses and prints.

use std::fmt;
use std::net::Ipv4Addr;

use crate::{Cidr, CoreError};

pub mod k8s;
pub mod tailscale;

/// The smallest single prefix that covers every given prefix; `None` for no prefixes.
pub fn cover(prefixes: &[Cidr]) -> Option<Cidr> {
    let lo = prefixes.iter().map(Cidr::start).min()?;
    let hi = prefixes.iter().map(Cidr::end).max()?;
    // Every address between lo and hi shares the bits above the first bit where lo and
    // hi differ, so that common part is the longest prefix holding both ends.
    let common_len = (lo ^ hi).leading_zeros() as u8;
    Some(Cidr::containing(Ipv4Addr::from(lo), common_len))
}

/// The addresses of `route` outside `hole`, as the fewest prefixes, lowest first: empty
/// when `hole` holds all of `route`, `route` itself when they do not meet. (Two prefixes
/// that meet are nested, so this halves `route` down to `hole`, keeping the other halves.)
pub fn exclude(route: Cidr, hole: Cidr) -> Vec<Cidr> {
    if !route.overlaps(&hole) {
        return vec![route];
    }
    let mut kept = Vec::new();
    let mut rest = route;
    while !hole.contains(&rest) {
        let len = rest.prefix_len() + 1;
        let low = Cidr::containing(Ipv4Addr::from(rest.start()), len);
        let high = Cidr::containing(Ipv4Addr::from(low.end() + 1), len);
        let (keep, next) = if low.contains(&hole) {
            (high, low)
        } else {
            (low, high)
        };
        kept.push(keep);
        rest = next;
    }
    kept.sort_by_key(Cidr::start);
    kept
}

/// An inclusive range of addresses, shown as `first - last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrRange {
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
}

impl fmt::Display for AddrRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} - {}", self.first, self.last)
    }
}

/// One subnet of a split table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitRow {
    pub subnet: Cidr,
    /// Every address of the subnet.
    pub range: AddrRange,
    /// The addresses a host can take.
    pub usable: AddrRange,
    pub hosts: u64,
}

impl SplitRow {
    pub fn for_subnet(subnet: Cidr) -> SplitRow {
        let (start, end) = (subnet.start(), subnet.end());
        let range = AddrRange {
            first: Ipv4Addr::from(start),
            last: Ipv4Addr::from(end),
        };
        // Up to /30 the first address names the network and the last is broadcast. A /31
        // is a point-to-point link (RFC 3021) with no network or broadcast address, so
        // both are hosts; a /32 is one host route.
        let (usable, hosts) = match subnet.prefix_len() {
            31 | 32 => (range, subnet.size()),
            _ => (
                AddrRange {
                    first: Ipv4Addr::from(start + 1),
                    last: Ipv4Addr::from(end - 1),
                },
                subnet.size() - 2,
            ),
        };
        SplitRow {
            subnet,
            range,
            usable,
            hosts,
        }
    }
}

/// Lays subnets of the given prefix lengths into `parent` one after another, in the
/// order given, each aligned to its own size (a gap is left where alignment needs one).
/// Errors name the offending entry as `into[i]`, after the CLI's `--into` list.
pub fn split(parent: Cidr, sizes: &[u8]) -> Result<Vec<SplitRow>, CoreError> {
    if sizes.is_empty() {
        return Err(CoreError::invalid(
            "into",
            "required",
            "give at least one subnet size",
        ));
    }
    let end = u64::from(parent.end());
    // u64 so that stepping past 255.255.255.255 does not wrap.
    let mut cursor = u64::from(parent.start());
    let mut rows = Vec::with_capacity(sizes.len());
    for (i, &len) in sizes.iter().enumerate() {
        let field = format!("into[{i}]");
        if len > 32 {
            return Err(CoreError::invalid(
                field,
                "prefix-length",
                format!("/{len} is not an IPv4 prefix length (0 to 32)"),
            ));
        }
        if len < parent.prefix_len() {
            return Err(CoreError::invalid(
                field,
                "prefix-length",
                format!("/{len} is wider than the parent {parent}"),
            ));
        }
        let block = 1u64 << (32 - len);
        let first = align_up(cursor, block);
        if first + block - 1 > end {
            // Only reachable after an earlier subnet: the first always fits (len >= parent).
            let after = rows
                .last()
                .map(|r: &SplitRow| format!(" after {}", r.subnet))
                .unwrap_or_default();
            return Err(CoreError::invalid(
                field,
                "does-not-fit",
                format!(
                    "/{len} ({block} addresses) does not fit in {parent}: only {} addresses are left{after}",
                    end + 1 - cursor
                ),
            ));
        }
        let subnet = Cidr::containing(Ipv4Addr::from(first as u32), len);
        rows.push(SplitRow::for_subnet(subnet));
        cursor = first + block;
    }
    Ok(rows)
}

/// The first `count` prefixes of length `len` inside `parent` that overlap nothing in
/// `avoid`, lowest first. Blocked ranges are skipped in one step each, so the cost is
/// proportional to `avoid` and `count`, not to the size of `parent`.
pub fn free(parent: Cidr, len: u8, count: usize, avoid: &[Cidr]) -> Vec<Cidr> {
    let mut found = Vec::new();
    if len > 32 || len < parent.prefix_len() || count == 0 {
        return found;
    }
    let blocked = merged_ranges(avoid);
    let block = 1u64 << (32 - len);
    let end = u64::from(parent.end());
    let mut cursor = u64::from(parent.start());
    let mut next_blocked = 0;
    while found.len() < count && cursor + block - 1 <= end {
        let last = cursor + block - 1;
        // Ranges that end before the candidate can never block a later one either.
        while next_blocked < blocked.len() && blocked[next_blocked].1 < cursor {
            next_blocked += 1;
        }
        match blocked.get(next_blocked) {
            Some(&(start, stop)) if start <= last => cursor = align_up(stop + 1, block),
            _ => {
                found.push(Cidr::containing(Ipv4Addr::from(cursor as u32), len));
                cursor += block;
            }
        }
    }
    found
}

/// The address ranges of `prefixes`, sorted and with touching or nested ones merged.
fn merged_ranges(prefixes: &[Cidr]) -> Vec<(u64, u64)> {
    let mut ranges: Vec<(u64, u64)> = prefixes
        .iter()
        .map(|c| (u64::from(c.start()), u64::from(c.end())))
        .collect();
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (start, stop) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1 + 1 => last.1 = last.1.max(stop),
            _ => merged.push((start, stop)),
        }
    }
    merged
}

/// The first multiple of `block` (a power of two) at or after `addr`.
fn align_up(addr: u64, block: u64) -> u64 {
    addr.div_ceil(block) * block
}

/// The split table as aligned text: subnet, range, usable range, hosts (right-aligned).
pub fn render_split_table(rows: &[SplitRow]) -> String {
    let header = ["subnet", "range", "usable range", "hosts"];
    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            [
                r.subnet.to_string(),
                r.range.to_string(),
                r.usable.to_string(),
                r.hosts.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cols: [&str; 4]| {
        out.push_str(&format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}\n",
            cols[0],
            cols[1],
            cols[2],
            cols[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        ));
    };
    line(header);
    for row in &cells {
        line([&row[0], &row[1], &row[2], &row[3]]);
    }
    out
}
