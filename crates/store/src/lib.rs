//! Isthmus state. `Store` is the port every caller uses; `sqlite` is the embedded default
//! backend. Every mutating call validates (with the core's rules) and writes in one
//! transaction, and appends to the audit log in that same transaction.

use async_trait::async_trait;
use isthmus_core::lab::{LabHost, LabHostCreate, LabVpc, LabVpcCreate};
use isthmus_core::resources::*;
use isthmus_core::{ClusterId, CoreError, Id, NetworkId, PeeringId, ProjectId, TokenId};

pub mod doc;
pub mod ids;
pub mod sqlite;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The same idempotency key was used with a different request body (HTTP 422).
    #[error("Idempotency-Key '{key}' was already used with a different request body")]
    IdempotencyMismatch { key: String },
    #[error("storage error: {0:#}")]
    Backend(#[from] anyhow::Error),
    /// The store cannot serve the call now, for a reason that passes (HTTP 503): another
    /// writer holds the database, or its disk is full or failing. Nothing was written.
    #[error("store unavailable ({}): {context}", kind.as_str())]
    Unavailable {
        kind: Unavailability,
        /// SQLite's own words for the cause (e.g. "database or disk is full").
        reason: String,
        /// What the store was doing, down to the cause: for logs.
        context: String,
    },
}

/// Why the store is unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailability {
    /// The database is locked by another writer past the busy timeout, or the call found
    /// no turn at the (single) writer connection in time.
    Busy,
    /// The database file cannot be written: disk full, an I/O error, a read-only file.
    Storage,
}

impl Unavailability {
    pub fn as_str(&self) -> &'static str {
        match self {
            Unavailability::Busy => "busy",
            Unavailability::Storage => "storage",
        }
    }
}

/// Who did it: `token:<id>` for API callers, `controller` for reconciles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    pub fn token(id: TokenId) -> Actor {
        Actor(format!("token:{id}"))
    }
    pub fn controller() -> Actor {
        Actor("controller".into())
    }
}

/// An `Idempotency-Key` on a create, scoped to the caller, with a hash of the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub scope: String,
    pub key: String,
    pub request_hash: String,
}

