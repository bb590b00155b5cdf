//! The document store: the small, kind-agnostic port a backend implements (SQLite today,
//! PostgreSQL later). Callers use the typed facade [`Api`](crate::api::Api) over it.
//!
//! An object is stored as a [`Doc`]: its JSON body plus the columns the store filters on
//! (kind, project, owner, status, version). A write runs a [`WriteOp`] inside one
//! transaction: the op reads what its kind's admission rules need through [`Tx`] and
//! returns the documents to put; the backend checks their versions, keeps their index
//! claims and appends their audit events in that same transaction, so what a rule was
//! checked against is what the write lands on.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use isthmus_core::object::{IndexEntry, Object, OnOwnerDelete};
use isthmus_core::{Id, ProjectId};
use serde::de::DeserializeOwned;

use crate::{Actor, IdempotencyKey, Page, PageRequest, Result, StoreError};

/// The status text of an object that is gone: every kind's machine ends in it. A
/// `deleted` doc stays as a tombstone but holds no claims and counts for no rule.
pub const DELETED: &str = "deleted";
/// The status text of an object on its way out (every kind's machine has it).
pub const DELETING: &str = "deleting";

/// Which object: its kind's registered name and its id. What the controller queues and
/// the resync lists; a kind the code does not know is still a key (the caller decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// [`KindInfo::name`](isthmus_core::object::KindInfo) of the object's kind.
    pub kind: &'static str,
    pub id: Id,
}

impl ObjectKey {
    /// The key of the object `id` of kind `K`.
    pub fn of<K: Object>(id: Id) -> ObjectKey {
        ObjectKey {
            kind: K::INFO.name,
            id,
        }
    }
}

/// One stored object, kind-erased.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    /// The kind's name (`network`), as in [`KindInfo::name`](isthmus_core::object::KindInfo).
    pub kind: &'static str,
    /// The kind's collection name (`networks`): how an owner's 409 names this doc's kind.
    ///
    /// This and the policy in `owner` derive from the kind (`KindInfo`), yet are stored
    /// on every row (columns `plural`, `on_owner_delete`): the store knows no kinds (the
    /// registry lives in the server), and an owner's delete must treat its children,
    /// of whatever kind, without decoding them. They are rewritten from `K::INFO` at
    /// every put, so a kind that changes its declaration sees old rows follow at their
    /// next write, not before.
    pub plural: &'static str,
    pub id: Id,
    pub project_id: ProjectId,
    /// The object this one lives in, and what that object's deletion does to this one.
    pub owner: Option<(Id, OnOwnerDelete)>,
    pub status: String,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    /// The whole object as JSON.
    pub body: String,
}

impl Doc {
    /// Still counts: not `deleted`.
    pub fn is_live(&self) -> bool {
        self.status != DELETED
    }

    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            kind: self.kind,
            id: self.id,
        }
    }

    pub fn decode<K: DeserializeOwned>(&self) -> Result<K> {
        serde_json::from_str(&self.body).map_err(|e| {
            StoreError::Backend(
                anyhow::Error::new(e).context(format!("decode stored {} {}", self.kind, self.id)),
            )
        })
    }
}

/// A document to write, and what the audit log says about it.
#[derive(Debug, Clone)]
pub struct Put {
    /// The stored version this write replaces (`None`: a new doc). The doc's own
    /// `version` is the next one. A stored version other than this one fails the whole
    /// write with `VersionMismatch`.
    pub expected_version: Option<u64>,
    pub doc: Doc,
    /// The claims the doc holds from now on, replacing its earlier ones; `None` keeps
    /// them (they did not change, or the write does not know the doc's kind). A
    /// `deleted` doc holds none, whatever this says.
    pub index: Option<Vec<IndexEntry>>,
    /// `create`, `update`, `delete`, `status`: logged as `<kind>.<action>` with the body
    /// before and after. `None` writes no event.
    pub action: Option<&'static str>,
    /// The body before, for the event.
    pub before: Option<String>,
    /// When: the event's time (the object's `updated_at`).
    pub at: DateTime<Utc>,
}

