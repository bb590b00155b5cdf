//! The resources of API v1 and the request bodies that create and change them.
//! These types are the contract between the store, the controller, the API and the CLI.
//!
//! Projects, tokens, roles, memberships and events are here; each resource kind lives in
//! its own file under [`crate::kinds`] and is re-exported here under its old path.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ProjectId, TokenId};

pub use crate::kinds::access::{
    AllowlistEntry, AllowlistEntryInput, EgressRule, EgressRuleInput, PublicAccess,
    PublicAccessInput, PublicEndpoint,
};
pub use crate::kinds::cluster::{Address, Cluster, ClusterCreate, ClusterUpdate, Node, Topology};
pub use crate::kinds::network::{Network, NetworkCreate, NetworkUpdate};
pub use crate::kinds::peering::{CustomerAction, PeerSpec, Peering, PeeringCreate, PeeringUpdate};

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectCreate {
    pub name: String,
}
