//! The read connections: SQLite handles of our own, used on the caller's task.
//!
//! Through sqlx every read statement is a round trip to its connection's worker thread,
//! and a create's reads (its reconcile loads the object and what it owns) cost more in
//! thread wake-ups than in SQLite's work, which is a few microseconds from the page
//! cache. So reads run here, on the calling thread, on a handle taken from a small pool.
//! Each statement is its own read transaction (autocommit, WAL), as with sqlx's readers:
//! a read sees the last commit and never holds back the writer.

use std::ffi::CString;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use libsqlite3_sys as ffi;

use super::raw::RawConn;

/// Handles kept for reuse; more are opened when this many are busy, and closed when they
/// come back to a full pool.
const KEPT: usize = 8;

/// The pool of read-only handles on one database file.
#[derive(Clone)]
pub(super) struct Readers {
    path: Arc<CString>,
    busy_timeout_ms: i32,
    idle: Arc<Mutex<Vec<OwnedConn>>>,
    /// Set by `close`: handles that come back after it are closed, not kept.
    closed: Arc<AtomicBool>,
}

impl Readers {
    pub(super) fn new(path: &Path, busy_timeout: std::time::Duration) -> anyhow::Result<Readers> {
        let readers = Readers {
            path: Arc::new(c_path(path)?),
            busy_timeout_ms: i32::try_from(busy_timeout.as_millis()).unwrap_or(i32::MAX),
            idle: Arc::default(),
            closed: Arc::default(),
        };
        // Open one now, so a path that cannot be read fails at start rather than later.
        let first = readers.open()?;
        readers.lock().push(first);
        Ok(readers)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<OwnedConn>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open(&self) -> anyhow::Result<OwnedConn> {
        let mut db = ptr::null_mut();
        // NOMUTEX: a handle is used by one task at a time (the guard's), so SQLite's own
        // per-connection mutex would only cost.
        let flags = ffi::SQLITE_OPEN_READONLY | ffi::SQLITE_OPEN_NOMUTEX;
        // SAFETY: `path` is a NUL-terminated string that outlives the call.
        let rc = unsafe { ffi::sqlite3_open_v2(self.path.as_ptr(), &mut db, flags, ptr::null()) };
        if rc != ffi::SQLITE_OK {
            // SAFETY: on failure SQLite still returns a handle (or null) to be closed.
            unsafe { ffi::sqlite3_close(db) };
            anyhow::bail!(
                "open a reader of SQLite database {:?}: code {rc}",
                self.path
            );
        }
        // SAFETY: `db` was opened above.
        unsafe { ffi::sqlite3_busy_timeout(db, self.busy_timeout_ms) };
        // SAFETY: `db` is ours alone; OwnedConn closes it once, after its statements.
        Ok(OwnedConn {
            raw: Some(unsafe { RawConn::new(db) }),
            db,
        })
    }

    /// A handle for reads, back in the pool when the guard drops.
    pub(super) fn get(&self) -> anyhow::Result<Reader> {
        let conn = match self.lock().pop() {
            Some(conn) => conn,
            None => self.open()?,
        };
        Ok(Reader {
            conn: Some(conn),
            pool: self.clone(),
        })
    }

    /// Closes the idle handles (the store is closing; busy ones close when returned).
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.lock().clear();
    }
}

/// `path` as SQLite's open functions take it.
pub(super) fn c_path(path: &Path) -> anyhow::Result<CString> {
    let text = path
        .to_str()
        .with_context(|| format!("database path {} is not UTF-8", path.display()))?;
    CString::new(text).context("database path holds a NUL byte")
}

/// A handle this pool opened, closed when dropped.
pub(super) struct OwnedConn {
    /// `None` only while dropping (its statements are finalized before the close).
    raw: Option<RawConn>,
    db: *mut ffi::sqlite3,
}

// SAFETY: a handle opened NOMUTEX may move between threads when not used by two at once;
// the pool hands each to one guard at a time.
unsafe impl Send for OwnedConn {}

impl Drop for OwnedConn {
    fn drop(&mut self) {
        drop(self.raw.take());
        // SAFETY: opened by `Readers::open`, closed once, its statements finalized above.
        unsafe { ffi::sqlite3_close(self.db) };
    }
}

/// A read handle lent by [`Readers::get`].
pub(crate) struct Reader {
    conn: Option<OwnedConn>,
    pool: Readers,
}

impl Deref for Reader {
    type Target = RawConn;
    fn deref(&self) -> &RawConn {
        self.conn
            .as_ref()
            .and_then(|c| c.raw.as_ref())
            .expect("a lent reader holds its handle")
    }
}

impl DerefMut for Reader {
    fn deref_mut(&mut self) -> &mut RawConn {
        self.conn
            .as_mut()
            .and_then(|c| c.raw.as_mut())
            .expect("a lent reader holds its handle")
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut idle = self.pool.lock();
            if idle.len() < KEPT && !self.pool.closed.load(Ordering::SeqCst) {
                idle.push(conn);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::SqliteStore;
    use crate::sql::query::{query, Get};
    use crate::sql::Backend;

    /// A store in a directory of its own, removed when the first half is dropped.
    async fn fresh_store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("isthmus.db"))
            .await
            .expect("open");
        (dir, store)
    }

    async fn user_version(reader: &mut super::Reader) -> i64 {
        let row = query("PRAGMA user_version")
            .fetch_one(&mut **reader)
            .await
            .expect("read user_version");
        row.int("user_version").expect("user_version column")
    }

    async fn set_user_version(store: &SqliteStore, v: i64) {
        sqlx::query(&format!("PRAGMA user_version = {v}"))
            .execute(&store.writer)
            .await
            .expect("write user_version");
    }

    /// A handle kept in the pool (its statements prepared and cached) must not keep an
    /// old snapshot: every read sees the last commit, also after a read that stopped at
    /// its first row.
    #[tokio::test]
    async fn a_reused_handle_sees_each_later_commit() {
        let (_dir, store) = fresh_store().await;
        set_user_version(&store, 7).await;
        let mut reader = store.read().await.expect("reader");
        assert_eq!(user_version(&mut reader).await, 7);
        // A many-row read stopped after its first row.
        let first = query("SELECT name FROM sqlite_master ORDER BY name")
            .fetch_optional(&mut *reader)
            .await
            .expect("list tables");
        assert!(first.is_some(), "the schema has tables");

        set_user_version(&store, 8).await;
        assert_eq!(user_version(&mut reader).await, 8);
        drop(reader);

        set_user_version(&store, 9).await;
        let mut again = store.read().await.expect("reader from the pool");
        assert_eq!(user_version(&mut again).await, 9);
        // A second handle while the first is lent: both read.
        let mut other = store.read().await.expect("a second reader");
        assert_eq!(user_version(&mut other).await, 9);
    }

    /// Readers cannot write: the handle is opened read-only.
    #[tokio::test]
    async fn a_reader_refuses_writes() {
        let (_dir, store) = fresh_store().await;
        let mut reader = store.read().await.expect("reader");
        let err = query("CREATE TABLE t (x INTEGER)")
            .execute(&mut *reader)
            .await
            .expect_err("a read handle must not write");
        assert!(
            err.to_string().contains("readonly"),
            "unexpected error: {err}"
        );
    }
}
