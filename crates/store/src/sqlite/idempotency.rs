//! `Idempotency-Key` on creates: the first create with a key records (key, body hash,
//! resource) in its own transaction; a retry with the same body gets that resource back,
//! a reuse with another body is refused.

use isthmus_core::{CoreError, Id, ProjectId};
use sqlx::{Row, SqliteConnection};

use super::codec::{parse_id, Ctx, StoredResource};
use super::rows;
use crate::{IdempotencyKey, Result, StoreError};

/// The resource an earlier create with `key` made, if there was one.
pub(crate) async fn replay<R: StoredResource>(
    conn: &mut SqliteConnection,
    key: &IdempotencyKey,
    project: ProjectId,
) -> Result<Option<R>> {
    let row = sqlx::query(
        "SELECT request_hash, resource_kind, resource_id FROM idempotency WHERE scope = ?1 AND key = ?2",
    )
    .bind(&key.scope)
    .bind(&key.key)
    .fetch_optional(&mut *conn)
    .await
    .ctx("look up idempotency key")?;
    let Some(row) = row else { return Ok(None) };
    let mismatch = || StoreError::IdempotencyMismatch {
        key: key.key.clone(),
    };
    let hash: String = row.try_get("request_hash").ctx("read idempotency hash")?;
    let kind: String = row.try_get("resource_kind").ctx("read idempotency kind")?;
    if hash != key.request_hash || kind != R::KIND.as_str() {
        return Err(mismatch());
    }
    let id: Id = parse_id(
        row.try_get("resource_id")
            .ctx("read idempotency resource")?,
    )?;
    // The same key and body for another project is not the same request.
    match rows::get_in_project::<R>(conn, project, id).await {
        Ok(r) => Ok(Some(r)),
        Err(StoreError::Core(CoreError::NotFound { .. })) => Err(mismatch()),
        Err(e) => Err(e),
    }
}

pub(crate) async fn record<R: StoredResource>(
    conn: &mut SqliteConnection,
    key: &IdempotencyKey,
    created: &R,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO idempotency (scope, key, request_hash, resource_kind, resource_id)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(&key.scope)
    .bind(&key.key)
    .bind(&key.request_hash)
    .bind(R::KIND.as_str())
    .bind(created.id().to_string())
    .execute(&mut *conn)
    .await
    .ctx("record idempotency key")?;
    Ok(())
}