/// The result of a create: new, or the replay of an earlier create with the same key.
#[derive(Debug, Clone, PartialEq)]
pub struct Created<T> {
    pub resource: T,
    pub replayed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// 1…1000; 0 means the default (100).
    pub limit: u32,
    /// Also list resources in status `deleted`.
    pub include_deleted: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// The kinds the controller reconciles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Network,
    Peering,
    Cluster,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Network => "network",
            Kind::Peering => "peering",
            Kind::Cluster => "cluster",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKey {
    pub kind: Kind,
    pub id: Id,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    Network(Network),
    Peering(Peering),
    Cluster(Cluster),
}

impl Resource {
    pub fn key(&self) -> ResourceKey {
        match self {
            Resource::Network(n) => ResourceKey {
                kind: Kind::Network,
                id: n.id.0,
            },
            Resource::Peering(p) => ResourceKey {
                kind: Kind::Peering,
                id: p.id.0,
            },
            Resource::Cluster(c) => ResourceKey {
                kind: Kind::Cluster,
                id: c.id.0,
            },
        }
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ---- projects ----
    /// Creates a project; `owner` (a non-superuser token) becomes its admin in the same write.
    async fn create_project(
        &self,
        actor: &Actor,
        req: &ProjectCreate,
        owner: Option<TokenId>,
    ) -> Result<Project>;
    async fn get_project(&self, id: ProjectId) -> Result<Project>;
    /// All projects, or only those in `only` (a token's memberships).
    async fn list_projects(
        &self,
        only: Option<&[ProjectId]>,
        page: &PageRequest,
    ) -> Result<Page<Project>>;

    // ---- networks ----
    async fn create_network(
        &self,
        actor: &Actor,
        project: ProjectId,
        req: &NetworkCreate,
        idem: Option<&IdempotencyKey>,
    ) -> Result<Created<Network>>;
    async fn get_network(&self, project: ProjectId, id: NetworkId) -> Result<Network>;
    async fn list_networks(&self, project: ProjectId, page: &PageRequest) -> Result<Page<Network>>;
    async fn update_network(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: NetworkId,
        req: &NetworkUpdate,
        if_match: Option<u64>,
    ) -> Result<Network>;
    /// Marks the network `deleting` and its live peerings `deleting` (409 while clusters remain).
    async fn delete_network(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: NetworkId,
        if_match: Option<u64>,
    ) -> Result<Network>;

    // ---- peerings ----
    async fn create_peering(
        &self,
        actor: &Actor,
        project: ProjectId,
        req: &PeeringCreate,
        idem: Option<&IdempotencyKey>,
    ) -> Result<Created<Peering>>;
    async fn get_peering(&self, project: ProjectId, id: PeeringId) -> Result<Peering>;
    async fn list_peerings(&self, project: ProjectId, page: &PageRequest) -> Result<Page<Peering>>;
    async fn update_peering(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: PeeringId,
        req: &PeeringUpdate,
        if_match: Option<u64>,
    ) -> Result<Peering>;
    async fn delete_peering(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: PeeringId,
        if_match: Option<u64>,
    ) -> Result<Peering>;

    // ---- clusters ----
    async fn create_cluster(
        &self,
        actor: &Actor,
        project: ProjectId,
        req: &ClusterCreate,
        dns_zone: &str,
        idem: Option<&IdempotencyKey>,
    ) -> Result<Created<Cluster>>;
    async fn get_cluster(&self, project: ProjectId, id: ClusterId) -> Result<Cluster>;
    async fn list_clusters(&self, project: ProjectId, page: &PageRequest) -> Result<Page<Cluster>>;
    async fn update_cluster(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: ClusterId,
        req: &ClusterUpdate,
        if_match: Option<u64>,
    ) -> Result<Cluster>;
    async fn delete_cluster(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: ClusterId,
        if_match: Option<u64>,
    ) -> Result<Cluster>;

    // ---- controller ----
    /// Keys of every resource not in status `deleted` (what a resync visits).
    async fn list_live(&self) -> Result<Vec<ResourceKey>>;
    async fn load(&self, key: ResourceKey) -> Result<Option<Resource>>;
    async fn peerings_of(&self, network: NetworkId) -> Result<Vec<Peering>>;
    async fn clusters_of(&self, network: NetworkId) -> Result<Vec<Cluster>>;
    /// Writes the controller's view (status, status_message, conditions, observed_generation,
    /// provider ids, node statuses) of `resource`, only if the stored version still equals
    /// `resource`'s version (else `CoreError::VersionMismatch`, and the caller re-reads).
    /// Status moves go through the state machine. Appends an audit event when status changes.
    async fn save_status(&self, actor: &Actor, resource: &Resource) -> Result<Resource>;

    // ---- audit log ----
    async fn list_events(&self, project: ProjectId, page: &PageRequest) -> Result<Page<Event>>;
    /// Every project's events with `seq > after_seq`, oldest first, at most `limit` (capped
    /// at 1000): how followers such as the platform DNS learn what changed.
    async fn events_after(&self, after_seq: i64, limit: u32) -> Result<Vec<Event>>;
    /// The newest event's `seq`, 0 while the log is empty: where a follower starts.
    async fn last_event_seq(&self) -> Result<i64>;

    // ---- tokens and roles ----
    /// Stores a token (only the hash of its secret), and optionally a membership, in one write.
    async fn create_token(
        &self,
        actor: &Actor,
        name: &str,
        superuser: bool,
        secret_hash: &str,
        membership: Option<(ProjectId, Role)>,
    ) -> Result<Token>;
    /// [`create_token`](Self::create_token) for a project token that answers 401 from
    /// `expires_at` on.
    async fn create_expiring_token(
        &self,
        actor: &Actor,
        name: &str,
        secret_hash: &str,
        membership: (ProjectId, Role),
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Token>;
    /// The token with this secret hash, revoked or expired ones included (the caller
    /// decides what to answer).
    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<Token>>;
    async fn get_token(&self, id: TokenId) -> Result<Token>;
    /// Every token, revoked and expired ones included, oldest first.
    async fn list_tokens(&self) -> Result<Vec<Token>>;
    /// The tokens with a role in `project`, with that role, oldest first.
    async fn project_tokens(&self, project: ProjectId) -> Result<Vec<(Token, Role)>>;
    /// Marks the token revoked and drops its roles, in one write; a revoked token is
    /// returned unchanged.
    async fn revoke_token(&self, actor: &Actor, id: TokenId) -> Result<Token>;
    /// Replaces the token's secret hash: the old secret stops working in the same write
    /// (409 `token-revoked` for a revoked token).
    async fn rotate_token(&self, actor: &Actor, id: TokenId, secret_hash: &str) -> Result<Token>;
    async fn count_tokens(&self) -> Result<u64>;
    async fn set_membership(&self, actor: &Actor, m: &Membership) -> Result<()>;
    async fn remove_membership(
        &self,
        actor: &Actor,
        project: ProjectId,
        token: TokenId,
    ) -> Result<()>;
    async fn memberships_of(&self, token: TokenId) -> Result<Vec<Membership>>;
    async fn members_of(&self, project: ProjectId) -> Result<Vec<Membership>>;

    // ---- lab VPCs (the customer's side of `local` peerings; not project-scoped) ----
    /// Creates a lab VPC without hosts (409 `name-taken` if the name is in use).
    async fn create_lab_vpc(&self, actor: &Actor, req: &LabVpcCreate) -> Result<LabVpc>;
    /// Every lab VPC with its hosts, by name.
    async fn list_lab_vpcs(&self) -> Result<Vec<LabVpc>>;
    async fn get_lab_vpc(&self, name: &str) -> Result<LabVpc>;
    /// Removes a lab VPC and its hosts; returns what was removed (409 `vpc-in-use` while
    /// another lab VPC sits behind it).
    async fn delete_lab_vpc(&self, actor: &Actor, name: &str) -> Result<LabVpc>;
    /// Adds a host (its address given or allocated, lowest free first).
    async fn add_lab_host(&self, actor: &Actor, vpc: &str, req: &LabHostCreate) -> Result<LabHost>;
    async fn delete_lab_host(&self, actor: &Actor, vpc: &str, host: &str) -> Result<LabHost>;
    /// The audit log of lab VPCs and hosts (events without a project), oldest first.
    async fn list_lab_events(&self, page: &PageRequest) -> Result<Page<Event>>;

    // ---- the lab's internet (where public endpoints are tried from) ----
    /// Every internet host, by name.
    async fn list_internet_hosts(&self) -> Result<Vec<LabHost>>;
    /// Adds an internet host (its public-looking address given or allocated from
    /// 203.0.113.10 up); audited as `lab_internet_host.add`.
    async fn add_internet_host(&self, actor: &Actor, req: &LabHostCreate) -> Result<LabHost>;
    async fn delete_internet_host(&self, actor: &Actor, name: &str) -> Result<LabHost>;

    // ---- health ----
    /// Ok while the store can write. After a write failed for a storage reason (disk full,
    /// I/O error), each call tries a small write until one commits again; otherwise it
    /// costs nothing. The error says why the store cannot write.
    async fn write_health(&self) -> Result<()> {
        Ok(())
    }
}
