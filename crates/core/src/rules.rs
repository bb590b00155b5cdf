//! The rules the core enforces, as pure functions over a snapshot of the state they need.
//! The store calls them inside the same transaction that writes, so two concurrent
//! requests can never both pass a rule only one may pass.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};

use crate::conditions::Condition;
use crate::customer_actions;
use crate::engines;
use crate::ipam::PrefixSet;
use crate::resources::*;
use crate::state::{ClusterStatus, NetworkStatus, NodeStatus, PeeringStatus};
use crate::{Cidr, ClusterId, CoreError, FieldError, NetworkId, PeeringId, ProjectId};

pub const MAX_ROUTES: usize = 50;
pub const MAX_NAME_LEN: usize = 100;

/// The ranges a platform network may use (RFC 1918 plus the RFC 6598 shared space).
pub fn private_ranges() -> [Cidr; 4] {
    [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
    ]
    .map(|s| s.parse().expect("static prefix"))
}

/// Why `c` may not appear in a name or a comment, if it may not: control characters, and
/// the invisible or direction-changing ones a reader cannot see (Unicode format characters
/// such as U+202E or U+200B, line and paragraph separators, and every space but U+0020).
fn unprintable(c: char) -> Option<&'static str> {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    match c.general_category() {
        GeneralCategory::Control => Some("a control character"),
        GeneralCategory::Format => Some("an invisible format character"),
        GeneralCategory::LineSeparator => Some("a line separator"),
        GeneralCategory::ParagraphSeparator => Some("a paragraph separator"),
        GeneralCategory::SpaceSeparator if c != ' ' => Some("a space other than U+0020"),
        _ => None,
    }
}

/// Refuses text with a character [`unprintable`] names, with rule `printable`.
pub fn check_printable(field: &str, text: &str) -> Result<(), FieldError> {
    match text
        .chars()
        .find_map(|c| unprintable(c).map(|why| (c, why)))
    {
        None => Ok(()),
        Some((c, why)) => Err(FieldError::new(
            field,
            "printable",
            format!(
                "must not contain control, format or separator characters other than the plain \
                 space; found U+{:04X}, {why}",
                c as u32
            ),
        )),
    }
}

pub fn validate_name(field: &str, name: &str) -> Result<String, FieldError> {
    // Checked before trimming: a trailing U+2028 or tab is refused, not silently dropped.
    check_printable(field, name)?;
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(field, "required", "must not be empty"));
    }
    if trimmed.chars().count() > MAX_NAME_LEN {
        return Err(FieldError::new(
            field,
            "max-length",
            format!("must be at most {MAX_NAME_LEN} characters"),
        ));
    }
    Ok(trimmed.to_string())
}

/// A region: for a cloud, one of its catalog (with a did-you-mean); for `local`, any
/// lowercase name.
pub fn validate_region(provider: Provider, region: &str) -> Result<String, FieldError> {
    crate::clouds::check_region("region", provider, region)?;
    Ok(region.to_string())
}

/// Parses a prefix for `field`, mapping syntax and host-bit errors to field errors.
pub fn parse_cidr(field: &str, raw: &str) -> Result<Cidr, FieldError> {
    raw.parse::<Cidr>()
        .map_err(|e| FieldError::new(field, e.rule(), e.to_string()))
}

/// A network's CIDR: private, /8 … /28, no host bits.
pub fn validate_network_cidr(raw: &str) -> Result<Cidr, FieldError> {
    let cidr = parse_cidr("cidr_block", raw)?;
    if !(8..=28).contains(&cidr.prefix_len()) {
        return Err(FieldError::new(
            "cidr_block",
            "prefix-length",
            format!(
                "{cidr} has prefix length /{}; a network must be between /8 and /28",
                cidr.prefix_len()
            ),
        ));
    }
    if !private_ranges().iter().any(|r| r.contains(&cidr)) {
        return Err(FieldError::new(
            "cidr_block",
            "private-range",
            format!(
                "{cidr} is not inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10"
            ),
        ));
    }
    Ok(cidr)
}

