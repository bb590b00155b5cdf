//! The controller leases of several replicas (migration 0002): one row per lease name,
//! claimed by the replica that runs that part of the controller and renewed every few
//! seconds; a holder that stops renewing loses it when it expires, and the next holder
//! gets a greater epoch. The lease [`CONTROLLER`] covers what belongs to no provider; each
//! provider has its own (see [`provider_lease`]), so each provider's resources are
//! reconciled by one replica that has its driver. An object write made through
//! [`PgStore::fenced_by`] names the lease and epoch it was decided under and is refused
//! (409 `controller-lease-lost`) in its own transaction once that lease moved on, so a
//! leader paused past its lease cannot overwrite its successor's work.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use isthmus_core::CoreError;
use sqlx::{PgConnection, Row};

use super::PgStore;
use crate::sql::codec::Ctx;
use crate::sql::Backend;
use crate::{Result, StoreError};

/// The lease of the controller's work that belongs to no provider.
pub const CONTROLLER: &str = "controller";

/// The lease of one provider's resources: `provider:aws`, `provider:local`, …
pub fn provider_lease(provider: &str) -> String {
    format!("provider:{provider}")
}

/// Who holds the lease, since when, under which epoch (database clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The lease's name ([`CONTROLLER`] or a [`provider_lease`]).
    pub name: String,
    pub holder: String,
    pub epoch: i64,
    pub since: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Not expired when read.
    pub live: bool,
}

const COLUMNS: &str = "name, holder, epoch, \
    (extract(epoch FROM acquired_at) * 1000)::bigint AS since_ms, \
    (extract(epoch FROM expires_at) * 1000)::bigint AS expires_ms, \
    expires_at > now() AS live";

fn decode(row: &sqlx::postgres::PgRow) -> Result<Lease> {
    let time = |col: &str| -> Result<DateTime<Utc>> {
        let ms: i64 = row.try_get(col).ctx("read a lease time")?;
        DateTime::from_timestamp_millis(ms)
            .ok_or_else(|| StoreError::Backend(anyhow::anyhow!("lease time {ms} out of range")))
    };
    Ok(Lease {
        name: row.try_get("name").ctx("read the lease name")?,
        holder: row.try_get("holder").ctx("read the lease holder")?,
        epoch: row.try_get("epoch").ctx("read the lease epoch")?,
        since: time("since_ms")?,
        expires_at: time("expires_ms")?,
        live: row.try_get("live").ctx("read the lease expiry")?,
    })
}

impl PgStore {
    /// Claims the lease for `holder` for `ttl`: renews it (same epoch) when `holder`
    /// holds it and it has not expired, takes it (epoch + 1) when it is free or expired,
    /// and otherwise leaves it. Returns the lease as it stands: held by `holder` or not.
    pub async fn claim_lease(&self, holder: &str, ttl: Duration) -> Result<Lease> {
        self.claim_named_lease(CONTROLLER, holder, ttl).await
    }

    /// [`PgStore::claim_lease`] for the lease `name`.
    pub async fn claim_named_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Lease> {
        let mut conn = self.read().await?;
        let claimed = sqlx::query(&format!(
            "INSERT INTO controller_lease AS l
                (name, holder, epoch, acquired_at, renewed_at, expires_at)
             VALUES ($1, $2, 1, now(), now(), now() + $3 * interval '1 millisecond')
             ON CONFLICT (name) DO UPDATE SET
                epoch = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > now()
                             THEN l.epoch ELSE l.epoch + 1 END,
                acquired_at = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > now()
                                   THEN l.acquired_at ELSE now() END,
                holder = EXCLUDED.holder,
                renewed_at = now(),
                expires_at = EXCLUDED.expires_at
             WHERE l.holder = EXCLUDED.holder OR l.expires_at <= now()
             RETURNING {COLUMNS}"
        ))
        .bind(name)
        .bind(holder)
        .bind(ttl.as_millis() as i64)
        .fetch_optional(&mut *conn)
        .await
        .ctx("claim the controller lease")?;
        match claimed {
            Some(row) => decode(&row),
            None => current(&mut conn, name)
                .await?
                .ok_or_else(|| StoreError::Backend(anyhow::anyhow!("the lease row vanished"))),
        }
    }

    /// Lets every lease `holder` holds go at once (a replica shutting down).
    pub async fn release_lease(&self, holder: &str) -> Result<()> {
        sqlx::query("UPDATE controller_lease SET expires_at = now() WHERE holder = $1")
            .bind(holder)
            .execute(&mut *self.read().await?)
            .await
            .ctx("release the controller lease")?;
        Ok(())
    }

    /// The [`CONTROLLER`] lease as it stands (`None`: never claimed).
    pub async fn lease(&self) -> Result<Option<Lease>> {
        current(&mut *self.read().await?, CONTROLLER).await
    }

    /// Every lease ever claimed, by name.
    pub async fn leases(&self) -> Result<Vec<Lease>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM controller_lease ORDER BY name"
        ))
        .fetch_all(&mut *self.read().await?)
        .await
        .ctx("read the controller leases")?;
        rows.iter().map(decode).collect()
    }

    /// This store, whose object writes hold only while `epoch` is the live
    /// [`CONTROLLER`] lease's epoch.
    pub fn fenced(&self, epoch: i64) -> PgStore {
        self.fenced_by(CONTROLLER, epoch)
    }

    /// This store, whose object writes hold only while `epoch` is the live epoch of the
    /// lease `name`: what the controller of that lease's term writes through.
    pub fn fenced_by(&self, name: &str, epoch: i64) -> PgStore {
        PgStore {
            fence: Some((Arc::from(name), epoch)),
            ..self.clone()
        }
    }
}

async fn current(conn: &mut PgConnection, name: &str) -> Result<Option<Lease>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM controller_lease WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(&mut *conn)
    .await
    .ctx("read the controller lease")?;
    row.as_ref().map(decode).transpose()
}

/// Inside a write transaction (after the write lock): refuses the write unless `epoch`
/// is the epoch of the live lease `name`.
pub(crate) async fn check_epoch(conn: &mut PgConnection, name: &str, epoch: i64) -> Result<()> {
    let lease = current(conn, name).await?;
    match lease {
        Some(l) if l.live && l.epoch == epoch => Ok(()),
        other => Err(CoreError::conflict(
            None,
            "controller-lease-lost",
            match other {
                Some(l) => format!(
                    "this write was decided under epoch {epoch} of lease {name}; the lease is at epoch {} ({}, held by {})",
                    l.epoch,
                    if l.live { "live" } else { "expired" },
                    l.holder
                ),
                None => format!("this write was decided under epoch {epoch} of lease {name}; no lease is held"),
            },
        )
        .into()),
    }
}
