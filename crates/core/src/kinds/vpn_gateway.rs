//! VPN gateways: one WireGuard gateway per network, through which people's laptops reach
//! the clusters they are granted (see [`super::vpn_client`]). Owned by its network, which
//! takes it down when deleted. The gateway's address range for clients (`client_cidr`)
//! must collide with nothing the network can route to.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::network::private_ranges;
use super::validate::{parse_cidr, validate_name, Checks};
use crate::conditions::Condition;
use crate::id::VpnGatewayId;
use crate::object::{IndexEntry, KindInfo, Object, OnOwnerDelete, Owner, Settled, StatusMachine};
use crate::resources::{Network, Peering};
use crate::state::status_enum;
use crate::wg_key::WgKey;
use crate::{Cidr, CoreError, FieldError, NetworkId, ProjectId};

/// The store's index of client ranges: the gateways of a project never overlap.
pub const VPN_CLIENT_RANGE: &str = "vpn_client_range";
/// The longest client lifetime a gateway allows unless it says otherwise.
pub const DEFAULT_MAX_CLIENT_DAYS: u32 = 90;
/// The longest any gateway may allow: keys that never expire are what this avoids.
pub const MAX_CLIENT_DAYS: u32 = 365;

status_enum!(
    /// provisioning → ready → deleting → deleted, with `error` retried by the controller.
    VpnGatewayStatus, "vpn_gateway" {
        Provisioning => "provisioning",
        Ready => "ready",
        Error => "error",
        Deleting => "deleting",
        Deleted => "deleted",
    }
);

impl VpnGatewayStatus {
    pub fn allowed_next(self) -> &'static [VpnGatewayStatus] {
        use VpnGatewayStatus::*;
        match self {
            Provisioning => &[Ready, Error, Deleting],
            // A gateway whose process died goes back to provisioning while it restarts.
            Ready => &[Provisioning, Error, Deleting],
            Error => &[Provisioning, Ready, Deleting],
            Deleting => &[Deleted, Error],
            Deleted => &[],
        }
    }

    pub fn phase(self) -> Settled {
        use VpnGatewayStatus::*;
        match self {
            Ready | Deleted => Settled::Done,
            Error => Settled::Failed,
            Provisioning | Deleting => Settled::Moving,
        }
    }
}

