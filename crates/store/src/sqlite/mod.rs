//! The embedded SQLite backend.
//!
//! Correctness under concurrency comes from one rule: every mutation runs in a single
//! `BEGIN IMMEDIATE` transaction on the writer pool, which holds exactly one connection.
//! Writers are therefore serialized in-process (and, through SQLite's write lock, across
//! processes), so the snapshot a rule validates against is the snapshot the write lands
//! on. Reads go through a separate read-only pool and see the last committed state (WAL).

mod audit;
mod clusters;
mod codec;
mod controller;
mod idempotency;
mod lab;
mod lab_internet;
mod networks;
mod peerings;
mod projects;
mod public_ips;
mod rows;
mod store_impl;
mod tokens;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::Result;
use codec::Ctx;

/// How long a connection waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for the (single) writer connection; generous, since writers queue.
const WRITER_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(60);
const READERS: u32 = 4;

/// The SQLite implementation of [`crate::Store`].
#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
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
            .synchronous(SqliteSynchronous::Full);
        // The writer connection is kept open for the store's lifetime: while it is open the
        // WAL index (-shm) exists, which the read-only connections rely on.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .acquire_timeout(WRITER_ACQUIRE_TIMEOUT)
            .connect_with(writer_options)
            .await
            .with_context(|| format!("open SQLite database {}", path.display()))?;
        sqlx::migrate!("./migrations")
            .run(&writer)
            .await
            .with_context(|| format!("migrate SQLite database {}", path.display()))?;
        rows::backfill_network_ranges(&mut *writer.acquire().await?)
            .await
            .with_context(|| format!("index network ranges in {}", path.display()))?;
        public_ips::backfill(&mut *writer.acquire().await?)
            .await
            .with_context(|| format!("give public clusters an endpoint in {}", path.display()))?;
        // Readers never write; the journal mode is a property of the file, set above.
        // A ping before each use buys nothing for an in-process database.
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .test_before_acquire(false)
            .connect_with(base.read_only(true))
            .await
            .with_context(|| format!("open readers of SQLite database {}", path.display()))?;
        Ok(SqliteStore { writer, reader })
    }

    /// Closes both pools, waiting for in-flight work (e.g. before reopening the file).
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// Starts the one write transaction of a mutation. `IMMEDIATE` takes SQLite's write lock
    /// up front, so a transaction never has to upgrade a read lock (and never deadlocks).
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .ctx("begin write transaction")
    }

    async fn read(&self) -> Result<PoolConnection<Sqlite>> {
        self.reader.acquire().await.ctx("acquire read connection")
    }
}
