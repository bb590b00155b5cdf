//! `Store` for every [`Backend`]: each method delegates to the file of its part (`*_tx`
//! functions write in one transaction, on a task of their own; `*_rd` functions read).
//! Objects of every kind go through the document store (`write.rs`, `docs.rs`).

use async_trait::async_trait;
use isthmus_core::lab::{LabHost, LabHostCreate, LabVpc, LabVpcCreate};
use isthmus_core::resources::*;
use isthmus_core::{ProjectId, TokenId};

use super::{detach, lab, lab_internet, project_delete, projects, tokens, Backend};
use crate::doc::DocStore;
use crate::{Actor, Page, PageRequest, Result, Store};

#[async_trait]
impl<B: Backend> Store for B {
    fn docs(&self) -> &dyn DocStore {
        self
    }

    async fn create_project(
        &self,
        actor: &Actor,
        req: &ProjectCreate,
        owner: Option<TokenId>,
    ) -> Result<Project> {
        let store = self.clone();
        let actor = actor.clone();
        let req = req.clone();
        detach(async move { projects::create_project_tx(&store, &actor, &req, owner).await }).await
    }
    async fn get_project(&self, id: ProjectId) -> Result<Project> {
        projects::get_project_rd(self, id).await
    }
    async fn delete_project(&self, actor: &Actor, id: ProjectId) -> Result<Project> {
        let store = self.clone();
        let actor = actor.clone();
        detach(async move { project_delete::delete_project_tx(&store, &actor, id).await }).await
    }
    async fn list_projects(
        &self,
        only: Option<&[ProjectId]>,
        page: &PageRequest,
    ) -> Result<Page<Project>> {
        projects::list_projects_rd(self, only, page).await
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
    async fn changes_after(&self, after_seq: i64, limit: u32) -> Result<Vec<Event>> {
        super::audit::changes_after(&mut *self.read().await?, after_seq, limit).await
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
            tokens::create_token_tx(
                &store,
                &actor,
                &name,
                superuser,
                &secret_hash,
                membership,
                None,
            )
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
            tokens::create_token_tx(
                &store,
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
        tokens::token_by_hash_rd(self, secret_hash).await
    }
    async fn get_token(&self, id: TokenId) -> Result<Token> {
        tokens::get_token_rd(self, id).await
    }
    async fn list_tokens(&self) -> Result<Vec<Token>> {
        tokens::list_tokens_rd(self).await
    }
    async fn project_tokens(&self, project: ProjectId) -> Result<Vec<(Token, Role)>> {
        tokens::project_tokens_rd(self, project).await
    }
    async fn revoke_token(&self, actor: &Actor, id: TokenId) -> Result<Token> {
        let store = self.clone();
        let actor = actor.clone();
        detach(async move { tokens::revoke_token_tx(&store, &actor, id).await }).await
    }
    async fn rotate_token(&self, actor: &Actor, id: TokenId, secret_hash: &str) -> Result<Token> {
        let store = self.clone();
        let actor = actor.clone();
        let secret_hash = secret_hash.to_string();
        detach(async move { tokens::rotate_token_tx(&store, &actor, id, &secret_hash).await }).await
    }
    async fn count_tokens(&self) -> Result<u64> {
        tokens::count_tokens_rd(self).await
    }
    async fn set_membership(&self, actor: &Actor, m: &Membership) -> Result<()> {
        let store = self.clone();
        let actor = actor.clone();
        let m = m.clone();
        detach(async move { tokens::set_membership_tx(&store, &actor, &m).await }).await
    }
    async fn remove_membership(
        &self,
        actor: &Actor,
        project: ProjectId,
        token: TokenId,
    ) -> Result<()> {
        let store = self.clone();
        let actor = actor.clone();
        detach(async move { tokens::remove_membership_tx(&store, &actor, project, token).await })
            .await
    }
    async fn memberships_of(&self, token: TokenId) -> Result<Vec<Membership>> {
        tokens::memberships_of_rd(self, token).await
    }
    async fn members_of(&self, project: ProjectId) -> Result<Vec<Membership>> {
        tokens::members_of_rd(self, project).await
    }

    async fn create_lab_vpc(&self, actor: &Actor, req: &LabVpcCreate) -> Result<LabVpc> {
        let store = self.clone();
        let actor = actor.clone();
        let req = req.clone();
        detach(async move { lab::create_lab_vpc_tx(&store, &actor, &req).await }).await
    }
    async fn list_lab_vpcs(&self) -> Result<Vec<LabVpc>> {
        lab::list_lab_vpcs_rd(self).await
    }
    async fn get_lab_vpc(&self, name: &str) -> Result<LabVpc> {
        lab::get_lab_vpc_rd(self, name).await
    }
    async fn delete_lab_vpc(&self, actor: &Actor, name: &str) -> Result<LabVpc> {
        let store = self.clone();
        let actor = actor.clone();
        let name = name.to_string();
        detach(async move { lab::delete_lab_vpc_tx(&store, &actor, &name).await }).await
    }
    async fn add_lab_host(&self, actor: &Actor, vpc: &str, req: &LabHostCreate) -> Result<LabHost> {
        let store = self.clone();
        let actor = actor.clone();
        let vpc = vpc.to_string();
        let req = req.clone();
        detach(async move { lab::add_lab_host_tx(&store, &actor, &vpc, &req).await }).await
    }
    async fn delete_lab_host(&self, actor: &Actor, vpc: &str, host: &str) -> Result<LabHost> {
        let store = self.clone();
        let actor = actor.clone();
        let vpc = vpc.to_string();
        let host = host.to_string();
        detach(async move { lab::delete_lab_host_tx(&store, &actor, &vpc, &host).await }).await
    }
    async fn list_lab_events(&self, page: &PageRequest) -> Result<Page<Event>> {
        lab::list_lab_events_rd(self, page).await
    }
    async fn list_internet_hosts(&self) -> Result<Vec<LabHost>> {
        lab_internet::list_internet_hosts_rd(self).await
    }
    async fn add_internet_host(&self, actor: &Actor, req: &LabHostCreate) -> Result<LabHost> {
        let store = self.clone();
        let actor = actor.clone();
        let req = req.clone();
        detach(async move { lab_internet::add_internet_host_tx(&store, &actor, &req).await }).await
    }
    async fn delete_internet_host(&self, actor: &Actor, name: &str) -> Result<LabHost> {
        let store = self.clone();
        let actor = actor.clone();
        let name = name.to_string();
        detach(async move { lab_internet::delete_internet_host_tx(&store, &actor, &name).await })
            .await
    }

    async fn write_health(&self) -> Result<()> {
        let store = self.clone();
        detach(async move { Backend::write_health(&store).await }).await
    }
}
