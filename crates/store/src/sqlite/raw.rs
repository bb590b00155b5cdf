//! The statements of a group commit, run on the writer connection's SQLite handle
//! directly, on the group's own task.
//!
//! Through sqlx every statement is a round trip to the connection's worker thread (a
//! command sent, the thread woken, each row and the result sent back, the task woken):
//! a network create runs about seven statements and its status save five more, and the
//! thread switches cost far more than SQLite's work (`perf` of the create bench: over a
//! third of the CPU in scheduler wake-ups). So a group takes the handle from the worker
//! once (`lock_handle`), runs its writes' statements here without a switch, and gives
//! it back for the commit, which sqlx runs (and fsyncs) on its thread as before.
//!
//! Statements are prepared once per group and finalized when it ends, so none outlives
//! the handle lent to it (sqlx closes its connection with `sqlite3_close`, which refuses
//! a connection with statements left).

use std::collections::HashMap;
use std::ffi::{c_int, CStr};
use std::ptr;

use async_trait::async_trait;
use libsqlite3_sys as ffi;
use sqlx::error::{DatabaseError, ErrorKind};

use crate::sql::query::{Arg, Conn, Get, Q};

/// A write transaction's connection, lent by sqlx's worker for one group.
pub(crate) struct RawConn {
    db: *mut ffi::sqlite3,
    prepared: HashMap<String, *mut ffi::sqlite3_stmt>,
}

// SAFETY: the handle is used by one task at a time (the group's), while the worker thread
// that owns it waits for it back (`LockedSqliteHandle`); SQLite's multi-thread mode allows
// a connection to move between threads when it is not used by two at once.
unsafe impl Send for RawConn {}

impl RawConn {
    /// # Safety
    /// `db` must stay valid and unused by anyone else until this is dropped.
    pub(super) unsafe fn new(db: *mut ffi::sqlite3) -> RawConn {
        RawConn {
            db,
            prepared: HashMap::new(),
        }
    }

    fn error(&self) -> sqlx::Error {
        // SAFETY: `db` is valid (see `new`); the message is copied before the next call.
        let (code, message) = unsafe {
            let code = ffi::sqlite3_extended_errcode(self.db);
            let msg = ffi::sqlite3_errmsg(self.db);
            let message = if msg.is_null() {
                String::from("<no message>")
            } else {
                CStr::from_ptr(msg).to_string_lossy().into_owned()
            };
            (code, message)
        };
        sqlx::Error::Database(Box::new(RawError { code, message }))
    }

    fn statement(&mut self, sql: &str) -> sqlx::Result<*mut ffi::sqlite3_stmt> {
        if let Some(&stmt) = self.prepared.get(sql) {
            return Ok(stmt);
        }
        let mut stmt = ptr::null_mut();
        let mut tail = ptr::null();
        let len = c_int::try_from(sql.len())
            .map_err(|_| sqlx::Error::Protocol("statement too long".into()))?;
        // SAFETY: `sql` outlives the call; SQLite copies what it keeps.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                self.db,
                sql.as_ptr().cast(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                &mut tail,
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(self.error());
        }
        if stmt.is_null() {
            return Err(sqlx::Error::Protocol(format!("no statement in {sql:?}")));
        }
        // `tail` points into `sql`, at or before its end.
        let rest = sql.len() - (tail as usize - sql.as_ptr() as usize);
        if !sql[sql.len() - rest..].trim().is_empty() {
            // SAFETY: prepared above, not stored.
            unsafe { ffi::sqlite3_finalize(stmt) };
            return Err(sqlx::Error::Protocol(format!(
                "one statement at a time on the group's connection: {sql:?}"
            )));
        }
        self.prepared.insert(sql.to_string(), stmt);
        Ok(stmt)
    }

    /// Runs `q`, handing each row to `row` (which says whether to go on).
    fn exec(&mut self, q: Q, mut row: impl FnMut(RawRow) -> bool) -> sqlx::Result<u64> {
        let stmt = self.statement(&q.sql)?;
        // SAFETY: `stmt` is a live statement of `db`; text is copied (SQLITE_TRANSIENT).
        unsafe {
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
            for i in 1..=ffi::sqlite3_bind_parameter_count(stmt) {
                let n = parameter_number(stmt, i);
                let arg = q.args.get(n.wrapping_sub(1)).ok_or_else(|| {
                    sqlx::Error::Protocol(format!("no argument ${n} for {:?}", q.sql))
                })?;
                let rc = match arg {
                    Arg::Int(v) => ffi::sqlite3_bind_int64(stmt, i, *v),
                    Arg::Bool(v) => ffi::sqlite3_bind_int64(stmt, i, i64::from(*v)),
                    Arg::Text(None) => ffi::sqlite3_bind_null(stmt, i),
                    Arg::Text(Some(s)) => ffi::sqlite3_bind_text64(
                        stmt,
                        i,
                        s.as_ptr().cast(),
                        s.len() as u64,
                        ffi::SQLITE_TRANSIENT(),
                        ffi::SQLITE_UTF8 as u8,
                    ),
                };
                if rc != ffi::SQLITE_OK {
                    return Err(self.error());
                }
            }
            loop {
                match ffi::sqlite3_step(stmt) {
                    ffi::SQLITE_ROW => {
                        if !row(RawRow::read(stmt)) {
                            ffi::sqlite3_reset(stmt);
                            return Ok(0);
                        }
                    }
                    ffi::SQLITE_DONE => {
                        let changed = ffi::sqlite3_changes64(self.db);
                        ffi::sqlite3_reset(stmt);
                        return Ok(changed as u64);
                    }
                    _ => {
                        let e = self.error();
                        ffi::sqlite3_reset(stmt);
                        return Err(e);
                    }
                }
            }
        }
    }
}

