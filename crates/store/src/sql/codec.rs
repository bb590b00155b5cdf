//! How values map to both databases: times (RFC 3339 text), ids (their 20-character
//! text; so a copy between the backends is row for row), JSON for the audit log, and the
//! errors of the drivers (wrapped with what we were doing).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::{Page, PageRequest, Result, StoreError, Unavailability};

pub(crate) const DEFAULT_PAGE: u32 = 100;
pub(crate) const MAX_PAGE: u32 = 1000;

/// Adds what the store was doing to a backend error.
pub(crate) trait Ctx<T> {
    fn ctx(self, what: &'static str) -> Result<T>;
    fn with_ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E> Ctx<T> for std::result::Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn ctx(self, what: &'static str) -> Result<T> {
        self.map_err(|e| backend_error(e, what.to_string()))
    }
    fn with_ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| backend_error(e, what()))
    }
}

/// A failure of the database, as `Unavailable` when it passes by itself (busy, disk full)
/// and as `Backend` otherwise.
fn backend_error<E>(e: E, what: String) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    let unavailable = unavailability(&e);
    let err = anyhow::Error::new(e).context(what);
    match unavailable {
        Some((kind, reason)) => StoreError::Unavailable {
            kind,
            reason,
            context: format!("{err:#}"),
        },
        None => StoreError::Backend(err),
    }
}

/// The errors of either database that pass by themselves, with the database's words for
/// them; `None` for a fault.
pub(crate) fn unavailability(
    e: &(dyn std::error::Error + 'static),
) -> Option<(Unavailability, String)> {
    match e.downcast_ref::<sqlx::Error>()? {
        sqlx::Error::PoolTimedOut => Some((
            Unavailability::Busy,
            "timed out waiting for a database connection".to_string(),
        )),
        // PostgreSQL: the server restarts, or a connection was cut.
        sqlx::Error::Io(io) => Some((Unavailability::Busy, io.to_string())),
        sqlx::Error::PoolClosed => Some((
            Unavailability::Busy,
            "the database connection pool is closed".to_string(),
        )),
        sqlx::Error::Database(db) => {
            let sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
                || db.try_downcast_ref::<crate::sqlite::RawError>().is_some();
            let kind = if sqlite {
                sqlite_unavailability(db.code()?.parse().ok()?)
            } else {
                postgres_unavailability(&db.code()?)
            }?;
            Some((kind, db.message().to_string()))
        }
        _ => None,
    }
}

/// SQLite's primary result codes (the low byte of an extended code) that pass.
fn sqlite_unavailability(code: i32) -> Option<Unavailability> {
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    const READONLY: i32 = 8;
    const IOERR: i32 = 10;
    const FULL: i32 = 13;
    const CANTOPEN: i32 = 14;
    match code & 0xff {
        BUSY | LOCKED => Some(Unavailability::Busy),
        READONLY | IOERR | FULL | CANTOPEN => Some(Unavailability::Storage),
        _ => None,
    }
}

/// PostgreSQL's SQLSTATE classes that pass: connection exceptions and operator
/// intervention (admin shutdown, a terminated connection, cannot connect now) are
/// `Busy`; a server out of disk or memory (class 53) is `Storage`.
fn postgres_unavailability(sqlstate: &str) -> Option<Unavailability> {
    match sqlstate.get(..2)? {
        "08" | "57" => Some(Unavailability::Busy),
        "53" => Some(Unavailability::Storage),
        _ => None,
    }
}

pub(crate) fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .with_ctx(|| format!("parse stored time '{text}'"))
}

pub(crate) fn parse_id<T: std::str::FromStr>(text: &str) -> Result<T> {
    text.parse()
        .map_err(|_| StoreError::Backend(anyhow::anyhow!("stored id '{text}' is not a valid id")))
}

/// `value` as JSON text for the audit log.
pub(crate) fn to_json_text(value: &impl Serialize) -> Result<String> {
    serde_json::to_string(value).ctx("encode JSON for the audit log")
}

pub(crate) fn page_limit(page: &PageRequest) -> u32 {
    match page.limit {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    }
}

/// A page of at most `limit` items from `rows`, fetched with `LIMIT limit + 1`: the
/// extra row says there is a next page, which starts after the `cursor` of the last item.
pub(crate) fn page_of<R, T>(
    rows: &[R],
    limit: u32,
    decode: impl Fn(&R) -> Result<T>,
    cursor: impl Fn(&T) -> String,
) -> Result<Page<T>> {
    let more = rows.len() > limit as usize;
    let items: Vec<T> = rows
        .iter()
        .take(limit as usize)
        .map(decode)
        .collect::<Result<_>>()?;
    let next_cursor = match (more, items.last()) {
        (true, Some(last)) => Some(cursor(last)),
        _ => None,
    };
    Ok(Page { items, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_turn_at_the_writer_in_time_is_busy_not_a_backend_fault() {
        let err = Err::<(), _>(sqlx::Error::PoolTimedOut)
            .ctx("acquire the writer")
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Unavailable {
                    kind: Unavailability::Busy,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn other_errors_stay_backend_faults() {
        let err = Err::<(), _>(sqlx::Error::RowNotFound)
            .ctx("read")
            .unwrap_err();
        assert!(matches!(err, StoreError::Backend(_)), "{err}");
    }
}
