//! The controller lease of several replicas (migration 0002): one row, claimed by the
//! replica that runs the controller and renewed every few seconds; a holder that stops
//! renewing loses it when it expires, and the next holder gets a greater epoch. An object
//! write made through [`PgStore::fenced`] names the epoch it was decided under and is refused (409
//! `controller-lease-lost`) in its own transaction once the lease moved on, so a leader
//! paused past its lease cannot overwrite its successor's work.

use std::time::Duration;

use chrono::{DateTime, Utc};
use isthmus_core::CoreError;
use sqlx::{PgConnection, Row};

use super::PgStore;
use crate::sql::codec::Ctx;
use crate::sql::Backend;
use crate::{Result, StoreError};

const NAME: &str = "controller";

/// Who holds the lease, since when, under which epoch (database clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    pub epoch: i64,
    pub since: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Not expired when read.
    pub live: bool,
}

const COLUMNS: &str = "holder, epoch, \
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
        .bind(NAME)
        .bind(holder)
        .bind(ttl.as_millis() as i64)
        .fetch_optional(&mut *conn)
        .await
        .ctx("claim the controller lease")?;
        match claimed {
            Some(row) => decode(&row),
            None => current(&mut conn)
                .await?
                .ok_or_else(|| StoreError::Backend(anyhow::anyhow!("the lease row vanished"))),
        }
    }

    /// Lets the lease go at once (a replica shutting down), if `holder` holds it.
    pub async fn release_lease(&self, holder: &str) -> Result<()> {
        sqlx::query(
            "UPDATE controller_lease SET expires_at = now() WHERE name = $1 AND holder = $2",
        )
        .bind(NAME)
        .bind(holder)
        .execute(&mut *self.read().await?)
        .await
        .ctx("release the controller lease")?;
        Ok(())
    }

    /// The lease as it stands (`None`: never claimed).
    pub async fn lease(&self) -> Result<Option<Lease>> {
        current(&mut *self.read().await?).await
    }

    /// This store, whose object writes hold only while `epoch` is the live lease's
    /// epoch: what the leader's controller writes through.
    pub fn fenced(&self, epoch: i64) -> PgStore {
        PgStore {
            fence: Some(epoch),
            ..self.clone()
        }
    }
}

async fn current(conn: &mut PgConnection) -> Result<Option<Lease>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM controller_lease WHERE name = $1"
    ))
    .bind(NAME)
    .fetch_optional(&mut *conn)
    .await
    .ctx("read the controller lease")?;
    row.as_ref().map(decode).transpose()
}

/// Inside a write transaction (after the write lock): refuses the write unless `epoch`
/// is the epoch of the live lease.
pub(crate) async fn check_epoch(conn: &mut PgConnection, epoch: i64) -> Result<()> {
    let lease = current(conn).await?;
    match lease {
        Some(l) if l.live && l.epoch == epoch => Ok(()),
        other => Err(CoreError::conflict(
            None,
            "controller-lease-lost",
            match other {
                Some(l) => format!(
                    "this write was decided under controller epoch {epoch}; the lease is at epoch {} ({}, held by {})",
                    l.epoch,
                    if l.live { "live" } else { "expired" },
                    l.holder
                ),
                None => format!("this write was decided under controller epoch {epoch}; no lease is held"),
            },
        )
        .into()),
    }
}
