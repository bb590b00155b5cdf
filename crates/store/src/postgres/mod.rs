//! The PostgreSQL backend: several Isthmus replicas share one database.
//!
//! The same contract as SQLite, with the same single rule for concurrency: every mutation
//! runs in one transaction that first takes a transaction-level advisory lock
//! ([`WRITE_LOCK`]), held until commit or rollback. Writers of every replica are therefore
//! serialised as SQLite's `BEGIN IMMEDIATE` serialises them, and the snapshot a rule
//! validates against (READ COMMITTED, each statement after the lock sees every earlier
//! commit) is the one the write lands on. The audit log's `seq` is taken under that lock,
//! so it grows in commit order (see `audit.rs`). Reads use any pooled connection.

mod lease;
mod overlap;

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres, Transaction};

use async_trait::async_trait;

use crate::doc::Doc;
use crate::sql::codec::Ctx;
use crate::sql::{Backend, Commit};
use crate::{Result, StoreError};
pub use lease::{provider_lease, Lease, CONTROLLER};

/// The advisory lock every write transaction takes first (`pg_advisory_xact_lock`): one
/// key for the whole store, as SQLite has one write lock. The value is arbitrary, chosen
/// so that it names its owner ("ISTHMUS!" in ASCII).
pub const WRITE_LOCK: i64 = 0x4953_5448_4D55_5321;
const CONNECTIONS: u32 = 8;
/// How long a caller waits for a connection; generous, since writers queue on the lock.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(60);

/// The PostgreSQL implementation of [`crate::Store`].
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The lease and epoch every object write must still lead under (see `lease.rs`).
    fence: Option<(Arc<str>, i64)>,
}

/// The one write transaction of a mutation, holding the write lock.
pub(crate) struct WriteTx {
    tx: Transaction<'static, Postgres>,
}

#[async_trait]
impl Commit for WriteTx {
    async fn commit(self) -> std::result::Result<(), sqlx::Error> {
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
}

#[async_trait]
impl Backend for PgStore {
    type Conn = PgConnection;
    type ReadConn = PgConnection;
    type Read = PoolConnection<Postgres>;
    type Write = WriteTx;
    const SAVEPOINTS: bool = true;

    async fn read(&self) -> Result<PoolConnection<Postgres>> {
        self.pool.acquire().await.ctx("acquire read connection")
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

    /// With a fence, the write holds only while its epoch is the live controller lease's
    /// epoch (checked under the write lock, so no new leader's write comes in between).
    async fn check_fence(&self, tx: &mut PgConnection) -> Result<()> {
        match &self.fence {
            Some((name, epoch)) => lease::check_epoch(tx, name, *epoch).await,
            None => Ok(()),
        }
    }

    fn backstops(kind: &str) -> bool {
        kind == overlap::NETWORK
    }

    async fn backstop(conn: &mut PgConnection, e: &sqlx::Error, doc: &Doc) -> Option<StoreError> {
        overlap::backstop(conn, e, doc).await
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
