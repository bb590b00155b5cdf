//! How values map to SQLite: the resource bodies (JSON), times (RFC 3339 text), ids
//! (their 20-character text) and the errors of the driver (wrapped with what we were doing).

use chrono::{DateTime, SecondsFormat, Utc};
use isthmus_core::resources::{Cluster, Network, Peering};
use isthmus_core::{Id, NetworkId, ProjectId};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Kind, PageRequest, Result, StoreError, Unavailability};

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

/// The errors of SQLite that pass by themselves, with SQLite's words for them. Codes are
/// SQLite's primary result codes (the low byte of an extended code).
pub(crate) fn unavailability(
    e: &(dyn std::error::Error + 'static),
) -> Option<(Unavailability, String)> {
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    const READONLY: i32 = 8;
    const IOERR: i32 = 10;
    const FULL: i32 = 13;
    const CANTOPEN: i32 = 14;
    match e.downcast_ref::<sqlx::Error>()? {
        sqlx::Error::PoolTimedOut => Some((
            Unavailability::Busy,
            "timed out waiting for a database connection".to_string(),
        )),
        sqlx::Error::Database(db) => {
            let code: i32 = db.code()?.parse().ok()?;
            let kind = match code & 0xff {
                BUSY | LOCKED => Unavailability::Busy,
                READONLY | IOERR | FULL | CANTOPEN => Unavailability::Storage,
                _ => return None,
            };
            Some((kind, db.message().to_string()))
        }
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

pub(crate) fn to_json(value: &impl Serialize) -> Result<String> {
    serde_json::to_string(value).ctx("encode JSON for the database")
}

pub(crate) fn to_json_value(value: &impl Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(value).ctx("encode JSON for the audit log")
}

pub(crate) fn page_limit(page: &PageRequest) -> u32 {
    match page.limit {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    }
}

pub(crate) fn kind_from_str(text: &str) -> Result<Kind> {
    match text {
        "network" => Ok(Kind::Network),
        "peering" => Ok(Kind::Peering),
        "cluster" => Ok(Kind::Cluster),
        other => Err(StoreError::Backend(anyhow::anyhow!(
            "stored resource kind '{other}' is unknown"
        ))),
    }
}

/// A resource kept in the `resources` table: its body is the JSON of the whole struct;
/// the columns beside it are derived from these accessors on every write.
pub(crate) trait StoredResource: Serialize + DeserializeOwned + Send + Sync + Unpin {
    const KIND: Kind;
    fn id(&self) -> Id;
    fn project_id(&self) -> ProjectId;
    fn network_id(&self) -> Option<NetworkId>;
    fn status_text(&self) -> &'static str;
    fn version(&self) -> u64;
    fn set_version(&mut self, version: u64);
    fn created_at(&self) -> DateTime<Utc>;
    /// First and last address the resource claims (networks only), for the range index.
    fn range(&self) -> Option<(u32, u32)> {
        None
    }
}

macro_rules! stored_resource {
    ($ty:ty, $kind:expr, |$r:ident| $network:expr) => {
        stored_resource!($ty, $kind, |$r| $network, |_r| None);
    };
    ($ty:ty, $kind:expr, |$r:ident| $network:expr, |$q:ident| $range:expr) => {
        impl StoredResource for $ty {
            const KIND: Kind = $kind;
            fn id(&self) -> Id {
                self.id.0
            }
            fn project_id(&self) -> ProjectId {
                self.project_id
            }
            fn network_id(&self) -> Option<NetworkId> {
                let $r = self;
                $network
            }
            fn status_text(&self) -> &'static str {
                self.status.as_str()
            }
            fn version(&self) -> u64 {
                self.version
            }
            fn set_version(&mut self, version: u64) {
                self.version = version;
            }
            fn created_at(&self) -> DateTime<Utc> {
                self.created_at
            }
            fn range(&self) -> Option<(u32, u32)> {
                let $q = self;
                $range
            }
        }
    };
}

stored_resource!(Network, Kind::Network, |_n| None, |n| Some((
    n.cidr_block.start(),
    n.cidr_block.end()
)));
stored_resource!(Peering, Kind::Peering, |p| Some(p.network_id));
stored_resource!(Cluster, Kind::Cluster, |c| Some(c.network_id));

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