/// No overlap with another live network of the same project, provider and region.
pub fn check_network_overlap<'a>(
    cidr: &Cidr,
    provider: Provider,
    region: &str,
    existing: impl IntoIterator<Item = &'a Network>,
) -> Result<(), CoreError> {
    for other in existing {
        if other.status.is_live()
            && other.provider == provider
            && other.region == region
            && other.cidr_block.overlaps(cidr)
        {
            return Err(CoreError::conflict(
                Some("cidr_block"),
                "network-overlap",
                format!(
                    "{cidr} overlaps network '{}' ({}, {}) in {provider} {region}",
                    other.name, other.id, other.cidr_block
                ),
            ));
        }
    }
    Ok(())
}

fn collect(errors: Vec<FieldError>) -> Result<(), CoreError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CoreError::Invalid(errors))
    }
}

/// Builds a new network from a create request, checking every rule.
pub fn new_network(
    id: NetworkId,
    project_id: ProjectId,
    req: &NetworkCreate,
    existing_in_project: &[Network],
    now: DateTime<Utc>,
) -> Result<Network, CoreError> {
    let mut errors = Vec::new();
    let name = validate_name("name", &req.name)
        .map_err(|e| errors.push(e))
        .ok();
    let region = validate_region(req.provider, &req.region)
        .map_err(|e| errors.push(e))
        .ok();
    let cidr = validate_network_cidr(&req.cidr_block)
        .and_then(|c| {
            // AWS refuses VPCs wider than /16; the other clouds take /8.
            if req.provider == Provider::Aws {
                crate::clouds::check_vpc_size("cidr_block", req.provider, &c)?;
            }
            Ok(c)
        })
        .map_err(|e| errors.push(e))
        .ok();
    collect(errors)?;
    let (name, region, cidr) = (name.unwrap(), region.unwrap(), cidr.unwrap());
    check_network_overlap(&cidr, req.provider, &region, existing_in_project)?;
    Ok(Network {
        id,
        project_id,
        name,
        provider: req.provider,
        region,
        cidr_block: cidr,
        status: NetworkStatus::Provisioning,
        status_message: "waiting for the provider to create the network".into(),
        provider_network_id: None,
        generation: 1,
        observed_generation: 0,
        conditions: Vec::<Condition>::new(),
        created_at: now,
        updated_at: now,
        version: 1,
    })
}

/// Applies a network update: only the name may change.
pub fn update_network(
    current: &Network,
    req: &NetworkUpdate,
    now: DateTime<Utc>,
) -> Result<Network, CoreError> {
    let mut errors = Vec::new();
    for (field, value) in [
        ("provider", &req.provider),
        ("region", &req.region),
        ("cidr_block", &req.cidr_block),
    ] {
        if value.is_some() {
            errors.push(FieldError::new(
                field,
                "immutable",
                format!("{field} cannot change after creation; create a new network"),
            ));
        }
    }
    let name = match &req.name {
        Some(n) => validate_name("name", n).map_err(|e| errors.push(e)).ok(),
        None => None,
    };
    collect(errors)?;
    ensure_not_deleting_network(current)?;
    let mut next = current.clone();
    if let Some(name) = name {
        next.name = name;
    }
    next.updated_at = now;
    Ok(next)
}

fn ensure_not_deleting_network(n: &Network) -> Result<(), CoreError> {
    if matches!(n.status, NetworkStatus::Deleting | NetworkStatus::Deleted) {
        return Err(CoreError::conflict(
            None,
            "network-deleting",
            format!("network {} is {}", n.id, n.status),
        ));
    }
    Ok(())
}