/// What a write op decided.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Write these docs, in order; the first is the write's answer.
    Put(Vec<Put>),
    /// Write nothing: the doc stays as it is (e.g. deleting what is already going away).
    Unchanged(Doc),
}

/// What a write stored: the docs as written (the first is the answer), or the doc an
/// earlier create with the same idempotency key made.
#[derive(Debug, Clone)]
pub struct Written {
    pub docs: Vec<Doc>,
    pub replayed: bool,
}

/// An `Idempotency-Key` on a create of `kind` in `project`: a key already used returns
/// the doc it created then (the same key for another kind or project is a mismatch).
#[derive(Debug, Clone)]
pub struct CreateKey {
    pub key: IdempotencyKey,
    pub kind: &'static str,
    pub project: ProjectId,
}

/// A claim met by a query on the index, with the doc that holds it (one per claim).
#[derive(Debug, Clone)]
pub struct Claim {
    pub start: u32,
    pub end: u32,
    pub doc: Doc,
}

/// Reads inside the write transaction: what admission rules are checked against is
/// what the write lands on.
#[async_trait]
pub trait Tx: Send {
    async fn project_exists(&mut self, project: ProjectId) -> Result<bool>;
    async fn get(&mut self, kind: &str, id: Id) -> Result<Option<Doc>>;
    /// Live docs owned by `owner`, of `kind` (or of every kind), by id.
    async fn owned(&mut self, owner: Id, kind: Option<&str>) -> Result<Vec<Doc>>;
    /// Claims in `index`/`scope` that share a value with `start..=end`, by doc id.
    async fn claims_meeting(
        &mut self,
        index: &str,
        scope: &str,
        start: u32,
        end: u32,
    ) -> Result<Vec<Claim>>;
}

/// The body of one write transaction. Owned (`'static`): a backend may run it on a task
/// of its own, so a caller that goes away never leaves a transaction half-done.
#[async_trait]
pub trait WriteOp: Send + 'static {
    async fn run(&mut self, tx: &mut dyn Tx) -> Result<Plan>;
}

/// The backend port.
#[async_trait]
pub trait DocStore: Send + Sync + 'static {
    async fn get_doc(&self, kind: &str, id: Id) -> Result<Option<Doc>>;
    /// One page of `project`'s docs of `kind`, in id (= creation) order.
    async fn list_docs(
        &self,
        kind: &str,
        project: ProjectId,
        page: &PageRequest,
    ) -> Result<Page<Doc>>;
    /// Live docs owned by `owner`, of `kind` (or of every kind), by id.
    async fn owned_docs(&self, owner: Id, kind: Option<&str>) -> Result<Vec<Doc>>;
    /// Kinds and ids of every live doc, by id (what a resync visits).
    async fn live_docs(&self) -> Result<Vec<ObjectKey>>;
    /// The live docs holding a claim in `index`/`scope` that contains `value`: an index
    /// read (a lookup by name reads the few docs whose name hashes alike, not every doc
    /// of the kind). `None`: this store does not answer it, and the caller scans.
    async fn docs_claiming(
        &self,
        _index: &str,
        _scope: &str,
        _value: u32,
    ) -> Result<Option<Vec<Doc>>> {
        Ok(None)
    }
    /// Runs `op` in one transaction and writes what it plans. With `idem`, a key already
    /// used returns the doc it created then, without running `op`.
    async fn write(
        &self,
        actor: &Actor,
        idem: Option<&CreateKey>,
        op: Box<dyn WriteOp>,
    ) -> Result<Written>;
}

/// The `&'static` name of a kind read back from storage. Kinds are few and fixed, so
/// each distinct name is allocated once for the process's life.
pub fn kind_name(text: &str) -> &'static str {
    static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = names.iter().find(|n| **n == text) {
        return known;
    }
    let name: &'static str = Box::leak(text.to_string().into_boxed_str());
    names.push(name);
    name
}
