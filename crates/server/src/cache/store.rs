//! The store every part of `isthmus serve` writes through: the backend's store, with the
//! caches told synchronously what each write changed, so a read after a write in this
//! process never sees the cache's older answer, and the process's audit feed poked so
//! that every follower hears of the write at once. Writes by other processes reach the
//! caches through the audit feed ([`super::follow`]) and, for the few that log no event,
//! through the caches' one-second freshness.

use std::sync::Arc;

use async_trait::async_trait;
use isthmus_core::lab::{LabHost, LabHostCreate, LabVpc, LabVpcCreate};
use isthmus_core::resources::*;
use isthmus_core::{Id, ProjectId, TokenId};
use isthmus_store::doc::{CreateKey, Doc, DocStore, WriteOp, Written};
use isthmus_store::{Actor, ObjectKey, Page, PageRequest, Result, Store, StoreError};

use super::Caches;
use crate::audit_feed::FeedPoke;

pub struct CachingStore {
    inner: Arc<dyn Store>,
    caches: Arc<Caches>,
    feed: FeedPoke,
}

impl CachingStore {
    pub fn new(inner: Arc<dyn Store>, caches: Arc<Caches>, feed: FeedPoke) -> Self {
        CachingStore {
            inner,
            caches,
            feed,
        }
    }

    /// `result`, after telling the caches that who may do what may have changed.
    fn access<T>(&self, result: Result<T>) -> Result<T> {
        self.caches.access_changed();
        self.feed.poke();
        result
    }

    /// `result`, after telling the caches that the lab (seen by every reachability
    /// snapshot) may have changed.
    fn lab<T>(&self, result: Result<T>) -> Result<T> {
        self.caches.lab_changed();
        self.feed.poke();
        result
    }
}

#[async_trait]
impl DocStore for CachingStore {
    async fn get_doc(&self, kind: &str, id: Id) -> Result<Option<Doc>> {
        self.inner.get_doc(kind, id).await
    }

    async fn list_docs(
        &self,
        kind: &str,
        project: ProjectId,
        page: &PageRequest,
    ) -> Result<Page<Doc>> {
        self.inner.list_docs(kind, project, page).await
    }

    async fn owned_docs(&self, owner: Id, kind: Option<&str>) -> Result<Vec<Doc>> {
        self.inner.owned_docs(owner, kind).await
    }

    async fn live_docs(&self) -> Result<Vec<ObjectKey>> {
        self.inner.live_docs().await
    }

    async fn docs_claiming(
        &self,
        index: &str,
        scope: &str,
        value: u32,
    ) -> Result<Option<Vec<Doc>>> {
        self.inner.docs_claiming(index, scope, value).await
    }

    /// Runs on a task of its own, so the caches hear of a write that commits even when
    /// the caller stops waiting for it.
    async fn write(
        &self,
        actor: &Actor,
        idem: Option<&CreateKey>,
        op: Box<dyn WriteOp>,
    ) -> Result<Written> {
        let (inner, caches, feed) = (self.inner.clone(), self.caches.clone(), self.feed.clone());
        let (actor, idem) = (actor.clone(), idem.cloned());
        tokio::spawn(async move {
            let written = inner.write(&actor, idem.as_ref(), op).await?;
            caches.written(&written.docs);
            feed.poke();
            Ok(written)
        })
        .await
        .map_err(|e| StoreError::Backend(anyhow::Error::new(e).context("run a store write")))?
    }
}

#[async_trait]
impl Store for CachingStore {
    fn docs(&self) -> &dyn DocStore {
        self
    }

    async fn create_project(
        &self,
        actor: &Actor,
        req: &ProjectCreate,
        owner: Option<TokenId>,
    ) -> Result<Project> {
        self.access(self.inner.create_project(actor, req, owner).await)
    }

    async fn get_project(&self, id: ProjectId) -> Result<Project> {
        self.inner.get_project(id).await
    }

    async fn delete_project(&self, actor: &Actor, id: ProjectId) -> Result<Project> {
        self.access(self.inner.delete_project(actor, id).await)
    }

    async fn list_projects(
        &self,
        only: Option<&[ProjectId]>,
        page: &PageRequest,
    ) -> Result<Page<Project>> {
        self.inner.list_projects(only, page).await
    }

    async fn list_live(&self) -> Result<Vec<ObjectKey>> {
        self.inner.list_live().await
    }

    async fn list_events(&self, project: ProjectId, page: &PageRequest) -> Result<Page<Event>> {
        self.inner.list_events(project, page).await
    }

