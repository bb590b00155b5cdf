//! The resources of API v1 and the request bodies that create and change them.
//! These types are the contract between the store, the controller, the API and the CLI.

use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::conditions::Condition;
use crate::state::{ClusterStatus, NetworkStatus, NodeStatus, PeeringStatus};
use crate::{Cidr, ClusterId, NetworkId, PeeringId, ProjectId, TokenId};

/// The cloud (or the Linux host) a network lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Aws,
    Gcp,
    Azure,
    Local,
}

impl Provider {
    pub const ALL: [Provider; 4] = [
        Provider::Aws,
        Provider::Gcp,
        Provider::Azure,
        Provider::Local,
    ];
    pub fn as_str(&self) -> &'static str {
        match self {
            Provider::Aws => "aws",
            Provider::Gcp => "gcp",
            Provider::Azure => "azure",
            Provider::Local => "local",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown provider '{s}' (one of aws, gcp, azure, local)"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Resource version: bumps on every write; the ETag and `If-Match` value.
    pub version: u64,
}

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
    pub generation: u64,
    pub observed_generation: u64,
    pub conditions: Vec<Condition>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// The customer's side of a peering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PeerSpec {
    /// AWS account id, GCP project id, or Azure subscription id (for `local`: ignored).
    pub account_id: String,
    /// VPC id, VPC network name, or VNet resource id (for `local`: a lab VPC name).
    pub network_id: String,
    pub region: String,
}

/// One command the customer runs on their side to complete or use a peering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CustomerAction {
    pub description: String,
    pub command: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Peering {
    pub id: PeeringId,
    pub project_id: ProjectId,
    pub name: String,
    pub network_id: NetworkId,
    pub peer: PeerSpec,
    /// The customer's prefixes reachable over this peering (1…50, no overlaps).
    /// The peer network's own address space: sources here are admitted (1…50, no overlaps).
    pub routes: Vec<Cidr>,
    /// Ranges the peer reaches through its gateway (VPN clients, the spokes of a hub).
    /// Routed to the peer always; admitted only while `allow_gateway_transit` is true.
    /// Azure and `local` only: AWS and GCP peerings are non-transitive.
    #[serde(default)]
    pub transit_routes: Vec<Cidr>,
    /// Azure: admit sources in `transit_routes` (reached through the peer's gateway).
    pub allow_gateway_transit: bool,
    pub status: PeeringStatus,
    pub status_message: String,
    /// The provider's id for the peering connection (e.g. `pcx-…`), once requested.
    pub provider_peering_id: Option<String>,
    /// What the customer must run on their side, generated from this peering's fields.
    pub customer_actions: Vec<CustomerAction>,
    /// Accepted-but-noteworthy facts, e.g. a cross-region peer (latency, transfer cost).
    pub warnings: Vec<String>,
    pub generation: u64,
    pub observed_generation: u64,
    pub conditions: Vec<Condition>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    SingleNode,
    ThreeNodeMultiZone,
}

