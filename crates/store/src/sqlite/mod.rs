//! The embedded SQLite backend.
//!
//! Correctness under concurrency comes from one rule: every mutation runs in a single
//! `BEGIN IMMEDIATE` transaction on the writer pool, which holds exactly one connection.
//! Writers are therefore serialized in-process (and, through SQLite's write lock, across
//! processes), so the snapshot a rule validates against is the snapshot the write lands
//! on. Reads go through a separate read-only pool and see the last committed state (WAL).

mod checkpoint;
mod group;
mod legacy;
pub(crate) mod raw;
pub(crate) mod readers;

pub(crate) use raw::RawError;

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, Sqlite, Transaction};

use async_trait::async_trait;

use crate::doc::{CreateKey, WriteOp, Written};
use crate::sql::codec::{self, Ctx};
use crate::sql::{Backend, Commit};
use crate::{Actor, Result, StoreError, Unavailability};

/// How long a connection waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for the (single) writer connection; generous, since writers queue.
const WRITER_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(60);

/// The SQLite implementation of [`crate::Store`].
#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: readers::Readers,
    health: Arc<WriteHealth>,
    /// Object writes, committed in groups (see `group.rs`).
    group: Arc<group::GroupCommit>,
    /// Copies the WAL into the database file, off the writer (see `checkpoint.rs`).
    checkpoint: Arc<checkpoint::Checkpointer>,
}

/// Whether the last write could be stored: set when a write fails for a storage reason
/// (disk full, I/O error), cleared when a write commits.
#[derive(Default)]
struct WriteHealth {
    failure: Mutex<Option<String>>,
    /// One probe at a time; callers that find one running report the last failure.
    probe: tokio::sync::Mutex<()>,
}

impl WriteHealth {
    fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn record<T>(&self, outcome: &std::result::Result<T, sqlx::Error>) {
        let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Ok(_) => {
                if failure.take().is_some() {
                    tracing::info!("the store can write again");
                }
            }
            Err(e) => {
                if let Some((Unavailability::Storage, reason)) = codec::unavailability(e) {
                    tracing::warn!(%reason, "the store cannot write");
                    *failure = Some(reason);
                }
            }
        }
    }
}

/// The one write transaction of a mutation. It reads as the connection it runs on; its
/// `commit` records whether the store could write.
pub(crate) struct WriteTx {
    tx: Transaction<'static, Sqlite>,
    health: Arc<WriteHealth>,
}

#[async_trait]
impl Commit for WriteTx {
    async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        let outcome = self.tx.commit().await;
        self.health.record(&outcome);
        outcome
    }
}

impl Deref for WriteTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        let base = SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        // Durability over throughput: a committed create survives a power cut.
        let writer_options = base
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .pragma(
                "wal_autocheckpoint",
                checkpoint::WRITER_BACKSTOP_PAGES.to_string(),
            );
        // The writer connection is kept open for the store's lifetime: while it is open the
        // WAL index (-shm) exists, which the read-only connections rely on.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            // A commit that failed (say, on a full disk) can leave the connection believing
            // it is still inside the transaction SQLite already rolled back, and every later
            // BEGIN would fail. Such a connection is replaced by a fresh one. (By the time a
            // connection is back in the pool its pending rollback has run.)
            .before_acquire(|conn, _| {
                Box::pin(async move {
                    if conn.is_in_transaction() {
                        tracing::warn!("replacing the writer connection left inside a transaction");
                        return Ok(false);
                    }
                    Ok(true)
                })
            })
            .acquire_timeout(WRITER_ACQUIRE_TIMEOUT)
            .connect_with(writer_options)
            .await
            .with_context(|| format!("open SQLite database {}", path.display()))?;
        sqlx::migrate!("./migrations")
            .run(&writer)
            .await
            .with_context(|| format!("migrate SQLite database {}", path.display()))?;
        // Readers never write; the journal mode is a property of the file, set above.
        let reader = readers::Readers::new(path, BUSY_TIMEOUT)
            .with_context(|| format!("open readers of SQLite database {}", path.display()))?;
        let checkpoint = checkpoint::Checkpointer::start(path)
            .with_context(|| format!("start checkpoints of SQLite database {}", path.display()))?;
        let health = Arc::<WriteHealth>::default();
        let store = SqliteStore {
            group: Arc::new(group::GroupCommit::new(writer.clone(), health.clone())),
            writer,
            reader,
            health,
            checkpoint: Arc::new(checkpoint),
        };
        legacy::give_public_clusters_endpoints(&store)
            .await
            .with_context(|| format!("give public clusters an endpoint in {}", path.display()))?;
        Ok(store)
    }

    /// Closes both pools, waiting for in-flight work (e.g. before reopening the file).
    pub async fn close(&self) {
        self.checkpoint.stop();
        self.writer.close().await;
        self.reader.close();
    }

    /// See [`crate::Store::write_health`]. The probe rewrites the database header's
    /// `user_version` with its own value: a one-page commit that changes nothing.
    async fn write_health_probe(&self) -> Result<()> {
        let Some(failure) = self.health.failure() else {
            return Ok(());
        };
        let unavailable = |reason: String| StoreError::Unavailable {
            kind: Unavailability::Storage,
            context: format!("the last write failed: {reason}"),
            reason,
        };
        let Ok(_probing) = self.health.probe.try_lock() else {
            return Err(unavailable(failure));
        };
        let mut tx = self.begin_write().await?;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut *tx)
            .await
            .ctx("read user_version")?;
        // PRAGMA takes no bound parameters; `version` is an integer SQLite gave us.
        sqlx::query(&format!("PRAGMA user_version = {version}"))
            .execute(&mut *tx)
            .await
            .ctx("write user_version")?;
        tx.commit().await.ctx("commit the write probe")
    }
}

/// Starts the one write transaction of a mutation. `IMMEDIATE` takes SQLite's write lock
/// up front, so a transaction never has to upgrade a read lock (and never deadlocks).
async fn begin(writer: &SqlitePool, health: &Arc<WriteHealth>) -> Result<WriteTx> {
    let begun = writer.begin_with("BEGIN IMMEDIATE").await;
    if begun.is_err() {
        health.record(&begun);
    }
    Ok(WriteTx {
        tx: begun.ctx("begin write transaction")?,
        health: health.clone(),
    })
}

#[async_trait]
impl Backend for SqliteStore {
    type Conn = SqliteConnection;
    type ReadConn = raw::RawConn;
    type Read = readers::Reader;
    type Write = WriteTx;
    const SAVEPOINTS: bool = false;

    async fn read(&self) -> Result<readers::Reader> {
        self.reader
            .get()
            .map_err(|e| StoreError::Backend(e.context("take a read connection")))
    }

    async fn begin_write(&self) -> Result<WriteTx> {
        begin(&self.writer, &self.health).await
    }

    /// Object writes wait for the writer together, and are committed in groups.
    async fn write_docs(
        &self,
        actor: Actor,
        idem: Option<CreateKey>,
        op: Box<dyn WriteOp>,
    ) -> Result<Written> {
        self.group.write(actor, idem, op).await
    }

    async fn write_health(&self) -> Result<()> {
        self.write_health_probe().await
    }
}