    async fn events_after(&self, after_seq: i64, limit: u32) -> Result<Vec<Event>> {
        self.inner.events_after(after_seq, limit).await
    }

    async fn last_event_seq(&self) -> Result<i64> {
        self.inner.last_event_seq().await
    }

    async fn changes_after(&self, after_seq: i64, limit: u32) -> Result<Vec<Event>> {
        self.inner.changes_after(after_seq, limit).await
    }

    async fn create_token(
        &self,
        actor: &Actor,
        name: &str,
        superuser: bool,
        secret_hash: &str,
        membership: Option<(ProjectId, Role)>,
    ) -> Result<Token> {
        let created = self
            .inner
            .create_token(actor, name, superuser, secret_hash, membership)
            .await;
        self.access(created)
    }

    async fn create_expiring_token(
        &self,
        actor: &Actor,
        name: &str,
        secret_hash: &str,
        membership: (ProjectId, Role),
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Token> {
        let created = self
            .inner
            .create_expiring_token(actor, name, secret_hash, membership, expires_at)
            .await;
        self.access(created)
    }

    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<Token>> {
        self.inner.token_by_hash(secret_hash).await
    }

    async fn get_token(&self, id: TokenId) -> Result<Token> {
        self.inner.get_token(id).await
    }

    async fn list_tokens(&self) -> Result<Vec<Token>> {
        self.inner.list_tokens().await
    }

    async fn project_tokens(&self, project: ProjectId) -> Result<Vec<(Token, Role)>> {
        self.inner.project_tokens(project).await
    }

    async fn revoke_token(&self, actor: &Actor, id: TokenId) -> Result<Token> {
        self.access(self.inner.revoke_token(actor, id).await)
    }

    async fn rotate_token(&self, actor: &Actor, id: TokenId, secret_hash: &str) -> Result<Token> {
        self.access(self.inner.rotate_token(actor, id, secret_hash).await)
    }

    async fn count_tokens(&self) -> Result<u64> {
        self.inner.count_tokens().await
    }

    async fn set_membership(&self, actor: &Actor, m: &Membership) -> Result<()> {
        self.access(self.inner.set_membership(actor, m).await)
    }

    async fn remove_membership(
        &self,
        actor: &Actor,
        project: ProjectId,
        token: TokenId,
    ) -> Result<()> {
        self.access(self.inner.remove_membership(actor, project, token).await)
    }

    async fn memberships_of(&self, token: TokenId) -> Result<Vec<Membership>> {
        self.inner.memberships_of(token).await
    }

    async fn members_of(&self, project: ProjectId) -> Result<Vec<Membership>> {
        self.inner.members_of(project).await
    }

    async fn create_lab_vpc(&self, actor: &Actor, req: &LabVpcCreate) -> Result<LabVpc> {
        self.lab(self.inner.create_lab_vpc(actor, req).await)
    }

    async fn list_lab_vpcs(&self) -> Result<Vec<LabVpc>> {
        self.inner.list_lab_vpcs().await
    }

    async fn get_lab_vpc(&self, name: &str) -> Result<LabVpc> {
        self.inner.get_lab_vpc(name).await
    }

    async fn delete_lab_vpc(&self, actor: &Actor, name: &str) -> Result<LabVpc> {
        self.lab(self.inner.delete_lab_vpc(actor, name).await)
    }

    async fn add_lab_host(&self, actor: &Actor, vpc: &str, req: &LabHostCreate) -> Result<LabHost> {
        self.lab(self.inner.add_lab_host(actor, vpc, req).await)
    }

    async fn delete_lab_host(&self, actor: &Actor, vpc: &str, host: &str) -> Result<LabHost> {
        self.lab(self.inner.delete_lab_host(actor, vpc, host).await)
    }

    async fn list_lab_events(&self, page: &PageRequest) -> Result<Page<Event>> {
        self.inner.list_lab_events(page).await
    }

    async fn list_internet_hosts(&self) -> Result<Vec<LabHost>> {
        self.inner.list_internet_hosts().await
    }

    async fn add_internet_host(&self, actor: &Actor, req: &LabHostCreate) -> Result<LabHost> {
        self.lab(self.inner.add_internet_host(actor, req).await)
    }

    async fn delete_internet_host(&self, actor: &Actor, name: &str) -> Result<LabHost> {
        self.lab(self.inner.delete_internet_host(actor, name).await)
    }

    async fn write_health(&self) -> Result<()> {
        self.inner.write_health().await
    }
}
