//! `Idempotency-Key` on creates: the first create with a key records (key, body hash,
//! resource) in its own transaction; a retry with the same body gets that resource back,
//! a reuse with another body is refused.

use super::query::{query, Conn, Get};
use isthmus_core::Id;

use super::codec::{parse_id, Ctx};
use super::docs;
use crate::doc::{CreateKey, Doc};
use crate::{IdempotencyKey, Result, StoreError};

/// The doc an earlier create with this key made, if there was one.
pub(crate) async fn replay<C: Conn>(conn: &mut C, create: &CreateKey) -> Result<Option<Doc>> {
    let key = &create.key;
    let row = query(
        "SELECT request_hash, resource_kind, resource_id FROM idempotency WHERE scope = $1 AND key = $2",
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
    if hash != key.request_hash || kind != create.kind {
        return Err(mismatch());
    }
    let id: Id = parse_id(
        row.try_get("resource_id")
            .ctx("read idempotency resource")?,
    )?;
    // The same key and body for another project is not the same request.
    match docs::get(conn, create.kind, id).await? {
        Some(doc) if doc.project_id == create.project => Ok(Some(doc)),
        _ => Err(mismatch()),
    }
}

pub(crate) async fn record<C: Conn>(
    conn: &mut C,
    key: &IdempotencyKey,
    created: &Doc,
) -> Result<()> {
    query(
        "INSERT INTO idempotency (scope, key, request_hash, resource_kind, resource_id)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&key.scope)
    .bind(&key.key)
    .bind(&key.request_hash)
    .bind(created.kind)
    .bind(created.id.to_string())
    .execute(&mut *conn)
    .await
    .ctx("record idempotency key")?;
    Ok(())
}
