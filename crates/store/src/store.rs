//! `Store`: the port every caller uses. Objects of every kind go through the document
//! store ([`DocStore`], with the typed facade [`Api`]); the per-kind methods below are
//! that facade under the names callers already use, so a backend implements only the
//! document store and the parts that are not objects (projects, tokens, the lab, the
//! audit log's reads).

use async_trait::async_trait;
use isthmus_core::lab::{LabHost, LabHostCreate, LabVpc, LabVpcCreate};
use isthmus_core::resources::*;
use isthmus_core::{ClusterId, NetworkId, PeeringId, ProjectId, TokenId};

use crate::api::{Api, Env};
use crate::doc::DocStore;
use crate::{
    Actor, Created, IdempotencyKey, Kind, Page, PageRequest, Resource, ResourceKey, Result,
    StoreError,
};

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
    ) -> Result<Created<Network>> {
        let env = Env::default();
        Api::new(self.docs())
            .create(actor, project, req, &env, idem)
            .await
    }
    async fn get_network(&self, project: ProjectId, id: NetworkId) -> Result<Network> {
        Api::new(self.docs()).get(project, id.0).await
    }
    async fn list_networks(&self, project: ProjectId, page: &PageRequest) -> Result<Page<Network>> {
        Api::new(self.docs()).list(project, page).await
    }
    async fn update_network(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: NetworkId,
        req: &NetworkUpdate,
        if_match: Option<u64>,
    ) -> Result<Network> {
        Api::new(self.docs())
            .update(actor, project, id.0, req, if_match)
            .await
    }
    /// Marks the network `deleting` and its live peerings `deleting` (409 while clusters remain).
    async fn delete_network(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: NetworkId,
        if_match: Option<u64>,
    ) -> Result<Network> {
        Api::new(self.docs())
            .delete(actor, project, id.0, if_match)
            .await
    }

    // ---- peerings ----
    async fn create_peering(
        &self,
        actor: &Actor,
        project: ProjectId,
        req: &PeeringCreate,
        idem: Option<&IdempotencyKey>,
    ) -> Result<Created<Peering>> {
        let env = Env::default();
        Api::new(self.docs())
            .create(actor, project, req, &env, idem)
            .await
    }
    async fn get_peering(&self, project: ProjectId, id: PeeringId) -> Result<Peering> {
        Api::new(self.docs()).get(project, id.0).await
    }
    async fn list_peerings(&self, project: ProjectId, page: &PageRequest) -> Result<Page<Peering>> {
        Api::new(self.docs()).list(project, page).await
    }
    async fn update_peering(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: PeeringId,
        req: &PeeringUpdate,
        if_match: Option<u64>,
    ) -> Result<Peering> {
        Api::new(self.docs())
            .update(actor, project, id.0, req, if_match)
            .await
    }
    async fn delete_peering(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: PeeringId,
        if_match: Option<u64>,
    ) -> Result<Peering> {
        Api::new(self.docs())
            .delete(actor, project, id.0, if_match)
            .await
    }

    // ---- clusters ----
    async fn create_cluster(
        &self,
        actor: &Actor,
        project: ProjectId,
        req: &ClusterCreate,
        dns_zone: &str,
        idem: Option<&IdempotencyKey>,
    ) -> Result<Created<Cluster>> {
        let env = Env {
            dns_zone: dns_zone.to_string(),
        };
        Api::new(self.docs())
            .create(actor, project, req, &env, idem)
            .await
    }
    async fn get_cluster(&self, project: ProjectId, id: ClusterId) -> Result<Cluster> {
        Api::new(self.docs()).get(project, id.0).await
    }
    async fn list_clusters(&self, project: ProjectId, page: &PageRequest) -> Result<Page<Cluster>> {
        Api::new(self.docs()).list(project, page).await
    }
    async fn update_cluster(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: ClusterId,
        req: &ClusterUpdate,
        if_match: Option<u64>,
    ) -> Result<Cluster> {
        Api::new(self.docs())
            .update(actor, project, id.0, req, if_match)
            .await
    }
    async fn delete_cluster(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: ClusterId,
        if_match: Option<u64>,
    ) -> Result<Cluster> {
        Api::new(self.docs())
            .delete(actor, project, id.0, if_match)
            .await
    }

    // ---- controller ----
    /// Keys of every resource not in status `deleted` (what a resync visits).
    async fn list_live(&self) -> Result<Vec<ResourceKey>> {
        let live = self.docs().live_docs().await?;
        live.into_iter()
            .map(|(kind, id)| {
                let kind = Kind::from_name(kind).ok_or_else(|| {
                    StoreError::Backend(anyhow::anyhow!("stored resource kind '{kind}' is unknown"))
                })?;
                Ok(ResourceKey { kind, id })
            })
            .collect()
    }
    async fn load(&self, key: ResourceKey) -> Result<Option<Resource>> {
        let docs = self.docs();
        Ok(match key.kind {
            Kind::Network => Api::new(docs).load(key.id).await?.map(Resource::Network),
            Kind::Peering => Api::new(docs).load(key.id).await?.map(Resource::Peering),
            Kind::Cluster => Api::new(docs).load(key.id).await?.map(Resource::Cluster),
            Kind::EndpointService => Api::new(docs)
                .load(key.id)
                .await?
                .map(Resource::EndpointService),
        })
    }
    async fn peerings_of(&self, network: NetworkId) -> Result<Vec<Peering>> {
        Api::new(self.docs()).owned_by(network.0).await
    }
    async fn clusters_of(&self, network: NetworkId) -> Result<Vec<Cluster>> {
        Api::new(self.docs()).owned_by(network.0).await
    }
    /// Writes the controller's view (status, status_message, conditions, observed_generation,
    /// provider ids, node statuses) of `resource`, only if the stored version still equals
    /// `resource`'s version (else `CoreError::VersionMismatch`, and the caller re-reads).
    /// Status moves go through the state machine. Appends an audit event when status changes.
    async fn save_status(&self, actor: &Actor, resource: &Resource) -> Result<Resource> {
        let docs = self.docs();
        Ok(match resource {
            Resource::Network(n) => Resource::Network(Api::new(docs).save_status(actor, n).await?),
            Resource::Peering(p) => Resource::Peering(Api::new(docs).save_status(actor, p).await?),
            Resource::Cluster(c) => Resource::Cluster(Api::new(docs).save_status(actor, c).await?),
            Resource::EndpointService(s) => {
                Resource::EndpointService(Api::new(docs).save_status(actor, s).await?)
            }
        })
    }

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