/// Whether the gateway pushes a resolver for the platform zone into client configs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VpnDns {
    /// The config names a resolver reachable through the tunnel (the gateway's address).
    #[default]
    Push,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VpnGateway {
    pub id: VpnGatewayId,
    pub project_id: ProjectId,
    pub name: String,
    pub network_id: NetworkId,
    /// The clients' tunnel addresses; the gateway holds the first host.
    pub client_cidr: Cidr,
    pub dns: VpnDns,
    /// The longest a client may live (its `expires_at` at most this many days ahead).
    pub max_client_days: u32,
    pub status: VpnGatewayStatus,
    pub status_message: String,
    /// Where clients connect (`address:port`), once the provider has one.
    pub endpoint: Option<String>,
    /// The gateway's WireGuard public key, once it has one.
    pub public_key: Option<WgKey>,
    pub generation: u64,
    pub observed_generation: u64,
    pub conditions: Vec<Condition>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VpnGatewayCreate {
    pub name: String,
    pub network_id: String,
    pub client_cidr: String,
    #[serde(default)]
    pub dns: VpnDns,
    pub max_client_days: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VpnGatewayUpdate {
    pub name: Option<String>,
    pub dns: Option<VpnDns>,
    pub max_client_days: Option<u32>,
}

crate::object!(
    VpnGateway,
    VpnGatewayStatus,
    KindInfo {
        name: "vpn_gateway",
        plural: "vpn-gateways",
        owner: Some(Owner {
            kind: "network",
            field: "network_id",
            on_delete: OnOwnerDelete::Cascade,
        }),
    },
    owner = |g| Some(g.network_id.0),
    index = |g| vec![IndexEntry {
        index: VPN_CLIENT_RANGE,
        scope: g.project_id.to_string(),
        start: g.client_cidr.start(),
        end: g.client_cidr.end(),
    }],
);

impl VpnGateway {
    /// The gateway's own tunnel address (and, with `dns: push`, the clients' resolver).
    pub fn tunnel_address(&self) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::from(self.client_cidr.start() + 1)
    }
}

/// A `client_cidr`: private, /16 … /29, no host bits.
fn validate_client_cidr(raw: &str) -> Result<Cidr, FieldError> {
    let cidr = parse_cidr("client_cidr", raw)?;
    if !(16..=29).contains(&cidr.prefix_len()) {
        return Err(FieldError::new(
            "client_cidr",
            "prefix-length",
            format!(
                "{cidr} has prefix length /{}; a client range must be between /16 and /29",
                cidr.prefix_len()
            ),
        ));
    }
    if !private_ranges().iter().any(|r| r.contains(&cidr)) {
        return Err(FieldError::new(
            "client_cidr",
            "private-range",
            format!(
                "{cidr} is not inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10"
            ),
        ));
    }
    Ok(cidr)
}

fn validate_max_days(days: Option<u32>) -> Result<u32, FieldError> {
    let days = days.unwrap_or(DEFAULT_MAX_CLIENT_DAYS);
    if !(1..=MAX_CLIENT_DAYS).contains(&days) {
        return Err(FieldError::new(
            "max_client_days",
            "range",
            format!("{days} is outside 1…{MAX_CLIENT_DAYS} days"),
        ));
    }
    Ok(days)
}

/// A client range must not collide with anything the network routes: the network itself,
/// its live peerings' routes, or another gateway's range in the project.
fn check_client_cidr_free(
    cidr: &Cidr,
    network: &Network,
    peerings: &[Peering],
    gateways_in_project: &[VpnGateway],
    skip: Option<VpnGatewayId>,
) -> Result<(), FieldError> {
    let overlap = |what: String| {
        FieldError::new(
            "client_cidr",
            "no-overlap",
            format!("{cidr} overlaps {what}; choose a range the network does not route"),
        )
    };
    if network.cidr_block.overlaps(cidr) {
        return Err(overlap(format!(
            "network {} ({})",
            network.id, network.cidr_block
        )));
    }
    for p in peerings.iter().filter(|p| p.status.is_live()) {
        if let Some(r) = p
            .routes
            .iter()
            .chain(&p.transit_routes)
            .find(|r| r.overlaps(cidr))
        {
            return Err(overlap(format!("route {r} of peering {}", p.id)));
        }
    }
    for g in gateways_in_project {
        if Some(g.id) != skip && g.status.is_live() && g.client_cidr.overlaps(cidr) {
            return Err(overlap(format!(
                "client range {} of VPN gateway {}",
                g.client_cidr, g.id
            )));
        }
    }
    Ok(())
}

/// A new gateway on `network`. `gateways_on_network` are the network's gateways (at most
/// one may be live: a second is a 409); `gateways_in_project` those whose client ranges
/// the index says meet this one.
#[allow(clippy::too_many_arguments)]
pub fn new_vpn_gateway(
    id: VpnGatewayId,
    project_id: ProjectId,
    req: &VpnGatewayCreate,
    network: &Network,
    peerings_on_network: &[Peering],
    gateways_on_network: &[VpnGateway],
    gateways_in_project: &[VpnGateway],
    now: DateTime<Utc>,
) -> Result<VpnGateway, CoreError> {
    let mut checks = Checks::new();
    let name = checks.field(validate_name("name", &req.name));
    let cidr = checks.field(validate_client_cidr(&req.client_cidr));
    let days = checks.field(validate_max_days(req.max_client_days));
    if network.project_id != project_id {
        checks.fail(FieldError::new(
            "network_id",
            "same-project",
            "network belongs to another project",
        ));
    }
    if let Some(cidr) = &cidr {
        checks.check(check_client_cidr_free(
            cidr,
            network,
            peerings_on_network,
            gateways_in_project,
            None,
        ));
    }
    let (name, (client_cidr, max_client_days)) = checks.finish_values(name.zip(cidr.zip(days)))?;
    network.ensure_not_going()?;
    if let Some(other) = gateways_on_network.iter().find(|g| g.status.is_live()) {
        return Err(CoreError::conflict(
            Some("network_id"),
            "one-gateway-per-network",
            format!(
                "network {} already has VPN gateway {}; add clients to it",
                network.id, other.id
            ),
        ));
    }
    Ok(VpnGateway {
        id,
        project_id,
        name,
        network_id: network.id,
        client_cidr,
        dns: req.dns,
        max_client_days,
        status: VpnGatewayStatus::Provisioning,
        status_message: "starting the gateway".into(),
        endpoint: None,
        public_key: None,
        generation: 1,
        observed_generation: 0,
        conditions: Vec::new(),
        created_at: now,
        updated_at: now,
        version: 1,
    })
}

/// Name, DNS push and the client lifetime can change; the range cannot (clients hold
/// addresses in it).
pub fn update_vpn_gateway(
    current: &VpnGateway,
    req: &VpnGatewayUpdate,
    now: DateTime<Utc>,
) -> Result<VpnGateway, CoreError> {
    current.ensure_not_going()?;
    let mut checks = Checks::new();
    let name = req
        .name
        .as_deref()
        .and_then(|n| checks.field(validate_name("name", n)));
    let days = req
        .max_client_days
        .and_then(|d| checks.field(validate_max_days(Some(d))));
    checks.finish(())?;
    let mut next = current.clone();
    if let Some(name) = name {
        next.name = name;
    }
    if let Some(days) = days {
        next.max_client_days = days;
    }
    if let Some(dns) = req.dns {
        if dns != next.dns {
            next.dns = dns;
            next.generation += 1;
        }
    }
    next.updated_at = now;
    Ok(next)
}
