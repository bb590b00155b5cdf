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

pub fn validate_name(field: &str, name: &str) -> Result<String, FieldError> {
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
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "printable",
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_string())
}

pub fn validate_region(provider: Provider, region: &str) -> Result<String, FieldError> {
    let ok = !region.is_empty()
        && region.len() <= 40
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-');
    if !ok {
        return Err(FieldError::new(
            "region",
            "region-syntax",
            format!("'{region}' is not a {provider} region name (lowercase letters, digits and '-', e.g. us-east-1)"),
        ));
    }
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
    let mut errors = Vec::new();
    let mut parsed: Vec<(usize, Cidr)> = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let field = format!("routes[{i}]");
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
                format!("{cidr} is listed twice (also routes[{j}])"),
            ));
            continue;
        }
        if let Some((j, other)) = parsed.iter().find(|(_, c)| c.overlaps(&cidr)) {
            errors.push(FieldError::new(
                &field,
                "route-overlap",
                format!("{cidr} overlaps routes[{j}] {other}"),
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
                Some(&format!("routes[{i}]")),
                "route-taken",
                format!("{cidr} overlaps route {other} of peering {owner} on the same network"),
            ));
        }
    }
    Ok(parsed.into_iter().map(|(_, c)| c).collect())
}

fn validate_peer(peer: &PeerSpec, errors: &mut Vec<FieldError>) {
    for (field, value) in [
        ("peer.account_id", &peer.account_id),
        ("peer.network_id", &peer.network_id),
        ("peer.region", &peer.region),
    ] {
        if value.trim().is_empty() {
            errors.push(FieldError::new(field, "required", "must not be empty"));
        } else if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
            errors.push(FieldError::new(
                field,
                "no-whitespace",
                "must not contain spaces or control characters",
            ));
        }
    }
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
        for r in &p.routes {
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
    validate_peer(&req.peer, &mut errors);
    if network.project_id != project_id {
        errors.push(FieldError::new(
            "network_id",
            "same-project",
            "network belongs to another project",
        ));
    }
    collect(errors)?;
    ensure_not_deleting_network(network)?;
    let routes = validate_routes(
        &req.routes,
        network,
        &taken_routes(peerings_on_network, None),
    )?;
    let mut p = Peering {
        id,
        project_id,
        name: name.unwrap(),
        network_id: network.id,
        peer: req.peer.clone(),
        routes,
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
    if let Some(routes) = &req.routes {
        let taken = taken_routes(peerings_on_network, Some(current.id));
        let parsed = validate_routes(routes, network, &taken)?;
        spec_changed |= parsed != next.routes;
        next.routes = parsed;
    }
    if let Some(t) = req.allow_gateway_transit {
        spec_changed |= t != next.allow_gateway_transit;
        next.allow_gateway_transit = t;
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

pub fn validate_public_access(
    input: &Option<PublicAccessInput>,
) -> Result<PublicAccess, CoreError> {
    let Some(input) = input else {
        return Ok(PublicAccess::default());
    };
    let mut errors = Vec::new();
    let mut allowlist = Vec::new();
    for (i, e) in input.allowlist.iter().enumerate() {
        match parse_cidr(&format!("public_access.allowlist[{i}].cidr"), &e.cidr) {
            Ok(cidr) => allowlist.push(AllowlistEntry {
                cidr,
                comment: e.comment.clone(),
            }),
            Err(err) => errors.push(err),
        }
    }
    collect(errors)?;
    Ok(PublicAccess {
        enabled: input.enabled,
        allowlist,
    })
}

pub fn validate_egress(input: &Option<Vec<EgressRuleInput>>) -> Result<Vec<EgressRule>, CoreError> {
    let Some(input) = input else {
        return Ok(Vec::new());
    };
    let mut errors = Vec::new();
    let mut rules = Vec::new();
    for (i, e) in input.iter().enumerate() {
        match parse_cidr(&format!("egress_allowlist[{i}].cidr"), &e.cidr) {
            Ok(cidr) => rules.push(EgressRule {
                cidr,
                ports: e.ports.clone(),
                comment: e.comment.clone(),
            }),
            Err(err) => errors.push(err),
        }
        if e.ports.contains(&0) {
            errors.push(FieldError::new(
                format!("egress_allowlist[{i}].ports"),
                "port-range",
                "ports are 1…65535",
            ));
        }
    }
    collect(errors)?;
    Ok(rules)
}

pub fn cluster_dns_name(id: ClusterId, zone: &str) -> String {
    format!("{id}.{zone}")
}

pub fn node_dns_name(id: ClusterId, index: u32, zone: &str) -> String {
    format!("{id}-{index}.{zone}")
}

fn zone_for(region: &str, index: usize) -> String {
    let letter = (b'a' + (index % 3) as u8) as char;
    format!("{region}{letter}")
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
            zone: zone_for(&network.region, i),
            status: NodeStatus::Provisioning,
        })
        .collect();
    let dns_name = cluster_dns_name(id, dns_zone);
    let node_names: Vec<String> = nodes.iter().map(|n| n.dns_name.clone()).collect();
    let addresses = engine.expect("checked").addresses(&dns_name, &node_names);
    Ok(Cluster {
        id,
        project_id,
        name: name.unwrap(),
        network_id: network.id,
        engine: req.engine.clone(),
        topology: req.topology,
        public_access,
        egress_allowlist,
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
    })
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
    if req.egress_allowlist.is_some() {
        let egress = validate_egress(&req.egress_allowlist)?;
        if egress != next.egress_allowlist {
            next.egress_allowlist = egress;
            next.generation += 1;
        }
    }
    next.updated_at = now;
    Ok(next)
}
