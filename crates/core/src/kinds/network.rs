//! Networks: a private range on one provider and region, the owner of peerings and
//! clusters. Its rules: a private CIDR of /8 … /28 without host bits, no overlap with
//! another live network of the project in the same provider and region, only the name
//! changes after creation, and no deletion while clusters live in it.

use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::validate::{parse_cidr, validate_name, validate_region, Checks};
use super::NETWORK_RANGE;
use crate::object::{IndexEntry, KindInfo, Object};
use crate::resources::{Cluster, Provider};
use crate::state::NetworkStatus;
use crate::{Cidr, CoreError, FieldError, NetworkId, ProjectId};

crate::kind_struct! {
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    pub struct Network {
        pub id: NetworkId,
        pub project_id: ProjectId,
        pub name: String,
        pub provider: Provider,
        pub region: String,
        pub cidr_block: Cidr,
        pub status: NetworkStatus,
        pub status_message: String,
        /// The provider's own id for this network (e.g. `vpc-…`), once it exists.
        pub provider_network_id: Option<String>,
    }
}

// CIDRs arrive as plain strings so the core can name the field that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkCreate {
    pub name: String,
    pub provider: Provider,
    pub region: String,
    pub cidr_block: String,
}

/// Only `name` can change. The immutable fields are accepted here only to be refused
/// with a clear error rather than silently ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkUpdate {
    pub name: Option<String>,
    #[schema(value_type = Option<String>)]
    pub provider: Option<serde_json::Value>,
    #[schema(value_type = Option<String>)]
    pub region: Option<serde_json::Value>,
    #[schema(value_type = Option<String>)]
    pub cidr_block: Option<serde_json::Value>,
}

crate::object!(
    Network,
    NetworkStatus,
    KindInfo {
        name: "network",
        plural: "networks",
        owner: None,
    },
    owner = |_n| None,
    index = |n| vec![IndexEntry {
        index: NETWORK_RANGE,
        scope: n.project_id.to_string(),
        start: n.cidr_block.start(),
        end: n.cidr_block.end(),
    }],
);

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

/// A network's CIDR: private, /8 … /28, no host bits.
pub fn validate_network_cidr(raw: &str) -> Result<Cidr, FieldError> {
    validate_private_cidr(raw, 28, "a network")
}

/// A `cidr_block` inside [`private_ranges`], /8 … /`max_len`, no host bits; `what` names
/// the thing it is for in the prefix-length message (networks and lab VPCs share this).
pub fn validate_private_cidr(raw: &str, max_len: u8, what: &str) -> Result<Cidr, FieldError> {
    let cidr = parse_cidr("cidr_block", raw)?;
    if !(8..=max_len).contains(&cidr.prefix_len()) {
        return Err(FieldError::new(
            "cidr_block",
            "prefix-length",
            format!(
                "{cidr} has prefix length /{}; {what} must be between /8 and /{max_len}",
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

/// Builds a new network from a create request, checking every rule.
pub fn new_network(
    id: NetworkId,
    project_id: ProjectId,
    req: &NetworkCreate,
    existing_in_project: &[Network],
    now: DateTime<Utc>,
) -> Result<Network, CoreError> {
    let mut checks = Checks::new();
    let name = checks.field(validate_name("name", &req.name));
    let region = checks.field(validate_region(req.provider, &req.region));
    let cidr = checks.field(validate_network_cidr(&req.cidr_block).and_then(|c| {
        // AWS refuses VPCs wider than /16; the other clouds take /8.
        if req.provider == Provider::Aws {
            crate::clouds::check_vpc_size("cidr_block", req.provider, &c)?;
        }
        Ok(c)
    }));
    let ((name, region), cidr) = checks.finish_values(name.zip(region).zip(cidr))?;
    check_network_overlap(&cidr, req.provider, &region, existing_in_project)?;
    Ok(crate::new_object!(
        now,
        Network {
            id,
            project_id,
            name,
            provider: req.provider,
            region,
            cidr_block: cidr,
            status: NetworkStatus::Provisioning,
            status_message: "waiting for the provider to create the network".into(),
            provider_network_id: None,
        }
    ))
}

/// Applies a network update: only the name may change.
pub fn update_network(
    current: &Network,
    req: &NetworkUpdate,
    now: DateTime<Utc>,
) -> Result<Network, CoreError> {
    let mut checks = Checks::new();
    for (field, value) in [
        ("provider", &req.provider),
        ("region", &req.region),
        ("cidr_block", &req.cidr_block),
    ] {
        if value.is_some() {
            checks.fail(FieldError::new(
                field,
                "immutable",
                format!("{field} cannot change after creation; create a new network"),
            ));
        }
    }
    let name = req
        .name
        .as_deref()
        .and_then(|n| checks.field(validate_name("name", n)));
    let name = checks.finish(name)?;
    current.ensure_not_going()?;
    let mut next = current.clone();
    if let Some(name) = name {
        next.name = name;
    }
    next.updated_at = now;
    Ok(next)
}

/// A request naming a network of another project is refused on its `network_id`.
pub(crate) fn check_same_project(checks: &mut Checks, network: &Network, project_id: ProjectId) {
    if network.project_id != project_id {
        checks.fail(FieldError::new(
            "network_id",
            "same-project",
            "network belongs to another project",
        ));
    }
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
