//! Isthmus state. [`Store`] is the port every caller uses; objects of every kind live in
//! its document store ([`doc`], typed by [`api::Api`], each kind's admission context in
//! `kinds`); `sqlite` is the embedded default backend, `postgres` the one several
//! replicas share. Every mutating call validates
//! (with the core's rules) and writes in one transaction, and appends to the audit log in
//! that same transaction.

use isthmus_core::{CoreError, TokenId};

pub mod api;
pub mod copy;
pub mod doc;
pub mod ids;
mod kinds;
pub mod postgres;
pub mod sim_log;
mod sql;
pub mod sqlite;
mod store;
pub mod testing;

pub use doc::ObjectKey;
pub use kinds::cluster_move::{cancel_cluster_move, save_cluster_move_step, start_cluster_move};
pub use kinds::node_replace::replace_node;
pub use kinds::vpn::record_config_download;
pub use store::Store;

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
