//! VPN clients: one person's WireGuard key on a gateway, with a tunnel address from the
//! gateway's range, grants (cluster, ports) and an expiry. Owned by its gateway, which
//! takes its clients down with it. Deleting a client revokes it: `deleting` until the
//! gateway has removed its peer and cut its flows, then `deleted` (with `revoked_at`).
//!
//! A grant names a cluster, not addresses: the data plane resolves it to the cluster's
//! current nodes, so a node added or replaced is covered without touching the client.

use std::fmt;
use std::net::Ipv4Addr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::validate::{validate_name, Checks};
use super::vpn_gateway::VpnGateway;
use crate::conditions::Condition;
use crate::id::{VpnClientId, VpnGatewayId};
use crate::object::{KindInfo, Object, OnOwnerDelete, Owner, Settled, StatusMachine};
use crate::resources::Cluster;
use crate::state::status_enum;
use crate::wg_key::WgKey;
use crate::{ClusterId, CoreError, FieldError, ProjectId};

/// At most this many grants per client, and ports per grant.
pub const MAX_GRANTS: usize = 32;
pub const MAX_PORTS: usize = 16;

status_enum!(
    /// pending (no handshake yet) → connected ⇄ idle; expired when its time is up;
    /// deleting (revoking) → deleted once the gateway enforced the revocation; the same
    /// words as every kind's JSON, with `revoked_at` saying when.
    VpnClientStatus, "vpn_client" {
        Pending => "pending",
        Connected => "connected",
        Idle => "idle",
        Expired => "expired",
        Error => "error",
        Deleting => "deleting",
        Deleted => "deleted",
    }
);

impl VpnClientStatus {
    pub fn allowed_next(self) -> &'static [VpnClientStatus] {
        use VpnClientStatus::*;
        match self {
            Pending | Connected | Idle | Error => {
                &[Pending, Connected, Idle, Expired, Error, Deleting]
            }
            Expired => &[Error, Deleting],
            Deleting => &[Deleted, Error],
            Deleted => &[],
        }
    }

    pub fn phase(self) -> Settled {
        use VpnClientStatus::*;
        match self {
            Pending | Connected | Idle | Expired | Deleted => Settled::Done,
            Error => Settled::Failed,
            Deleting => Settled::Moving,
        }
    }
}

