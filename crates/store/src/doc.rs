//! The document store: the small, kind-agnostic port a backend implements (SQLite today,
//! PostgreSQL later), and the typed facade [`Api`](crate::api::Api) every caller uses.
//!
//! An object is stored as a [`Doc`]: its JSON body plus the columns the store indexes
//! (kind, project, owner, status, version). A write runs a [`WriteOp`] inside one
//! transaction: the op reads what its kind's admission rules need through [`Tx`] and
//! returns the documents to put; the backend checks versions, keeps the index claims and
//! appends the audit events in that same transaction.
//!
//! INTERFACE DRAFT (lead): the store engineer implements and may refine it; keep it
//! object-safe and small.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use isthmus_core::object::IndexEntry;
use isthmus_core::{Id, ProjectId};

use crate::{Actor, IdempotencyKey, Page, PageRequest, Result};

/// One stored object, kind-erased.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    pub kind: &'static str,
    pub id: Id,
    pub project_id: ProjectId,
    pub owner_id: Option<Id>,
    pub status: String,
    /// Whether deleting the owner is refused while this doc is live (`block`) or takes
    /// it down (`cascade`), from the kind's declaration.
    pub on_owner_delete: Option<isthmus_core::object::OnOwnerDelete>,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub index: Vec<IndexEntry>,
    /// The whole object as JSON.
    pub body: String,
}

/// Which docs a list returns.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub kind: &'static str,
    pub project: Option<ProjectId>,
    pub owner: Option<Id>,
    pub page: PageRequest,
}

/// A document to write, and what the audit log says about it.
#[derive(Debug, Clone)]
pub struct Put {
    /// The stored version this write replaces (`None`: a new doc). A mismatch fails the
    /// whole write with `VersionMismatch`.
    pub expected_version: Option<u64>,
    pub doc: Doc,
    /// `create`, `update`, `delete`, `status`; `None` writes no event.
    pub action: Option<&'static str>,
    /// The body before, for the event.
    pub before: Option<String>,
}

/// Reads inside the write transaction: what admission rules are checked against is
/// what the write lands on.
#[async_trait]
pub trait Tx: Send {
    async fn get(&mut self, kind: &'static str, id: Id) -> Result<Option<Doc>>;
    /// Live docs owned by `owner`, of `kind` (or every kind when `None`), by id.
    async fn owned(&mut self, owner: Id, kind: Option<&'static str>) -> Result<Vec<Doc>>;
    /// Live docs with a claim in `index`/`scope` that meets `start..=end`.
    async fn claims_meeting(
        &mut self,
        index: &'static str,
        scope: &str,
        start: u32,
        end: u32,
    ) -> Result<Vec<Doc>>;
}

/// The body of one write transaction.
#[async_trait]
pub trait WriteOp: Send {
    async fn run(&mut self, tx: &mut dyn Tx) -> Result<Vec<Put>>;
}

/// The backend port.
#[async_trait]
pub trait DocStore: Send + Sync + 'static {
    async fn get_doc(&self, kind: &'static str, id: Id) -> Result<Option<Doc>>;
    async fn list_docs(&self, query: &ListQuery) -> Result<Page<Doc>>;
    /// Kinds and ids of every doc not `deleted` (what a resync visits).
    async fn live_docs(&self) -> Result<Vec<(String, Id)>>;
    /// Runs `op` in one transaction and writes what it returns. With `idem`, a key
    /// already used returns the doc it created then, without running `op`.
    async fn write(
        &self,
        actor: &Actor,
        idem: Option<&IdempotencyKey>,
        op: &mut dyn WriteOp,
    ) -> Result<Written>;
}

/// What a write stored, or the replay of an earlier create with the same key.
#[derive(Debug, Clone)]
pub enum Written {
    Docs(Vec<Doc>),
    Replayed(Doc),
}
