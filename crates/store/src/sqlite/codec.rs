//! How values map to SQLite: the resource bodies (JSON), times (RFC 3339 text), ids
//! (their 20-character text) and the errors of the driver (wrapped with what we were doing).

use chrono::{DateTime, SecondsFormat, Utc};
use isthmus_core::resources::{Cluster, Network, Peering};
use isthmus_core::{Id, NetworkId, ProjectId};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Kind, PageRequest, Result, StoreError};

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
        self.map_err(|e| StoreError::Backend(anyhow::Error::new(e).context(what)))
    }
    fn with_ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| StoreError::Backend(anyhow::Error::new(e).context(what())))
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