impl Topology {
    pub fn node_count(&self) -> usize {
        match self {
            Topology::SingleNode => 1,
            Topology::ThreeNodeMultiZone => 3,
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Topology::SingleNode => "single-node",
            Topology::ThreeNodeMultiZone => "three-node-multi-zone",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AllowlistEntry {
    pub cidr: Cidr,
    #[serde(default)]
    pub comment: String,
}

/// The public endpoint: off by default; when on, only `allowlist` may connect, and an
/// empty list admits nobody. `0.0.0.0/0` is accepted only when given, with a warning.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublicAccess {
    pub enabled: bool,
    #[serde(default)]
    pub allowlist: Vec<AllowlistEntry>,
}

/// Where the public endpoint answers, while public access is enabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublicEndpoint {
    /// `public-<cluster-id>.<zone>`.
    pub dns_name: String,
    /// From the installation's public pool (on `local`: 198.18.0.0/15, inside the lab).
    #[schema(value_type = String, example = "198.18.0.1")]
    pub ip: Ipv4Addr,
}

/// Nodes may connect to `cidr` on these TCP ports (empty `ports`: every port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EgressRule {
    pub cidr: Cidr,
    #[serde(default)]
    pub ports: Vec<u16>,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Node {
    pub index: u32,
    #[schema(value_type = String)]
    pub ip: Ipv4Addr,
    pub dns_name: String,
    pub zone: String,
    pub status: NodeStatus,
}

/// One URI a client needs to reach a cluster (the console's "Addresses" tab, as data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Address {
    /// e.g. `http`, `grpc`, `connection_string`.
    pub name: String,
    pub uri: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Cluster {
    pub id: ClusterId,
    pub project_id: ProjectId,
    pub name: String,
    pub network_id: NetworkId,
    pub engine: String,
    pub topology: Topology,
    pub public_access: PublicAccess,
    /// The endpoint `public_access` opens; `None` while it is disabled.
    #[serde(default)]
    pub public_endpoint: Option<PublicEndpoint>,
    /// Narrows which peered sources may connect (empty: every source inside an active
    /// peering's routes). Separate from the public list: neither does double duty.
    #[serde(default)]
    pub private_allowlist: Vec<AllowlistEntry>,
    /// Destinations in peered networks that nodes may open connections to (default: none).
    #[serde(default)]
    pub egress_allowlist: Vec<EgressRule>,
    /// Accepted-but-noteworthy facts, e.g. an allow-list of 0.0.0.0/0 or an empty one.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// `<cluster-id>.<zone>`: resolves to every node.
    pub dns_name: String,
    pub nodes: Vec<Node>,
    pub addresses: Vec<Address>,
    pub status: ClusterStatus,
    pub status_message: String,
    pub generation: u64,
    pub observed_generation: u64,
    pub conditions: Vec<Condition>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// One entry of a project's audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub seq: i64,
    pub time: DateTime<Utc>,
    /// `token:<id>` for API callers, `controller` for reconciles.
    pub actor: String,
    /// e.g. `network.create`, `peering.update`, `peering.status`.
    pub action: String,
    pub resource_kind: String,
    pub resource_id: String,
    pub project_id: Option<ProjectId>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

/// Per-project roles. Each includes the rights of the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything in the project.
    Viewer,
    /// Also create, update and delete networks, peerings and clusters.
    Operator,
    /// Also manage members and tokens.
    Admin,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            _ => Err(format!(
                "unknown role '{s}' (one of viewer, operator, admin)"
            )),
        }
    }
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// An API token as stored: never the secret, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Token {
    pub id: TokenId,
    pub name: String,
    /// Installation-wide admin (the first-start token): every project, every right.
    pub superuser: bool,
    pub created_at: DateTime<Utc>,
    /// After this instant the token answers 401; `None`: it never expires.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// When the token was revoked (it answers 401 from then on); `None`: it was not.
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Token {
    /// Whether the token may still authenticate at `now`.
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Membership {
    pub project_id: ProjectId,
    pub token_id: TokenId,
    pub role: Role,
}

// ---- request bodies -------------------------------------------------------------------
// CIDRs and ids arrive as plain strings so the core can name the field that is wrong.

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectCreate {
    pub name: String,
}

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PeeringCreate {
    pub name: String,
    pub network_id: String,
    pub peer: PeerSpec,
    pub routes: Vec<String>,
    #[serde(default)]
    pub transit_routes: Vec<String>,
    #[serde(default)]
    pub allow_gateway_transit: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PeeringUpdate {
    pub name: Option<String>,
    pub routes: Option<Vec<String>>,
    pub transit_routes: Option<Vec<String>>,
    pub allow_gateway_transit: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowlistEntryInput {
    pub cidr: String,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicAccessInput {
    pub enabled: bool,
    #[serde(default)]
    pub allowlist: Vec<AllowlistEntryInput>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterCreate {
    pub name: String,
    pub network_id: String,
    pub engine: String,
    pub topology: Topology,
    #[serde(default)]
    pub public_access: Option<PublicAccessInput>,
    #[serde(default)]
    pub private_allowlist: Option<Vec<AllowlistEntryInput>>,
    #[serde(default)]
    pub egress_allowlist: Option<Vec<EgressRuleInput>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EgressRuleInput {
    pub cidr: String,
    #[serde(default)]
    pub ports: Vec<u16>,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterUpdate {
    pub name: Option<String>,
    pub public_access: Option<PublicAccessInput>,
    /// Replaces the list; `[]` removes the narrowing (every peered source again).
    pub private_allowlist: Option<Vec<AllowlistEntryInput>>,
    pub egress_allowlist: Option<Vec<EgressRuleInput>>,
}