/// Access to one cluster's nodes on some TCP ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VpnGrant {
    pub cluster_id: ClusterId,
    pub ports: Vec<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VpnClient {
    pub id: VpnClientId,
    pub project_id: ProjectId,
    pub name: String,
    pub gateway_id: VpnGatewayId,
    pub public_key: WgKey,
    /// Its tunnel address: what nodes see as the source of its connections.
    #[schema(value_type = String)]
    pub address: Ipv4Addr,
    pub grants: Vec<VpnGrant>,
    pub expires_at: DateTime<Utc>,
    pub status: VpnClientStatus,
    pub status_message: String,
    pub last_handshake_at: Option<DateTime<Utc>>,
    /// Where the client was last seen (`address:port`).
    pub endpoint: Option<String>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Connections the gateway refused (no grant for them).
    pub denied_flows: u64,
    /// When the gateway had removed the peer and cut its flows.
    pub revoked_at: Option<DateTime<Utc>>,
    pub generation: u64,
    pub observed_generation: u64,
    pub conditions: Vec<Condition>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VpnGrantRequest {
    pub cluster_id: String,
    pub ports: Vec<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VpnClientCreate {
    pub name: String,
    /// The gateway (set from the path by the API).
    pub gateway_id: String,
    /// The client's own public key; without one the server makes the pair and returns the
    /// private key once.
    pub public_key: Option<String>,
    #[serde(default)]
    pub grants: Vec<VpnGrantRequest>,
    /// At most the gateway's `max_client_days` ahead (the default).
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VpnClientUpdate {
    pub name: Option<String>,
    pub grants: Option<Vec<VpnGrantRequest>>,
    /// A new public key (rotation): same address and grants.
    pub public_key: Option<String>,
}

crate::object!(
    VpnClient,
    VpnClientStatus,
    KindInfo {
        name: "vpn_client",
        plural: "vpn-clients",
        owner: Some(Owner {
            kind: "vpn_gateway",
            field: "gateway_id",
            on_delete: OnOwnerDelete::Cascade,
        }),
    },
    owner = |c| Some(c.gateway_id.0),
);

impl VpnClient {
    /// Whether its time is up at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}

fn parse_key(field: &str, raw: &str) -> Result<WgKey, FieldError> {
    raw.parse().map_err(|e: crate::wg_key::MalformedKey| {
        FieldError::new(field, "wireguard-key", e.to_string())
    })
}

/// Grants checked against the clusters of the gateway's network (`clusters`): a cluster
/// elsewhere (another network or project) is refused, naming the grant.
fn validate_grants(
    grants: &[VpnGrantRequest],
    clusters: &[Cluster],
    checks: &mut Checks,
) -> Vec<VpnGrant> {
    if grants.len() > MAX_GRANTS {
        checks.fail(FieldError::new(
            "grants",
            "max-items",
            format!("{} grants; at most {MAX_GRANTS}", grants.len()),
        ));
    }
    let mut out = vec![];
    for (i, g) in grants.iter().enumerate() {
        let field = format!("grants[{i}].cluster_id");
        let cluster = g
            .cluster_id
            .parse::<ClusterId>()
            .ok()
            .and_then(|id| clusters.iter().find(|c| c.id == id && c.status.is_live()));
        let Some(cluster) = cluster else {
            checks.fail(FieldError::new(
                field,
                "same-network",
                format!(
                    "'{}' is not a cluster on this gateway's network",
                    g.cluster_id
                ),
            ));
            continue;
        };
        let ports_field = format!("grants[{i}].ports");
        if g.ports.is_empty() || g.ports.len() > MAX_PORTS || g.ports.contains(&0) {
            checks.fail(FieldError::new(
                ports_field,
                "ports",
                format!("1…{MAX_PORTS} ports, each 1…65535"),
            ));
            continue;
        }
        let mut ports = g.ports.clone();
        ports.sort_unstable();
        ports.dedup();
        out.push(VpnGrant {
            cluster_id: cluster.id,
            ports,
        });
    }
    out
}

/// The lowest free host address of the gateway's range (after the gateway's own).
fn allocate_address(gateway: &VpnGateway, clients: &[VpnClient]) -> Result<Ipv4Addr, CoreError> {
    let taken: std::collections::BTreeSet<Ipv4Addr> = clients
        .iter()
        .filter(|c| c.status.is_live())
        .map(|c| c.address)
        .collect();
    let range = gateway.client_cidr;
    (range.start() + 2..range.end())
        .map(Ipv4Addr::from)
        .find(|a| !taken.contains(a))
        .ok_or_else(|| {
            CoreError::conflict(
                Some("gateway_id"),
                "client-range-full",
                format!("every address of {range} is taken; revoke a client first"),
            )
        })
}

/// A new client of `gateway`. `generated` is the public half of the pair the server made
/// when the request has no key; `clients` are the gateway's clients (for the address).
#[allow(clippy::too_many_arguments)]
pub fn new_vpn_client(
    id: VpnClientId,
    project_id: ProjectId,
    req: &VpnClientCreate,
    generated: Option<WgKey>,
    gateway: &VpnGateway,
    clusters: &[Cluster],
    clients: &[VpnClient],
    now: DateTime<Utc>,
) -> Result<VpnClient, CoreError> {
    let mut checks = Checks::new();
    let name = checks.field(validate_name("name", &req.name));
    let key = match (&req.public_key, generated) {
        (Some(raw), _) => checks.field(parse_key("public_key", raw)),
        (None, Some(k)) => Some(k),
        (None, None) => {
            checks.fail(FieldError::new(
                "public_key",
                "required",
                "a public key, or none to have one generated",
            ));
            None
        }
    };
    let grants = validate_grants(&req.grants, clusters, &mut checks);
    let latest = now + Duration::days(i64::from(gateway.max_client_days));
    let expires_at = req.expires_at.unwrap_or(latest);
    if expires_at > latest {
        checks.fail(FieldError::new(
            "expires_at",
            "max-lifetime",
            format!(
                "{expires_at} is beyond the gateway's maximum of {} days ({latest})",
                gateway.max_client_days
            ),
        ));
    } else if expires_at <= now {
        checks.fail(FieldError::new(
            "expires_at",
            "future",
            "the expiry must be in the future",
        ));
    }
    if gateway.project_id != project_id {
        checks.fail(FieldError::new(
            "gateway_id",
            "same-project",
            "gateway belongs to another project",
        ));
    }
    let (name, public_key) = checks.finish_values(name.zip(key))?;
    gateway.ensure_not_going()?;
    if let Some(other) = clients
        .iter()
        .find(|c| c.status.is_live() && c.public_key == public_key)
    {
        return Err(CoreError::conflict(
            Some("public_key"),
            "key-in-use",
            format!("client {} already uses this key", other.id),
        ));
    }
    Ok(VpnClient {
        id,
        project_id,
        name,
        gateway_id: gateway.id,
        public_key,
        address: allocate_address(gateway, clients)?,
        grants,
        expires_at,
        status: VpnClientStatus::Pending,
        status_message: "waiting for the first handshake".into(),
        last_handshake_at: None,
        endpoint: None,
        rx_bytes: 0,
        tx_bytes: 0,
        denied_flows: 0,
        revoked_at: None,
        generation: 1,
        observed_generation: 0,
        conditions: Vec::new(),
        created_at: now,
        updated_at: now,
        version: 1,
    })
}

/// Renames, regrants or rotates (a new key: same address and grants; the old key's
/// session ends when the gateway applies the change).
pub fn update_vpn_client(
    current: &VpnClient,
    req: &VpnClientUpdate,
    clusters: &[Cluster],
    now: DateTime<Utc>,
) -> Result<VpnClient, CoreError> {
    if current.status.is_going() || current.status == VpnClientStatus::Expired {
        return Err(CoreError::conflict(
            None,
            "vpn-client-inactive",
            format!("VPN client {} is {}", current.id, current.status),
        ));
    }
    let mut checks = Checks::new();
    let name = req
        .name
        .as_deref()
        .and_then(|n| checks.field(validate_name("name", n)));
    let key = req
        .public_key
        .as_deref()
        .and_then(|k| checks.field(parse_key("public_key", k)));
    let grants = req
        .grants
        .as_ref()
        .map(|g| validate_grants(g, clusters, &mut checks));
    checks.finish(())?;
    let mut next = current.clone();
    if let Some(name) = name {
        next.name = name;
    }
    let mut changed = false;
    if let Some(key) = key {
        changed |= key != next.public_key;
        next.public_key = key;
    }
    if let Some(grants) = grants {
        changed |= grants != next.grants;
        next.grants = grants;
    }
    if changed {
        next.generation += 1;
    }
    next.updated_at = now;
    Ok(next)
}

/// The state a client shows, from what the gateway saw: `connected` with a handshake in
/// the last three minutes (WireGuard re-handshakes every two while traffic flows).
pub fn client_state(
    client: &VpnClient,
    last_handshake: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> VpnClientStatus {
    if client.is_expired(now) {
        return VpnClientStatus::Expired;
    }
    match last_handshake {
        None => VpnClientStatus::Pending,
        Some(at) if now - at <= Duration::minutes(3) => VpnClientStatus::Connected,
        Some(_) => VpnClientStatus::Idle,
    }
}
