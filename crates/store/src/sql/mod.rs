//! The one query layer of both backends: every table's statements, the write path of
//! objects, and [`Store`](crate::Store) and [`DocStore`](crate::doc::DocStore) for any
//! [`Backend`]. The statements are written once, in the SQL SQLite and PostgreSQL share
//! (`$n` parameters, times and ids as text); a backend supplies only what truly differs:
//! its connections, how a write transaction serialises writers (SQLite's `BEGIN
//! IMMEDIATE` on its one writer connection, PostgreSQL's advisory lock), and the few
//! hooks of [`Backend`] (savepoints, the overlap constraint's 409, the controller's fence).

pub(crate) mod audit;
pub(crate) mod codec;
pub(crate) mod docs;
mod idempotency;
mod lab;
mod lab_internet;
mod project_delete;
mod projects;
pub(crate) mod query;
mod store_impl;
mod tokens;
pub(crate) mod write;

use std::ops::DerefMut;

use async_trait::async_trait;

use crate::doc::{CreateKey, Doc, WriteOp, Written};
use crate::{Actor, Result, StoreError};
pub(crate) use query::Conn;

/// What a backend supplies to the shared query layer. Implementing it gives the backend
/// [`Store`](crate::Store) and [`DocStore`](crate::doc::DocStore).
#[async_trait]
pub(crate) trait Backend: Clone + Send + Sync + 'static {
    /// The backend's connection (`SqliteConnection`, `PgConnection`).
    type Conn: Conn;
    /// The connection reads run on (SQLite's own handle, PostgreSQL's pooled connection).
    type ReadConn: Conn;
    /// A pooled connection for reads.
    type Read: DerefMut<Target = Self::ReadConn> + Send;
    /// The one write transaction of a mutation, already holding the backend's write lock.
    type Write: DerefMut<Target = Self::Conn> + Commit + Send;

    /// A failed statement aborts the whole transaction (PostgreSQL): a statement that
    /// may fail on purpose (a unique claim, a network insert) runs in a savepoint.
    const SAVEPOINTS: bool;

    async fn read(&self) -> Result<Self::Read>;
    async fn begin_write(&self) -> Result<Self::Write>;

    /// Inside an object write's transaction, before its op runs: refuses the write when
    /// this store writes for a controller that lost its lease (PostgreSQL's fence).
    async fn check_fence(&self, _tx: &mut Self::Conn) -> Result<()> {
        Ok(())
    }

    /// Whether the database backs a rule with a constraint on inserts of `kind`
    /// (PostgreSQL's network exclusion constraint): such an insert may fail on purpose.
    fn backstops(_kind: &str) -> bool {
        false
    }

    /// The rule's own error for `doc`, refused by a constraint that backs a rule; `None`
    /// for any other failure.
    async fn backstop(_conn: &mut Self::Conn, _e: &sqlx::Error, _doc: &Doc) -> Option<StoreError> {
        None
    }

    /// Runs an object write: by default in a transaction of its own (see `write.rs`).
    async fn write_docs(
        &self,
        actor: Actor,
        idem: Option<CreateKey>,
        op: Box<dyn WriteOp>,
    ) -> Result<Written> {
        let store = self.clone();
        detach(async move { write::write_tx(&store, &actor, idem.as_ref(), op).await }).await
    }

    /// See [`crate::Store::write_health`].
    async fn write_health(&self) -> Result<()> {
        Ok(())
    }
}

/// Ends a write transaction.
#[async_trait]
pub(crate) trait Commit {
    async fn commit(self) -> std::result::Result<(), sqlx::Error>;
}

/// Runs a write on a task of its own, so it always ends in a commit or a rollback, even
/// when the caller's future is dropped half-way (a client that hangs up, an aborted
/// reconcile). A write cancelled between `BEGIN` and the end of the transaction would
/// leave SQLite's single writer connection inside it, and every later write would fail.
pub(crate) async fn detach<T: Send + 'static>(
    write: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    tokio::spawn(write).await.map_err(|e| {
        StoreError::Backend(anyhow::anyhow!(
            "the write task ended without an answer: {e}"
        ))
    })?
}