/// A network with live clusters cannot be deleted: the 409 names them.
pub fn check_network_deletable(network: &Network, clusters: &[Cluster]) -> Result<(), CoreError> {
    let live: Vec<String> = clusters
        .iter()
        .filter(|c| c.network_id == network.id && c.status.is_live())
        .map(|c| format!("'{}' ({})", c.name, c.id))
        .collect();
    if !live.is_empty() {
        return Err(CoreError::conflict(
            None,
            "network-has-clusters",
            format!(
                "network {} still holds clusters {}; delete them first",
                network.id,
                live.join(", ")
            ),
        ));
    }
    Ok(())
}

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
    field: &str,
    raw: &[String],
    network: &Network,
    beside: &[Cidr],
    taken: &PrefixSet<PeeringId>,
) -> Result<Vec<Cidr>, CoreError> {
    let list = field;
    let mut errors = Vec::new();
    let mut parsed: Vec<(usize, Cidr)> = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let field = format!("{list}[{i}]");
        let cidr = match parse_cidr(&field, r) {
            Ok(c) => c,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if cidr.prefix_len() < 8 {
            errors.push(FieldError::new(
                &field,
                "prefix-length",
                format!("{cidr} is wider than /8"),
            ));
            continue;
        }
        if let Some((j, _)) = parsed.iter().find(|(_, c)| *c == cidr) {
            errors.push(FieldError::new(
                &field,
                "duplicate-route",
                format!("{cidr} is listed twice (also {list}[{j}])"),
            ));
            continue;
        }
        if let Some((j, other)) = parsed.iter().find(|(_, c)| c.overlaps(&cidr)) {
            errors.push(FieldError::new(
                &field,
                "route-overlap",
                format!("{cidr} overlaps {list}[{j}] {other}"),
            ));
            continue;
        }
        if let Some(other) = beside.iter().find(|c| c.overlaps(&cidr)) {
            errors.push(FieldError::new(
                &field,
                "route-overlap",
                format!(
                    "{cidr} overlaps route {other}: a range is either the peer network's own \
                     (routes) or behind its gateway (transit_routes), not both"
                ),
            ));
            continue;
        }
        if cidr.overlaps(&network.cidr_block) {
            errors.push(FieldError::new(
                &field,
                "overlaps-network",
                format!(
                    "{cidr} overlaps the network's own CIDR {}",
                    network.cidr_block
                ),
            ));
            continue;
        }
        parsed.push((i, cidr));
    }
    collect(errors)?;
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

/// The peer's account, network and region in the formats of the network's provider
/// (see `clouds::check_peer`); `local` peers are lab VPCs in account `lab`.
fn validate_peer(provider: Provider, peer: &PeerSpec, errors: &mut Vec<FieldError>) {
    errors.extend(crate::clouds::check_peer(provider, peer));
}

/// Warnings that do not refuse the request.
pub fn peering_warnings(network: &Network, peer: &PeerSpec) -> Vec<String> {
    let mut w = Vec::new();
    if network.provider != Provider::Local && peer.region != network.region {
        w.push(format!(
            "peer region {} differs from network region {}: expect higher latency and inter-region transfer cost",
            peer.region, network.region
        ));
    }
    w
}

/// Routes of the live peerings on `network`, except `skip`, keyed by peering.
pub fn taken_routes<'a>(
    peerings: impl IntoIterator<Item = &'a Peering>,
    skip: Option<PeeringId>,
) -> PrefixSet<PeeringId> {
    let mut set = PrefixSet::new();
    for p in peerings {
        if Some(p.id) == skip || !p.status.is_live() {
            continue;
        }
        for r in p.routes.iter().chain(&p.transit_routes) {
            set.insert(*r, p.id);
        }
    }
    set
}

