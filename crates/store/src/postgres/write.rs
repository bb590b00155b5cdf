//! The one write path of every object: a [`WriteOp`] runs in the write transaction, and
//! what it plans is stored there with version checks, index claims, audit events and the
//! idempotency record, then committed.

use std::collections::HashSet;

use async_trait::async_trait;
use isthmus_core::object::IndexEntry;
use isthmus_core::{CoreError, Id, ProjectId};
use serde_json::Value;
use sqlx::PgConnection;

use super::audit::{self, NewEvent};
use super::codec::{time_text, Ctx};
use super::docs::{self, policy_text, PgTx};
use super::{detach, idempotency, PgStore};
use crate::doc::{CreateKey, Doc, DocStore, ObjectKey, Plan, Put, WriteOp, Written};
use crate::kinds::is_unique;
use crate::{Actor, Page, PageRequest, Result, StoreError};

fn parse_json(text: &str) -> Result<Value> {
    serde_json::from_str(text).ctx("decode a body for the audit log")
}

/// Starts a savepoint: a statement that fails aborts a PostgreSQL transaction, and the
/// 409 that names what a write collided with needs one more query in it.
async fn savepoint(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("SAVEPOINT guarded")
        .execute(&mut *conn)
        .await
        .ctx("set a savepoint")?;
    Ok(())
}

/// Ends the savepoint: released after a statement that succeeded, rolled back to after
/// one that failed, so the transaction stays usable.
async fn end_savepoint(conn: &mut PgConnection, succeeded: bool) -> Result<()> {
    let end = if succeeded {
        "RELEASE SAVEPOINT guarded"
    } else {
        "ROLLBACK TO SAVEPOINT guarded"
    };
    sqlx::query(end)
        .execute(&mut *conn)
        .await
        .ctx("end a savepoint")?;
    Ok(())
}

