//! The PostgreSQL backend: several Isthmus replicas share one database.
//!
//! The same contract as SQLite, with the same single rule for concurrency: every mutation
//! runs in one transaction that first takes a transaction-level advisory lock
//! ([`WRITE_LOCK`]), held until commit or rollback. Writers of every replica are therefore
//! serialised as SQLite's `BEGIN IMMEDIATE` serialises them, and the snapshot a rule
//! validates against (READ COMMITTED, each statement after the lock sees every earlier
//! commit) is the one the write lands on. The audit log's `seq` is taken under that lock,
//! so it grows in commit order (see `audit.rs`). Reads use any pooled connection.

mod audit;
mod codec;
mod docs;
mod idempotency;
mod lab;
mod lab_internet;
mod lease;
mod projects;
mod store_impl;
mod tokens;
mod write;

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use anyhow::Context;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres, Transaction};

use crate::{Result, StoreError};
use codec::Ctx;
pub use lease::Lease;

/// The advisory lock every write transaction takes first (`pg_advisory_xact_lock`): one
/// key for the whole store, as SQLite has one write lock. The value is arbitrary, chosen
/// so that it names its owner ("ISTHMUS!" in ASCII).
pub const WRITE_LOCK: i64 = 0x4953_5448_4D55_5321;
const CONNECTIONS: u32 = 8;
/// How long a caller waits for a connection; generous, since writers queue on the lock.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs a write on a task of its own, so it always ends in a commit or a rollback, even
/// when the caller's future is dropped half-way (a client that hangs up).
async fn detach<T: Send + 'static>(
    write: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    tokio::spawn(write).await.map_err(|e| {
        StoreError::Backend(anyhow::anyhow!(
            "the write task ended without an answer: {e}"
        ))
    })?
}

/// The PostgreSQL implementation of [`crate::Store`].
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The controller epoch every object write must still lead under (see `lease.rs`).
    fence: Option<i64>,
}

/// The one write transaction of a mutation, holding the write lock.
pub(crate) struct WriteTx {
    tx: Transaction<'static, Postgres>,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl Deref for WriteTx {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://…`, or a unix socket with
    /// `?host=/dir`) and brings its schema up to date.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options: PgConnectOptions = url
            .parse()
            .with_context(|| format!("parse database URL {}", redact(url)))?;
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A connection the server terminated is found out before it is handed out,
            // and replaced: a replica carries on after its connections were cut.
            .test_before_acquire(true)
            .connect_with(options)
            .await
            .with_context(|| format!("connect to PostgreSQL at {}", redact(url)))?;
        Self::migrate(&pool)
            .await
            .with_context(|| format!("migrate PostgreSQL database {}", redact(url)))?;
        Ok(PgStore { pool, fence: None })
    }

    /// Runs the migrations. Replicas starting together take turns: sqlx's migrator holds
    /// its own advisory lock while it runs.
    async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
        sqlx::migrate!("./migrations_postgres").run(pool).await?;
        Ok(())
    }

    /// The connection pool (for `isthmus store copy` and the replicas' lease).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts the one write transaction of a mutation and takes the write lock in it.
    async fn begin_write(&self) -> Result<WriteTx> {
        let mut tx = self.pool.begin().await.ctx("begin write transaction")?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITE_LOCK)
            .execute(&mut *tx)
            .await
            .ctx("take the write lock")?;
        Ok(WriteTx { tx })
    }

    async fn read(&self) -> Result<PoolConnection<Postgres>> {
        self.pool.acquire().await.ctx("acquire read connection")
    }
}

/// `url` without its password, for messages: `scheme://user:***@host/…`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_password_never_reaches_a_message() {
        assert_eq!(
            super::redact("postgres://isthmus:s3cret@db:5432/isthmus"),
            "postgres://isthmus:***@db:5432/isthmus"
        );
        assert_eq!(
            super::redact("postgres://postgres@/isthmus?host=/tmp/x"),
            "postgres://postgres@/isthmus?host=/tmp/x"
        );
    }
}