pub fn new_peering(
    id: PeeringId,
    project_id: ProjectId,
    req: &PeeringCreate,
    network: &Network,
    peerings_on_network: &[Peering],
    now: DateTime<Utc>,
) -> Result<Peering, CoreError> {
    let mut errors = Vec::new();
    let name = validate_name("name", &req.name)
        .map_err(|e| errors.push(e))
        .ok();
    validate_peer(network.provider, &req.peer, &mut errors);
    if network.project_id != project_id {
        errors.push(FieldError::new(
            "network_id",
            "same-project",
            "network belongs to another project",
        ));
    }
    collect(errors)?;
    ensure_not_deleting_network(network)?;
    let taken = taken_routes(peerings_on_network, None);
    let routes = validate_routes(&req.routes, network, &taken)?;
    let transit_routes = validate_transit_routes(
        &req.transit_routes,
        req.allow_gateway_transit,
        &routes,
        network,
        &taken,
    )?;
    let mut p = Peering {
        id,
        project_id,
        name: name.unwrap(),
        network_id: network.id,
        peer: req.peer.clone(),
        routes,
        transit_routes,
        allow_gateway_transit: req.allow_gateway_transit,
        status: PeeringStatus::Provisioning,
        status_message: "requesting the peering from the provider".into(),
        provider_peering_id: None,
        customer_actions: Vec::new(),
        warnings: peering_warnings(network, &req.peer),
        generation: 1,
        observed_generation: 0,
        conditions: Vec::new(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    p.customer_actions = customer_actions::for_peering(network, &p);
    Ok(p)
}

/// Routes and gateway transit can change on a live peering; the data plane follows.
pub fn update_peering(
    current: &Peering,
    req: &PeeringUpdate,
    network: &Network,
    peerings_on_network: &[Peering],
    now: DateTime<Utc>,
) -> Result<Peering, CoreError> {
    if matches!(
        current.status,
        PeeringStatus::Deleting | PeeringStatus::Deleted
    ) {
        return Err(CoreError::conflict(
            None,
            "peering-deleting",
            format!("peering {} is {}", current.id, current.status),
        ));
    }
    let mut next = current.clone();
    let mut spec_changed = false;
    if let Some(n) = &req.name {
        next.name = validate_name("name", n).map_err(|e| CoreError::Invalid(vec![e]))?;
    }
    let taken = taken_routes(peerings_on_network, Some(current.id));
    if let Some(routes) = &req.routes {
        let parsed = validate_routes(routes, network, &taken)?;
        spec_changed |= parsed != next.routes;
        next.routes = parsed;
    }
    if let Some(t) = req.allow_gateway_transit {
        spec_changed |= t != next.allow_gateway_transit;
        next.allow_gateway_transit = t;
    }
    if req.transit_routes.is_some() || req.routes.is_some() || req.allow_gateway_transit.is_some() {
        // Re-checked against the routes as they will be, whichever of the two changed.
        let raw: Vec<String> = match &req.transit_routes {
            Some(raw) => raw.clone(),
            None => next.transit_routes.iter().map(Cidr::to_string).collect(),
        };
        let parsed = validate_transit_routes(
            &raw,
            next.allow_gateway_transit,
            &next.routes,
            network,
            &taken,
        )?;
        spec_changed |= parsed != next.transit_routes;
        next.transit_routes = parsed;
    }
    if spec_changed {
        next.generation += 1;
        next.customer_actions = customer_actions::for_peering(network, &next);
    }
    next.updated_at = now;
    Ok(next)
}

/// Addresses of `cidr` the provider keeps for itself (never given to nodes).
pub fn reserved_addresses(provider: Provider, cidr: &Cidr) -> Vec<Ipv4Addr> {
    let start = cidr.start();
    let end = cidr.end();
    let list: Vec<u32> = match provider {
        // AWS reserves the first four addresses and the last one of every subnet.
        Provider::Aws => vec![start, start + 1, start + 2, start + 3, end],
        // Network, gateway, broadcast.
        _ => vec![start, start + 1, end],
    };
    list.into_iter().map(Ipv4Addr::from).collect()
}

/// The gateway address of a network (the first usable one).
pub fn gateway_address(cidr: &Cidr) -> Ipv4Addr {
    Ipv4Addr::from(cidr.start() + 1)
}

/// Picks `count` free node addresses from the network, lowest first, skipping reserved
/// addresses and those already `taken` by other nodes.
pub fn allocate_node_ips(
    network: &Network,
    count: usize,
    taken: &HashSet<Ipv4Addr>,
) -> Result<Vec<Ipv4Addr>, CoreError> {
    let reserved: HashSet<Ipv4Addr> = reserved_addresses(network.provider, &network.cidr_block)
        .into_iter()
        .collect();
    let ips: Vec<Ipv4Addr> = (network.cidr_block.start()..=network.cidr_block.end())
        .map(Ipv4Addr::from)
        .filter(|ip| !reserved.contains(ip) && !taken.contains(ip))
        .take(count)
        .collect();
    if ips.len() < count {
        return Err(CoreError::conflict(
            Some("network_id"),
            "network-full",
            format!(
                "network {} ({}) has no room for {count} more nodes",
                network.id, network.cidr_block
            ),
        ));
    }
    Ok(ips)
}

/// The most entries an allow-list (public or private) may hold.
pub const MAX_ALLOWLIST_ENTRIES: usize = 8_000;

/// The pool public endpoints take their addresses from (RFC 2544 benchmarking space: never
/// a real internet address, so the lab's "internet" cannot collide with the real one).
pub fn public_pool() -> Cidr {
    "198.18.0.0/15".parse().expect("static prefix")
}

/// Parses an allow-list named `field`: at most 8,000 entries, each a prefix without host
/// bits, none listed twice. Overlapping entries are fine (10.0.0.0/8 and 10.1.0.0/16).
pub fn validate_allowlist(
    field: &str,
    input: &[AllowlistEntryInput],
) -> Result<Vec<AllowlistEntry>, CoreError> {
    if input.len() > MAX_ALLOWLIST_ENTRIES {
        return Err(CoreError::invalid(
            field,
            "max-entries",
            format!(
                "an allow-list holds at most {MAX_ALLOWLIST_ENTRIES} entries, got {}",
                input.len()
            ),
        ));
    }
    let mut errors = Vec::new();
    let mut seen: std::collections::HashMap<Cidr, usize> = std::collections::HashMap::new();
    let mut list = Vec::with_capacity(input.len());
    for (i, e) in input.iter().enumerate() {
        let entry = format!("{field}[{i}]");
        if let Some(cidr) = entry_cidr(field, i, &e.cidr, &mut seen, "", &mut errors) {
            list.push(AllowlistEntry {
                cidr,
                comment: e.comment.clone(),
            });
        }
        if let Err(e) = validate_comment(&format!("{entry}.comment"), &e.comment) {
            errors.push(e);
        }
    }
    collect(errors)?;
    Ok(list)
}

/// Entry `i` of a list's CIDR, or `None` with its error pushed; a prefix the list holds
/// already is a `duplicate-entry` error too (`hint` ends its message).
fn entry_cidr(
    field: &str,
    i: usize,
    raw: &str,
    seen: &mut std::collections::HashMap<Cidr, usize>,
    hint: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Cidr> {
    let at = format!("{field}[{i}].cidr");
    match parse_cidr(&at, raw) {
        Ok(cidr) => {
            if let Some(j) = seen.insert(cidr, i) {
                errors.push(FieldError::new(
                    at,
                    "duplicate-entry",
                    format!("{cidr} is listed twice (also {field}[{j}]){hint}"),
                ));
            }
            Some(cidr)
        }
        Err(err) => {
            errors.push(err);
            None
        }
    }
}

/// The longest comment of an allow-list or egress entry, in characters.
pub const MAX_COMMENT_LEN: usize = 256;

/// An entry's comment: at most [`MAX_COMMENT_LEN`] printable characters.
pub fn validate_comment(field: &str, comment: &str) -> Result<(), FieldError> {
    if comment.chars().count() > MAX_COMMENT_LEN {
        return Err(FieldError::new(
            field,
            "comment",
            format!("a comment is at most {MAX_COMMENT_LEN} printable characters"),
        ));
    }
    check_printable(field, comment)
}

pub fn validate_public_access(
    input: &Option<PublicAccessInput>,
) -> Result<PublicAccess, CoreError> {
    let Some(input) = input else {
        return Ok(PublicAccess::default());
    };
    Ok(PublicAccess {
        enabled: input.enabled,
        allowlist: validate_allowlist("public_access.allowlist", &input.allowlist)?,
    })
}

/// What the API says about a cluster's access lists without refusing them.
pub fn cluster_warnings(cluster: &Cluster) -> Vec<String> {
    let mut w = Vec::new();
    let public = &cluster.public_access;
    if public.enabled && public.allowlist.is_empty() {
        w.push(
            "public access is enabled with an empty allow-list: nobody can connect to the \
             public endpoint until an entry is added"
                .to_string(),
        );
    }
    for (i, e) in public.allowlist.iter().enumerate() {
        if e.cidr.prefix_len() == 0 {
            w.push(format!(
                "public_access.allowlist[{i}] is {}: every address on the internet may \
                 connect to the public endpoint",
                e.cidr
            ));
        }
    }
    w
}

/// Keeps, clears or asks for the public endpoint as `public_access.enabled` says. An
/// endpoint the cluster already has keeps its address; a new one takes the lowest free
/// address of the public pool not in `taken` (the store passes every live endpoint's).
pub fn assign_public_endpoint(
    cluster: &mut Cluster,
    taken: &HashSet<Ipv4Addr>,
) -> Result<(), CoreError> {
    if !cluster.public_access.enabled {
        cluster.public_endpoint = None;
        return Ok(());
    }
    if cluster.public_endpoint.is_some() {
        return Ok(());
    }
    let pool = public_pool();
    let ip = (pool.start() + 1..pool.end())
        .map(Ipv4Addr::from)
        .find(|ip| !taken.contains(ip))
        .ok_or_else(|| {
            CoreError::conflict(
                Some("public_access.enabled"),
                "public-pool-full",
                format!("every address of the public pool {pool} is in use"),
            )
        })?;
    let zone = cluster
        .dns_name
        .strip_prefix(&format!("{}.", cluster.id))
        .unwrap_or(&cluster.dns_name);
    cluster.public_endpoint = Some(PublicEndpoint {
        dns_name: format!("public-{}.{zone}", cluster.id),
        ip,
    });
    Ok(())
}

/// The most ports one egress rule may list.
pub const MAX_EGRESS_PORTS: usize = 64;

/// Parses the egress allow-list with the allow-lists' rules: at most
/// [`MAX_ALLOWLIST_ENTRIES`] entries, each a prefix without host bits listed once (merge
/// the ports of two entries for the same prefix), at most [`MAX_EGRESS_PORTS`] distinct
/// ports of 1…65535 (none: every port), and a printable comment of at most
/// [`MAX_COMMENT_LEN`] characters.
pub fn validate_egress(input: &Option<Vec<EgressRuleInput>>) -> Result<Vec<EgressRule>, CoreError> {
    let Some(input) = input else {
        return Ok(Vec::new());
    };
    let field = "egress_allowlist";
    if input.len() > MAX_ALLOWLIST_ENTRIES {
        return Err(CoreError::invalid(
            field,
            "max-entries",
            format!(
                "the egress allow-list holds at most {MAX_ALLOWLIST_ENTRIES} entries, got {}",
                input.len()
            ),
        ));
    }
    let mut errors = Vec::new();
    let mut seen: std::collections::HashMap<Cidr, usize> = std::collections::HashMap::new();
    let mut rules = Vec::with_capacity(input.len());
    for (i, e) in input.iter().enumerate() {
        let entry = format!("{field}[{i}]");
        let hint = "; list its ports in one entry";
        if let Some(cidr) = entry_cidr(field, i, &e.cidr, &mut seen, hint, &mut errors) {
            rules.push(EgressRule {
                cidr,
                ports: e.ports.clone(),
                comment: e.comment.clone(),
            });
        }
        if let Err(err) = validate_ports(&format!("{entry}.ports"), &e.ports) {
            errors.push(err);
        }
        if let Err(err) = validate_comment(&format!("{entry}.comment"), &e.comment) {
            errors.push(err);
        }
    }
    collect(errors)?;
    Ok(rules)
}

/// An egress rule's ports: at most [`MAX_EGRESS_PORTS`], each 1…65535 and listed once.
fn validate_ports(field: &str, ports: &[u16]) -> Result<(), FieldError> {
    if ports.len() > MAX_EGRESS_PORTS {
        return Err(FieldError::new(
            field,
            "max-ports",
            format!(
                "an egress rule lists at most {MAX_EGRESS_PORTS} ports, got {}; leave ports \
                 empty to allow every port",
                ports.len()
            ),
        ));
    }
    if ports.contains(&0) {
        return Err(FieldError::new(field, "port-range", "ports are 1…65535"));
    }
    let mut seen = HashSet::new();
    if let Some(p) = ports.iter().find(|p| !seen.insert(**p)) {
        return Err(FieldError::new(
            field,
            "duplicate-port",
            format!("port {p} is listed twice"),
        ));
    }
    Ok(())
}

/// Warnings for egress entries no live peering of the cluster's network routes (and not
/// inside the network itself): traffic to them has nowhere to go. Checked when the
/// cluster is written; `peerings` are those on `network`.
pub fn egress_warnings(cluster: &Cluster, network: &Network, peerings: &[Peering]) -> Vec<String> {
    let routes: Vec<Cidr> = peerings
        .iter()
        .filter(|p| p.network_id == network.id && p.status.is_live())
        .flat_map(|p| p.routes.iter().chain(&p.transit_routes).copied())
        .collect();
    cluster
        .egress_allowlist
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            !network.cidr_block.contains(&e.cidr) && !routes.iter().any(|r| r.overlaps(&e.cidr))
        })
        .map(|(i, e)| {
            format!(
                "egress_allowlist[{i}] {} lies outside every route of the live peerings of \
                 network {}: nothing reaches it until a peering routes it",
                e.cidr, network.id
            )
        })
        .collect()
}

pub fn cluster_dns_name(id: ClusterId, zone: &str) -> String {
    format!("{id}.{zone}")
}

pub fn node_dns_name(id: ClusterId, index: u32, zone: &str) -> String {
    format!("{id}-{index}.{zone}")
}

fn zone_for(provider: Provider, region: &str, index: usize) -> String {
    crate::clouds::zone_name(provider, region, index)
}

/// Builds a new cluster. The network may still be provisioning (the controller waits);
/// node IPs come from its CIDR, skipping reserved and `taken` addresses.
pub fn new_cluster(
    id: ClusterId,
    project_id: ProjectId,
    req: &ClusterCreate,
    network: &Network,
    taken: &HashSet<Ipv4Addr>,
    dns_zone: &str,
    now: DateTime<Utc>,
) -> Result<Cluster, CoreError> {
    let mut errors = Vec::new();
    let name = validate_name("name", &req.name)
        .map_err(|e| errors.push(e))
        .ok();
    if network.project_id != project_id {
        errors.push(FieldError::new(
            "network_id",
            "same-project",
            "network belongs to another project",
        ));
    }
    let engine = engines::find(&req.engine);
    match engine {
        None => errors.push(FieldError::new(
            "engine",
            "known-engine",
            format!(
                "unknown engine '{}' (one of {})",
                req.engine,
                engines::names().join(", ")
            ),
        )),
        Some(e) if !e.topologies.contains(&req.topology) => errors.push(FieldError::new(
            "topology",
            "engine-topology",
            format!(
                "engine {} does not support topology {}",
                e.name,
                req.topology.as_str()
            ),
        )),
        Some(_) => {}
    }
    collect(errors)?;
    let public_access = validate_public_access(&req.public_access)?;
    let private_allowlist = match &req.private_allowlist {
        Some(list) => validate_allowlist("private_allowlist", list)?,
        None => Vec::new(),
    };
    let egress_allowlist = validate_egress(&req.egress_allowlist)?;
    ensure_not_deleting_network(network)?;
    let ips = allocate_node_ips(network, req.topology.node_count(), taken)?;
    let nodes: Vec<Node> = ips
        .into_iter()
        .enumerate()
        .map(|(i, ip)| Node {
            index: i as u32,
            ip,
            dns_name: node_dns_name(id, i as u32, dns_zone),
            zone: zone_for(network.provider, &network.region, i),
            status: NodeStatus::Provisioning,
        })
        .collect();
    let dns_name = cluster_dns_name(id, dns_zone);
    let node_names: Vec<String> = nodes.iter().map(|n| n.dns_name.clone()).collect();
    let addresses = engine.expect("checked").addresses(&dns_name, &node_names);
    let mut cluster = Cluster {
        id,
        project_id,
        name: name.unwrap(),
        network_id: network.id,
        engine: req.engine.clone(),
        topology: req.topology,
        public_access,
        public_endpoint: None,
        private_allowlist,
        egress_allowlist,
        warnings: Vec::new(),
        dns_name,
        nodes,
        addresses,
        status: ClusterStatus::Provisioning,
        status_message: "waiting for the network and nodes".into(),
        generation: 1,
        observed_generation: 0,
        conditions: Vec::new(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    cluster.warnings = cluster_warnings(&cluster);
    Ok(cluster)
}

pub fn update_cluster(
    current: &Cluster,
    req: &ClusterUpdate,
    now: DateTime<Utc>,
) -> Result<Cluster, CoreError> {
    if matches!(
        current.status,
        ClusterStatus::Deleting | ClusterStatus::Deleted
    ) {
        return Err(CoreError::conflict(
            None,
            "cluster-deleting",
            format!("cluster {} is {}", current.id, current.status),
        ));
    }
    let mut next = current.clone();
    if let Some(n) = &req.name {
        next.name = validate_name("name", n).map_err(|e| CoreError::Invalid(vec![e]))?;
    }
    if req.public_access.is_some() {
        let pa = validate_public_access(&req.public_access)?;
        if pa != next.public_access {
            next.public_access = pa;
            next.generation += 1;
        }
    }
    if let Some(list) = &req.private_allowlist {
        let list = validate_allowlist("private_allowlist", list)?;
        if list != next.private_allowlist {
            next.private_allowlist = list;
            next.generation += 1;
        }
    }
    if req.egress_allowlist.is_some() {
        let egress = validate_egress(&req.egress_allowlist)?;
        if egress != next.egress_allowlist {
            next.egress_allowlist = egress;
            next.generation += 1;
        }
    }
    if !next.public_access.enabled {
        next.public_endpoint = None;
    }
    next.warnings = cluster_warnings(&next);
    next.updated_at = now;
    Ok(next)
}