/// The argument number of parameter `i`: `$n` and `?n` name theirs, as sqlx reads them.
unsafe fn parameter_number(stmt: *mut ffi::sqlite3_stmt, i: c_int) -> usize {
    let name = ffi::sqlite3_bind_parameter_name(stmt, i);
    if !name.is_null() {
        if let Ok(name) = CStr::from_ptr(name).to_str() {
            if let Some(n) = name
                .strip_prefix('$')
                .or_else(|| name.strip_prefix('?'))
                .and_then(|n| n.parse().ok())
            {
                return n;
            }
        }
    }
    i as usize
}

impl Drop for RawConn {
    fn drop(&mut self) {
        for (_, stmt) in self.prepared.drain() {
            // SAFETY: each was prepared on `db` and is finalized once.
            unsafe { ffi::sqlite3_finalize(stmt) };
        }
    }
}

#[async_trait]
impl Conn for RawConn {
    type Row = RawRow;

    async fn run(&mut self, q: Q) -> sqlx::Result<u64> {
        self.exec(q, |_| true)
    }

    async fn all(&mut self, q: Q) -> sqlx::Result<Vec<RawRow>> {
        let mut rows = Vec::new();
        self.exec(q, |r| {
            rows.push(r);
            true
        })?;
        Ok(rows)
    }

    async fn optional(&mut self, q: Q) -> sqlx::Result<Option<RawRow>> {
        let mut first = None;
        self.exec(q, |r| {
            first = Some(r);
            false
        })?;
        Ok(first)
    }
}

enum Val {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob,
}

/// A row read from a raw statement: its columns by name.
pub(crate) struct RawRow {
    columns: Vec<(String, Val)>,
}

impl RawRow {
    unsafe fn read(stmt: *mut ffi::sqlite3_stmt) -> RawRow {
        let count = ffi::sqlite3_column_count(stmt);
        let mut columns = Vec::with_capacity(count as usize);
        for i in 0..count {
            let name = ffi::sqlite3_column_name(stmt, i);
            let name = if name.is_null() {
                String::new()
            } else {
                CStr::from_ptr(name).to_string_lossy().into_owned()
            };
            let val = match ffi::sqlite3_column_type(stmt, i) {
                ffi::SQLITE_INTEGER => Val::Int(ffi::sqlite3_column_int64(stmt, i)),
                ffi::SQLITE_FLOAT => Val::Real(ffi::sqlite3_column_double(stmt, i)),
                ffi::SQLITE_TEXT => {
                    let text = ffi::sqlite3_column_text(stmt, i);
                    let len = ffi::sqlite3_column_bytes(stmt, i) as usize;
                    let bytes = if text.is_null() {
                        &[][..]
                    } else {
                        std::slice::from_raw_parts(text, len)
                    };
                    Val::Text(String::from_utf8_lossy(bytes).into_owned())
                }
                ffi::SQLITE_NULL => Val::Null,
                _ => Val::Blob,
            };
            columns.push((name, val));
        }
        RawRow { columns }
    }

    fn get(&self, col: &str) -> sqlx::Result<(usize, &Val)> {
        self.columns
            .iter()
            .enumerate()
            .find(|(_, (name, _))| name == col)
            .map(|(i, (_, v))| (i, v))
            .ok_or_else(|| sqlx::Error::ColumnNotFound(col.to_string()))
    }
}

fn mismatch(index: usize, want: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: index.to_string(),
        source: format!("the column is not {want}").into(),
    }
}

impl Get for RawRow {
    fn int(&self, col: &str) -> sqlx::Result<i64> {
        match self.get(col)? {
            (_, Val::Int(v)) => Ok(*v),
            (i, _) => Err(mismatch(i, "an integer")),
        }
    }
    fn str(&self, col: &str) -> sqlx::Result<&str> {
        match self.get(col)? {
            (_, Val::Text(v)) => Ok(v),
            (i, _) => Err(mismatch(i, "text")),
        }
    }
    fn opt_str(&self, col: &str) -> sqlx::Result<Option<&str>> {
        match self.get(col)? {
            (_, Val::Text(v)) => Ok(Some(v)),
            (_, Val::Null) => Ok(None),
            (i, _) => Err(mismatch(i, "text or null")),
        }
    }
    fn bool(&self, col: &str) -> sqlx::Result<bool> {
        match self.get(col)? {
            (_, Val::Int(v)) => Ok(*v != 0),
            (_, Val::Real(v)) => Ok(*v != 0.0),
            (i, _) => Err(mismatch(i, "a boolean")),
        }
    }
}

/// A failed statement on the raw handle, told apart as sqlx's own `SqliteError` is (its
/// constructors are private): the extended result code and SQLite's message.
#[derive(Debug)]
pub(crate) struct RawError {
    code: c_int,
    message: String,
}

impl std::fmt::Display for RawError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "(code: {}) {}", self.code, self.message)
    }
}

impl std::error::Error for RawError {}

impl DatabaseError for RawError {
    fn message(&self) -> &str {
        &self.message
    }
    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.code.to_string().into())
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> ErrorKind {
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

/// The write path's hooks on the raw handle: SQLite's (no savepoint per statement, no
/// constraint that backs a rule).
pub(super) struct Raw;

#[async_trait]
impl crate::sql::write::Hooks for Raw {
    type Conn = RawConn;
    const SAVEPOINTS: bool = false;
    fn backstops(_kind: &str) -> bool {
        false
    }
    async fn backstop(
        _conn: &mut RawConn,
        _e: &sqlx::Error,
        _doc: &crate::doc::Doc,
    ) -> Option<crate::StoreError> {
        None
    }
}