async fn insert(conn: &mut PgConnection, doc: &Doc) -> Result<()> {
    // Only a network can meet the exclusion constraint.
    let guard = doc.kind == NETWORK;
    if guard {
        savepoint(conn).await?;
    }
    let inserted = sqlx::query(
        "INSERT INTO resources (id, kind, plural, project_id, owner_id, on_owner_delete, status,
                                version, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(doc.id.to_string())
    .bind(doc.kind)
    .bind(doc.plural)
    .bind(doc.project_id.to_string())
    .bind(doc.owner.map(|(id, _)| id.to_string()))
    .bind(doc.owner.map(|(_, policy)| policy_text(policy)))
    .bind(&doc.status)
    .bind(doc.version as i64)
    .bind(&doc.body)
    .bind(time_text(doc.created_at))
    .execute(&mut *conn)
    .await;
    if guard {
        end_savepoint(conn, inserted.is_ok()).await?;
    }
    match inserted {
        Err(sqlx::Error::Database(e)) if e.constraint() == Some(NETWORK_OVERLAP) => {
            Err(overlap(conn, doc).await)
        }
        other => other
            .map(drop)
            .with_ctx(|| format!("insert {} {}", doc.kind, doc.id)),
    }
}

/// The kind whose rows the exclusion constraint reads (its name in the migration).
const NETWORK: &str = "network";

/// The exclusion constraint that backs the network overlap rule (migration 0001).
const NETWORK_OVERLAP: &str = "networks_do_not_overlap";

/// The 409 of the overlap rule, for a network the database refused although the rule
/// let it through: the same problem a client gets from the rule, naming the network held.
async fn overlap(conn: &mut PgConnection, doc: &Doc) -> StoreError {
    let held: Result<Option<(String, String, String, String)>> = sqlx::query_as(
        "SELECT o.id, o.body::jsonb ->> 'name', o.net_cidr::text, n.net_provider || ' ' || n.net_region
         FROM resources o,
              (SELECT $1::text AS project_id,
                      $2::jsonb ->> 'provider' AS net_provider,
                      $2::jsonb ->> 'region' AS net_region,
                      ($2::jsonb ->> 'cidr_block')::cidr AS net_cidr) n
         WHERE o.project_id = n.project_id AND o.net_provider = n.net_provider
           AND o.net_region = n.net_region AND o.net_cidr && n.net_cidr
           AND o.status <> 'deleted'
         ORDER BY o.id LIMIT 1",
    )
    .bind(doc.project_id.to_string())
    .bind(&doc.body)
    .fetch_optional(&mut *conn)
    .await
    .ctx("find the network an overlap is with");
    let cidr = serde_json::from_str::<Value>(&doc.body)
        .ok()
        .and_then(|b| {
            b.get("cidr_block")
                .and_then(|c| c.as_str())
                .map(String::from)
        })
        .unwrap_or_default();
    let message = match held {
        Ok(Some((id, name, other, place))) => {
            format!("{cidr} overlaps network '{name}' ({id}, {other}) in {place}")
        }
        Ok(None) => format!("{cidr} overlaps another network of the project"),
        Err(e) => return e,
    };
    CoreError::conflict(Some("cidr_block"), "network-overlap", message).into()
}

/// Writes `doc` over the stored row at version `expected` (compare-and-swap).
async fn replace(conn: &mut PgConnection, doc: &Doc, expected: u64) -> Result<()> {
    let done = sqlx::query(
        "UPDATE resources SET plural = $1, owner_id = $2, on_owner_delete = $3, status = $4,
                              version = $5, body = $6
         WHERE id = $7 AND kind = $8 AND version = $9",
    )
    .bind(doc.plural)
    .bind(doc.owner.map(|(id, _)| id.to_string()))
    .bind(doc.owner.map(|(_, policy)| policy_text(policy)))
    .bind(&doc.status)
    .bind(doc.version as i64)
    .bind(&doc.body)
    .bind(doc.id.to_string())
    .bind(doc.kind)
    .bind(expected as i64)
    .execute(&mut *conn)
    .await
    .with_ctx(|| format!("update {} {}", doc.kind, doc.id))?;
    if done.rows_affected() == 1 {
        return Ok(());
    }
    Err(match docs::get(conn, doc.kind, doc.id).await? {
        Some(stored) => CoreError::VersionMismatch {
            kind: doc.kind,
            id: doc.id.to_string(),
            expected,
            actual: stored.version,
        },
        None => CoreError::not_found(doc.kind, doc.id),
    }
    .into())
}

/// Replaces the claims of `put`'s doc (or drops them, once it is `deleted`). A claim in a
/// unique index that another live object holds fails the write with a 409, whatever the
/// kind's rules decided: the database's unique index refuses it (migration 0001).
async fn claim(conn: &mut PgConnection, put: &Put, new: bool) -> Result<()> {
    let doc = &put.doc;
    let claims = match &put.index {
        _ if !doc.is_live() => &[][..],
        Some(claims) => claims.as_slice(),
        None => return Ok(()),
    };
    if !new {
        sqlx::query("DELETE FROM resource_index WHERE resource_id = $1")
            .bind(doc.id.to_string())
            .execute(&mut *conn)
            .await
            .with_ctx(|| format!("release the claims of {} {}", doc.kind, doc.id))?;
    }
    let mut seen = HashSet::new();
    for c in claims.iter().filter(|&c| seen.insert(c)) {
        let unique = is_unique(c.index);
        if unique && c.start != c.end {
            return Err(StoreError::Backend(anyhow::anyhow!(
                "{} {} claims {}..={} in the unique index {}: unique claims are single values",
                doc.kind,
                doc.id,
                c.start,
                c.end,
                c.index
            )));
        }
        if unique {
            savepoint(conn).await?;
        }
        let inserted = sqlx::query(
            "INSERT INTO resource_index
                (index_name, scope, range_start, range_end, resource_id, is_unique)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(c.index)
        .bind(&c.scope)
        .bind(i64::from(c.start))
        .bind(i64::from(c.end))
        .bind(doc.id.to_string())
        .bind(unique)
        .execute(&mut *conn)
        .await;
        if unique {
            end_savepoint(conn, inserted.is_ok()).await?;
        }
        match inserted {
            Err(sqlx::Error::Database(e)) if unique && e.is_unique_violation() => {
                return Err(taken(conn, c, doc).await);
            }
            other => other.with_ctx(|| format!("claim {} for {} {}", c.index, doc.kind, doc.id))?,
        };
    }
    Ok(())
}

/// The 409 for a unique claim `c` of `doc` that another object holds, naming it.
async fn taken(conn: &mut PgConnection, c: &IndexEntry, doc: &Doc) -> StoreError {
    let holder: Result<Option<(String, String)>> = sqlx::query_as(
        "SELECT r.kind, r.id FROM resource_index i JOIN resources r ON r.id = i.resource_id
         WHERE i.index_name = $1 AND i.scope = $2 AND i.range_start = $3 AND i.is_unique",
    )
    .bind(c.index)
    .bind(&c.scope)
    .bind(i64::from(c.start))
    .fetch_optional(&mut *conn)
    .await
    .ctx("find the holder of a unique claim");
    let holder = match holder {
        Ok(Some((kind, id))) => format!("{kind} {id}"),
        Ok(None) => "another object".to_string(),
        Err(e) => return e,
    };
    // Every index today holds IPv4 addresses as integers.
    let value = std::net::Ipv4Addr::from(c.start);
    CoreError::conflict(
        None,
        &format!("{}-taken", c.index.replace('_', "-")),
        format!(
            "{} {} of {} {} is already claimed by {holder}",
            c.index, value, doc.kind, doc.id
        ),
    )
    .into()
}

/// Stores one planned doc with its claims and its audit event.
pub(crate) async fn put(conn: &mut PgConnection, actor: &Actor, put: &Put) -> Result<()> {
    let doc = &put.doc;
    match put.expected_version {
        None => insert(conn, doc).await?,
        Some(expected) => replace(conn, doc, expected).await?,
    }
    claim(conn, put, put.expected_version.is_none()).await?;
    let Some(action) = put.action else {
        return Ok(());
    };
    audit::append(
        conn,
        NewEvent {
            actor,
            time: put.at,
            action: format!("{}.{action}", doc.kind),
            project: Some(doc.project_id),
            resource_kind: doc.kind,
            resource_id: doc.id.to_string(),
            before: put.before.as_deref().map(parse_json).transpose()?,
            after: Some(parse_json(&doc.body)?),
        },
    )
    .await
}

impl PgStore {
    /// With `epoch`, the write holds only while that is the live controller lease's
    /// epoch (checked under the write lock, so no new leader's write comes in between).
    async fn write_tx(
        &self,
        actor: &Actor,
        idem: Option<&CreateKey>,
        mut op: Box<dyn WriteOp>,
        epoch: Option<i64>,
    ) -> Result<Written> {
        let mut tx = self.begin_write().await?;
        if let Some(epoch) = epoch {
            super::lease::check_epoch(&mut tx, epoch).await?;
        }
        if let Some(create) = idem {
            if let Some(doc) = idempotency::replay(&mut tx, create).await? {
                return Ok(Written {
                    docs: vec![doc],
                    replayed: true,
                });
            }
        }
        let puts = match op.run(&mut PgTx { conn: &mut tx }).await? {
            Plan::Unchanged(doc) => {
                return Ok(Written {
                    docs: vec![doc],
                    replayed: false,
                })
            }
            Plan::Put(puts) => puts,
        };
        let Some(first) = puts.first() else {
            // Nothing to write (what the op meant to change is gone): roll back.
            return Ok(Written {
                docs: Vec::new(),
                replayed: false,
            });
        };
        for p in &puts {
            put(&mut tx, actor, p).await?;
        }
        if let Some(create) = idem {
            idempotency::record(&mut tx, &create.key, &first.doc).await?;
        }
        let what = format!(
            "commit {} {}",
            first.doc.kind,
            first.action.unwrap_or("write")
        );
        tx.commit().await.with_ctx(|| what)?;
        Ok(Written {
            docs: puts.into_iter().map(|p| p.doc).collect(),
            replayed: false,
        })
    }
}

#[async_trait]
impl DocStore for PgStore {
    async fn get_doc(&self, kind: &str, id: Id) -> Result<Option<Doc>> {
        docs::get(&mut *self.read().await?, kind, id).await
    }
    async fn list_docs(
        &self,
        kind: &str,
        project: ProjectId,
        page: &PageRequest,
    ) -> Result<Page<Doc>> {
        docs::page(&mut *self.read().await?, kind, project, page).await
    }
    async fn owned_docs(&self, owner: Id, kind: Option<&str>) -> Result<Vec<Doc>> {
        docs::owned(&mut *self.read().await?, owner, kind).await
    }
    async fn live_docs(&self) -> Result<Vec<ObjectKey>> {
        docs::live(&mut *self.read().await?).await
    }
    async fn write(
        &self,
        actor: &Actor,
        idem: Option<&CreateKey>,
        op: Box<dyn WriteOp>,
    ) -> Result<Written> {
        let store = self.clone();
        let actor = actor.clone();
        let idem = idem.cloned();
        let fence = self.fence;
        detach(async move { store.write_tx(&actor, idem.as_ref(), op, fence).await }).await
    }
}
