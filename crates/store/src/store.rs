//! `Store`: the port every caller uses. Objects of every kind go through the document
//! store ([`DocStore`]) with the typed facade [`Api`](crate::api::Api)
//! (`Api::<Network>::new(&*store).get(..)`), so a backend implements only the document
//! store and the parts that are not objects (projects, tokens, the lab, the audit log's
//! reads).

use async_trait::async_trait;
use isthmus_core::lab::{LabHost, LabHostCreate, LabVpc, LabVpcCreate};
use isthmus_core::resources::*;
use isthmus_core::{ProjectId, TokenId};

use crate::doc::{DocStore, ObjectKey};
use crate::{Actor, Page, PageRequest, Result};

#[async_trait]
pub trait Store: DocStore {
    /// This store as a document store, for [`Api`].
    fn docs(&self) -> &dyn DocStore;

    // ---- projects ----
    /// Creates a project; `owner` (a non-superuser token) becomes its admin in the same write.
    async fn create_project(
        &self,
        actor: &Actor,
        req: &ProjectCreate,
        owner: Option<TokenId>,
    ) -> Result<Project>;
    async fn get_project(&self, id: ProjectId) -> Result<Project>;
    /// Deletes an empty project (a 409 `project-not-empty` naming its live objects
    /// otherwise), with its memberships and deleted objects' remains, in one write.
    async fn delete_project(&self, actor: &Actor, id: ProjectId) -> Result<Project>;
    /// All projects, or only those in `only` (a token's memberships).
    async fn list_projects(
        &self,
        only: Option<&[ProjectId]>,
        page: &PageRequest,
    ) -> Result<Page<Project>>;

    // ---- objects ----
    /// Keys of every object not in status `deleted`, of every kind (what a resync visits).
    async fn list_live(&self) -> Result<Vec<ObjectKey>> {
        self.docs().live_docs().await
    }

    // ---- audit log ----
    async fn list_events(&self, project: ProjectId, page: &PageRequest) -> Result<Page<Event>>;
    /// Every project's events with `seq > after_seq`, oldest first, at most `limit` (capped
    /// at 1000): how followers such as the platform DNS learn what changed.
    async fn events_after(&self, after_seq: i64, limit: u32) -> Result<Vec<Event>>;
    /// The newest event's `seq`, 0 while the log is empty: where a follower starts.
    async fn last_event_seq(&self) -> Result<i64>;
    /// [`events_after`](Self::events_after) without the `before` and `after` bodies
    /// (`None`): what a follower that only needs to know what changed reads, without
    /// decoding whole objects (a cluster with a long allow-list is large).
    async fn changes_after(&self, after_seq: i64, limit: u32) -> Result<Vec<Event>> {
        let mut events = self.events_after(after_seq, limit).await?;
        for e in &mut events {
            e.before = None;
            e.after = None;
        }
        Ok(events)
    }

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
