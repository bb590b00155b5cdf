//! `Store` for `SqliteStore`: each method delegates to the file of its resource
//! (`*_tx` methods write in one transaction, `*_rd` methods read).

use async_trait::async_trait;
use isthmus_core::lab::{LabHost, LabHostCreate, LabVpc, LabVpcCreate};
use isthmus_core::resources::*;
use isthmus_core::{ClusterId, NetworkId, PeeringId, ProjectId, TokenId};

use super::SqliteStore;
use crate::{
    Actor, Created, IdempotencyKey, Page, PageRequest, Resource, ResourceKey, Result, Store,
};

#[async_trait]
impl Store for SqliteStore {
    async fn create_project(
        &self,
        actor: &Actor,
        req: &ProjectCreate,
        owner: Option<TokenId>,
    ) -> Result<Project> {
        self.create_project_tx(actor, req, owner).await
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
        self.create_network_tx(actor, project, req, idem).await
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
        self.update_network_tx(actor, project, id, req, if_match)
            .await
    }
    async fn delete_network(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: NetworkId,
        if_match: Option<u64>,
    ) -> Result<Network> {
        self.delete_network_tx(actor, project, id, if_match).await
    }

    async fn create_peering(
        &self,
        actor: &Actor,
        project: ProjectId,
        req: &PeeringCreate,
        idem: Option<&IdempotencyKey>,
    ) -> Result<Created<Peering>> {
        self.create_peering_tx(actor, project, req, idem).await
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
        self.update_peering_tx(actor, project, id, req, if_match)
            .await
    }
    async fn delete_peering(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: PeeringId,
        if_match: Option<u64>,
    ) -> Result<Peering> {
        self.delete_peering_tx(actor, project, id, if_match).await
    }

    async fn create_cluster(
        &self,
        actor: &Actor,
        project: ProjectId,
        req: &ClusterCreate,
        dns_zone: &str,
        idem: Option<&IdempotencyKey>,
    ) -> Result<Created<Cluster>> {
        self.create_cluster_tx(actor, project, req, dns_zone, idem)
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
        self.update_cluster_tx(actor, project, id, req, if_match)
            .await
    }
    async fn delete_cluster(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: ClusterId,
        if_match: Option<u64>,
    ) -> Result<Cluster> {
        self.delete_cluster_tx(actor, project, id, if_match).await
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
        self.save_status_tx(actor, resource).await
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
        self.create_token_tx(actor, name, superuser, secret_hash, membership)
            .await
    }
    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<Token>> {
        self.token_by_hash_rd(secret_hash).await
    }
    async fn count_tokens(&self) -> Result<u64> {
        self.count_tokens_rd().await
    }
    async fn set_membership(&self, actor: &Actor, m: &Membership) -> Result<()> {
        self.set_membership_tx(actor, m).await
    }
    async fn remove_membership(
        &self,
        actor: &Actor,
        project: ProjectId,
        token: TokenId,
    ) -> Result<()> {
        self.remove_membership_tx(actor, project, token).await
    }
    async fn memberships_of(&self, token: TokenId) -> Result<Vec<Membership>> {
        self.memberships_of_rd(token).await
    }
    async fn members_of(&self, project: ProjectId) -> Result<Vec<Membership>> {
        self.members_of_rd(project).await
    }

    async fn create_lab_vpc(&self, actor: &Actor, req: &LabVpcCreate) -> Result<LabVpc> {
        self.create_lab_vpc_tx(actor, req).await
    }
    async fn list_lab_vpcs(&self) -> Result<Vec<LabVpc>> {
        self.list_lab_vpcs_rd().await
    }
    async fn get_lab_vpc(&self, name: &str) -> Result<LabVpc> {
        self.get_lab_vpc_rd(name).await
    }
    async fn delete_lab_vpc(&self, actor: &Actor, name: &str) -> Result<LabVpc> {
        self.delete_lab_vpc_tx(actor, name).await
    }
    async fn add_lab_host(&self, actor: &Actor, vpc: &str, req: &LabHostCreate) -> Result<LabHost> {
        self.add_lab_host_tx(actor, vpc, req).await
    }
    async fn delete_lab_host(&self, actor: &Actor, vpc: &str, host: &str) -> Result<LabHost> {
        self.delete_lab_host_tx(actor, vpc, host).await
    }
    async fn list_lab_events(&self, page: &PageRequest) -> Result<Page<Event>> {
        self.list_lab_events_rd(page).await
    }
}
