//! `Store` for `SqliteStore`: each method delegates to the file of its resource
//! (`*_tx` methods write in one transaction, `*_rd` methods read).

use async_trait::async_trait;
use isthmus_core::lab::{LabHost, LabHostCreate, LabVpc, LabVpcCreate};
use isthmus_core::resources::*;
use isthmus_core::{ClusterId, NetworkId, PeeringId, ProjectId, TokenId};

use super::SqliteStore;
use crate::{
    Actor, Created, IdempotencyKey, Page, PageRequest, Resource, ResourceKey, Result, Store,
    StoreError,
};

/// Runs a write on a task of its own, so it always ends in a commit or a rollback, even
/// when the caller's future is dropped half-way (a client that hangs up, an aborted
/// reconcile). A write cancelled between `BEGIN` and the end of the transaction would
/// leave the single writer connection inside it, and every later write would fail.
async fn detach<T: Send + 'static>(
    write: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    tokio::spawn(write).await.map_err(|e| {
        StoreError::Backend(anyhow::anyhow!(
            "the write task ended without an answer: {e}"
        ))
    })?
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_project(
        &self,
        actor: &Actor,
        req: &ProjectCreate,
        owner: Option<TokenId>,
    ) -> Result<Project> {
        let store = self.clone();
        let actor = actor.clone();
        let req = req.clone();
        detach(async move { store.create_project_tx(&actor, &req, owner).await }).await
    }
    async fn get_project(&self, id: ProjectId) -> Result<Project> {
        self.get_project_rd(id).await
    }
    async fn list_projects(
        &self,
        only: Option<&[ProjectId]>,
        page: &PageRequest,
    ) -> Result<Page<Project>> {
        self.list_projects_rd(only, page).await
    }

    async fn create_network(
        &self,
        actor: &Actor,
        project: ProjectId,
        req: &NetworkCreate,
        idem: Option<&IdempotencyKey>,
    ) -> Result<Created<Network>> {
        let store = self.clone();
        let actor = actor.clone();
        let req = req.clone();
        let idem = idem.cloned();
        detach(async move {
            store
                .create_network_tx(&actor, project, &req, idem.as_ref())
                .await
        })
        .await
    }
    async fn get_network(&self, project: ProjectId, id: NetworkId) -> Result<Network> {
        self.get_network_rd(project, id).await
    }
    async fn list_networks(&self, project: ProjectId, page: &PageRequest) -> Result<Page<Network>> {
        self.list_networks_rd(project, page).await
    }
    async fn update_network(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: NetworkId,
        req: &NetworkUpdate,
        if_match: Option<u64>,
    ) -> Result<Network> {
        let store = self.clone();
        let actor = actor.clone();
        let req = req.clone();
        detach(async move {
            store
                .update_network_tx(&actor, project, id, &req, if_match)
                .await
        })
        .await
    }
    async fn delete_network(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: NetworkId,
        if_match: Option<u64>,
    ) -> Result<Network> {
        let store = self.clone();
        let actor = actor.clone();
        detach(async move { store.delete_network_tx(&actor, project, id, if_match).await }).await
    }

    async fn create_peering(
        &self,
        actor: &Actor,
        project: ProjectId,
        req: &PeeringCreate,
        idem: Option<&IdempotencyKey>,
    ) -> Result<Created<Peering>> {
        let store = self.clone();
        let actor = actor.clone();
        let req = req.clone();
        let idem = idem.cloned();
        detach(async move {
            store
                .create_peering_tx(&actor, project, &req, idem.as_ref())
                .await
        })
        .await
    }
    async fn get_peering(&self, project: ProjectId, id: PeeringId) -> Result<Peering> {
        self.get_peering_rd(project, id).await
    }
    async fn list_peerings(&self, project: ProjectId, page: &PageRequest) -> Result<Page<Peering>> {
        self.list_peerings_rd(project, page).await
    }
    async fn update_peering(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: PeeringId,
        req: &PeeringUpdate,
        if_match: Option<u64>,
    ) -> Result<Peering> {
        let store = self.clone();
        let actor = actor.clone();
        let req = req.clone();
        detach(async move {
            store
                .update_peering_tx(&actor, project, id, &req, if_match)
                .await
        })
        .await
    }
    async fn delete_peering(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: PeeringId,
        if_match: Option<u64>,
    ) -> Result<Peering> {
        let store = self.clone();
        let actor = actor.clone();
        detach(async move { store.delete_peering_tx(&actor, project, id, if_match).await }).await
    }

    async fn create_cluster(
        &self,
        actor: &Actor,
        project: ProjectId,
        req: &ClusterCreate,
        dns_zone: &str,
        idem: Option<&IdempotencyKey>,
    ) -> Result<Created<Cluster>> {
        let store = self.clone();
        let actor = actor.clone();
        let req = req.clone();
        let dns_zone = dns_zone.to_string();
        let idem = idem.cloned();
        detach(async move {
            store
                .create_cluster_tx(&actor, project, &req, &dns_zone, idem.as_ref())
                .await
        })
        .await
    }
    async fn get_cluster(&self, project: ProjectId, id: ClusterId) -> Result<Cluster> {
        self.get_cluster_rd(project, id).await
    }
    async fn list_clusters(&self, project: ProjectId, page: &PageRequest) -> Result<Page<Cluster>> {
        self.list_clusters_rd(project, page).await
    }
    async fn update_cluster(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: ClusterId,
        req: &ClusterUpdate,
        if_match: Option<u64>,
    ) -> Result<Cluster> {
        let store = self.clone();
        let actor = actor.clone();
        let req = req.clone();
        detach(async move {
            store
                .update_cluster_tx(&actor, project, id, &req, if_match)
                .await
        })
        .await
    }
    async fn delete_cluster(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: ClusterId,
        if_match: Option<u64>,
    ) -> Result<Cluster> {
        let store = self.clone();
        let actor = actor.clone();
        detach(async move { store.delete_cluster_tx(&actor, project, id, if_match).await }).await
    }

    async fn list_live(&self) -> Result<Vec<ResourceKey>> {
        self.list_live_rd().await
    }
    async fn load(&self, key: ResourceKey) -> Result<Option<Resource>> {
        self.load_rd(key).await
    }
    async fn peerings_of(&self, network: NetworkId) -> Result<Vec<Peering>> {
        self.peerings_of_rd(network).await
    }
    async fn clusters_of(&self, network: NetworkId) -> Result<Vec<Cluster>> {
        self.clusters_of_rd(network).await
    }
    async fn save_status(&self, actor: &Actor, resource: &Resource) -> Result<Resource> {
        let store = self.clone();
        let actor = actor.clone();
        let resource = resource.clone();
        detach(async move { store.save_status_tx(&actor, &resource).await }).await
    }

    async fn list_events(&self, project: ProjectId, page: &PageRequest) -> Result<Page<Event>> {
        super::audit::page(&mut *self.read().await?, project, page).await
    }
    async fn events_after(&self, after_seq: i64, limit: u32) -> Result<Vec<Event>> {
        super::audit::after(&mut *self.read().await?, after_seq, limit).await
    }
    async fn last_event_seq(&self) -> Result<i64> {
        super::audit::last_seq(&mut *self.read().await?).await
    }

    async fn create_token(
        &self,
        actor: &Actor,
        name: &str,
        superuser: bool,
        secret_hash: &str,
        membership: Option<(ProjectId, Role)>,
    ) -> Result<Token> {
        let store = self.clone();
        let actor = actor.clone();
        let name = name.to_string();
        let secret_hash = secret_hash.to_string();
        detach(async move {
            store
                .create_token_tx(&actor, &name, superuser, &secret_hash, membership, None)
                .await
        })
        .await
    }
    async fn create_expiring_token(
        &self,
        actor: &Actor,
        name: &str,
        secret_hash: &str,
        membership: (ProjectId, Role),
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Token> {
        let store = self.clone();
        let actor = actor.clone();
        let name = name.to_string();
        let secret_hash = secret_hash.to_string();
        detach(async move {
            store
                .create_token_tx(
                    &actor,
                    &name,
                    false,
                    &secret_hash,
                    Some(membership),
                    Some(expires_at),
                )
                .await
        })
        .await
    }
    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<Token>> {
        self.token_by_hash_rd(secret_hash).await
    }
    async fn get_token(&self, id: TokenId) -> Result<Token> {
        self.get_token_rd(id).await
    }
    async fn list_tokens(&self) -> Result<Vec<Token>> {
        self.list_tokens_rd().await
    }
    async fn project_tokens(&self, project: ProjectId) -> Result<Vec<(Token, Role)>> {
        self.project_tokens_rd(project).await
    }
    async fn revoke_token(&self, actor: &Actor, id: TokenId) -> Result<Token> {
        let store = self.clone();
        let actor = actor.clone();
        detach(async move { store.revoke_token_tx(&actor, id).await }).await
    }
    async fn rotate_token(&self, actor: &Actor, id: TokenId, secret_hash: &str) -> Result<Token> {
        let store = self.clone();
        let actor = actor.clone();
        let secret_hash = secret_hash.to_string();
        detach(async move { store.rotate_token_tx(&actor, id, &secret_hash).await }).await
    }
    async fn count_tokens(&self) -> Result<u64> {
        self.count_tokens_rd().await
    }
    async fn set_membership(&self, actor: &Actor, m: &Membership) -> Result<()> {
        let store = self.clone();
        let actor = actor.clone();
        let m = m.clone();
        detach(async move { store.set_membership_tx(&actor, &m).await }).await
    }
    async fn remove_membership(
        &self,
        actor: &Actor,
        project: ProjectId,
        token: TokenId,
    ) -> Result<()> {
        let store = self.clone();
        let actor = actor.clone();
        detach(async move { store.remove_membership_tx(&actor, project, token).await }).await
    }
    async fn memberships_of(&self, token: TokenId) -> Result<Vec<Membership>> {
        self.memberships_of_rd(token).await
    }
    async fn members_of(&self, project: ProjectId) -> Result<Vec<Membership>> {
        self.members_of_rd(project).await
    }

    async fn create_lab_vpc(&self, actor: &Actor, req: &LabVpcCreate) -> Result<LabVpc> {
        let store = self.clone();
        let actor = actor.clone();
        let req = req.clone();
        detach(async move { store.create_lab_vpc_tx(&actor, &req).await }).await
    }
    async fn list_lab_vpcs(&self) -> Result<Vec<LabVpc>> {
        self.list_lab_vpcs_rd().await
    }
    async fn get_lab_vpc(&self, name: &str) -> Result<LabVpc> {
        self.get_lab_vpc_rd(name).await
    }
    async fn delete_lab_vpc(&self, actor: &Actor, name: &str) -> Result<LabVpc> {
        let store = self.clone();
        let actor = actor.clone();
        let name = name.to_string();
        detach(async move { store.delete_lab_vpc_tx(&actor, &name).await }).await
    }
    async fn add_lab_host(&self, actor: &Actor, vpc: &str, req: &LabHostCreate) -> Result<LabHost> {
        let store = self.clone();
        let actor = actor.clone();
        let vpc = vpc.to_string();
        let req = req.clone();
        detach(async move { store.add_lab_host_tx(&actor, &vpc, &req).await }).await
    }
    async fn delete_lab_host(&self, actor: &Actor, vpc: &str, host: &str) -> Result<LabHost> {
        let store = self.clone();
        let actor = actor.clone();
        let vpc = vpc.to_string();
        let host = host.to_string();
        detach(async move { store.delete_lab_host_tx(&actor, &vpc, &host).await }).await
    }
    async fn list_lab_events(&self, page: &PageRequest) -> Result<Page<Event>> {
        self.list_lab_events_rd(page).await
    }
    async fn list_internet_hosts(&self) -> Result<Vec<LabHost>> {
        self.list_internet_hosts_rd().await
    }
    async fn add_internet_host(&self, actor: &Actor, req: &LabHostCreate) -> Result<LabHost> {
        let store = self.clone();
        let actor = actor.clone();
        let req = req.clone();
        detach(async move { store.add_internet_host_tx(&actor, &req).await }).await
    }
    async fn delete_internet_host(&self, actor: &Actor, name: &str) -> Result<LabHost> {
        let store = self.clone();
        let actor = actor.clone();
        let name = name.to_string();
        detach(async move { store.delete_internet_host_tx(&actor, &name).await }).await
    }

    async fn write_health(&self) -> Result<()> {
        let store = self.clone();
        detach(async move { store.write_health_probe().await }).await
    }
}
