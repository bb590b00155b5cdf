//! A peering's prefix lists: `routes` (the peer network's own address space) and
//! `transit_routes` (ranges behind the peer's gateway). Together at most 50, none wider
//! than /8, disjoint among themselves, from the network and from the routes of the
//! network's other live peerings.

use super::validate::{parse_cidr, Checks};
use crate::ipam::PrefixSet;
use crate::resources::{Network, Provider};
use crate::{Cidr, CoreError, FieldError, PeeringId};

pub const MAX_ROUTES: usize = 50;

/// Peering routes: 1…50 prefixes, /8…/32, no duplicates or overlaps among themselves,
/// none overlapping the network, none overlapping a route of another live peering on the
/// same network (`taken`: routes of the other live peerings, keyed by owner).
pub fn validate_routes(
    raw: &[String],
    network: &Network,
    taken: &PrefixSet<PeeringId>,
) -> Result<Vec<Cidr>, CoreError> {
    if raw.is_empty() || raw.len() > MAX_ROUTES {
        return Err(CoreError::invalid(
            "routes",
            "route-count",
            format!(
                "a peering needs 1 to {MAX_ROUTES} routes, got {}",
                raw.len()
            ),
        ));
    }
    validate_prefix_list("routes", raw, network, &[], taken)
}

/// A peering's gateway-transit ranges: 0…(50 − routes) prefixes, disjoint from the routes
/// (a range is either the peer's own address space or behind its gateway, never both),
/// and only where the provider routes through a peer's gateway (Azure, `local`).
pub fn validate_transit_routes(
    raw: &[String],
    allow_gateway_transit: bool,
    routes: &[Cidr],
    network: &Network,
    taken: &PrefixSet<PeeringId>,
) -> Result<Vec<Cidr>, CoreError> {
    if matches!(network.provider, Provider::Aws | Provider::Gcp) {
        let field = if !raw.is_empty() {
            Some("transit_routes")
        } else if allow_gateway_transit {
            Some("allow_gateway_transit")
        } else {
            None
        };
        if let Some(field) = field {
            return Err(CoreError::invalid(
                field,
                "non-transitive",
                format!(
                    "{} peering is non-transitive: it never carries traffic through the peer's \
                     gateway; peer the other network directly, or list its ranges as routes \
                     only if they are the peer network's own address space",
                    network.provider.as_str().to_uppercase()
                ),
            ));
        }
    }
    if routes.len() + raw.len() > MAX_ROUTES {
        return Err(CoreError::invalid(
            "transit_routes",
            "route-count",
            format!(
                "routes and transit_routes together hold at most {MAX_ROUTES} prefixes, got {}",
                routes.len() + raw.len()
            ),
        ));
    }
    validate_prefix_list("transit_routes", raw, network, routes, taken)
}

/// Parses `raw` as `field[i]` prefixes: no wider than /8, no duplicates or overlaps among
/// themselves or with `beside` (the peering's other list), clear of the network's CIDR and
/// of the routes other peerings on the network already claim (`taken`).
fn validate_prefix_list(
    list: &str,
    raw: &[String],
    network: &Network,
    beside: &[Cidr],
    taken: &PrefixSet<PeeringId>,
) -> Result<Vec<Cidr>, CoreError> {
    let mut checks = Checks::new();
    let mut parsed: Vec<(usize, Cidr)> = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let field = format!("{list}[{i}]");
        if let Some(cidr) = checks.field(list_entry(list, &field, r, &parsed, network, beside)) {
            parsed.push((i, cidr));
        }
    }
    let parsed = checks.finish(parsed)?;
    for (i, cidr) in &parsed {
        if let Some((other, owner)) = taken.first_overlap(cidr) {
            return Err(CoreError::conflict(
                Some(&format!("{list}[{i}]")),
                "route-taken",
                format!("{cidr} overlaps route {other} of peering {owner} on the same network"),
            ));
        }
    }
    Ok(parsed.into_iter().map(|(_, c)| c).collect())
}

/// Entry `field` of `list`, checked against the entries before it that passed (`parsed`),
/// the peering's other list (`beside`) and the network: the first rule it breaks.
fn list_entry(
    list: &str,
    field: &str,
    raw: &str,
    parsed: &[(usize, Cidr)],
    network: &Network,
    beside: &[Cidr],
) -> Result<Cidr, FieldError> {
    let cidr = parse_cidr(field, raw)?;
    if cidr.prefix_len() < 8 {
        return Err(FieldError::new(
            field,
            "prefix-length",
            format!("{cidr} is wider than /8"),
        ));
    }
    if let Some((j, _)) = parsed.iter().find(|(_, c)| *c == cidr) {
        return Err(FieldError::new(
            field,
            "duplicate-route",
            format!("{cidr} is listed twice (also {list}[{j}])"),
        ));
    }
    if let Some((j, other)) = parsed.iter().find(|(_, c)| c.overlaps(&cidr)) {
        return Err(FieldError::new(
            field,
            "route-overlap",
            format!("{cidr} overlaps {list}[{j}] {other}"),
        ));
    }
    if let Some(other) = beside.iter().find(|c| c.overlaps(&cidr)) {
        return Err(FieldError::new(
            field,
            "route-overlap",
            format!(
                "{cidr} overlaps route {other}: a range is either the peer network's own \
                 (routes) or behind its gateway (transit_routes), not both"
            ),
        ));
    }
    if cidr.overlaps(&network.cidr_block) {
        return Err(FieldError::new(
            field,
            "overlaps-network",
            format!(
                "{cidr} overlaps the network's own CIDR {}",
                network.cidr_block
            ),
        ));
    }
    Ok(cidr)
}
