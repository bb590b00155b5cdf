//! The one write path of every object: a [`WriteOp`] runs in the write transaction, and
//! what it plans is stored there with version checks, index claims, audit events and the
//! idempotency record, then committed.

use std::collections::HashSet;

use async_trait::async_trait;
use isthmus_core::object::IndexEntry;
use isthmus_core::{CoreError, Id, ProjectId};

use super::audit::{self, NewEvent};
use super::codec::{time_text, Ctx};
use super::docs::{self, policy_text, ConnTx};
use super::query::{query, Conn, Get};
use super::{idempotency, Backend, Commit};
use crate::doc::{CreateKey, Doc, DocStore, ObjectKey, Plan, Put, WriteOp, Written};
use crate::kinds::is_unique;
use crate::{Actor, Page, PageRequest, Result, StoreError};

/// What the write path needs of a backend: its connection, and whether (and how) a
/// failed statement is survived. Every [`Backend`] has them; the SQLite group commit
/// also runs writes on its writer's handle directly (`sqlite/raw.rs`), with SQLite's.
#[async_trait]
pub(crate) trait Hooks: Send + Sync + 'static {
    type Conn: Conn;
    const SAVEPOINTS: bool;
    fn backstops(kind: &str) -> bool;
    async fn backstop(conn: &mut Self::Conn, e: &sqlx::Error, doc: &Doc) -> Option<StoreError>;
}

#[async_trait]
impl<B: Backend> Hooks for B {
    type Conn = B::Conn;
    const SAVEPOINTS: bool = B::SAVEPOINTS;
    fn backstops(kind: &str) -> bool {
        B::backstops(kind)
    }
    async fn backstop(conn: &mut B::Conn, e: &sqlx::Error, doc: &Doc) -> Option<StoreError> {
        B::backstop(conn, e, doc).await
    }
}

/// Runs `statement` in a savepoint where a failed statement aborts the transaction
/// (PostgreSQL), so that the transaction stays usable for the query that names what the
/// write collided with.
async fn guarded<B: Hooks>(
    conn: &mut B::Conn,
    statement: super::query::Q,
) -> std::result::Result<u64, sqlx::Error> {
    if !B::SAVEPOINTS {
        return statement.execute(conn).await;
    }
    query("SAVEPOINT guarded").execute(conn).await?;
    let outcome = statement.execute(conn).await;
    let end = match outcome {
        Ok(_) => "RELEASE SAVEPOINT guarded",
        Err(_) => "ROLLBACK TO SAVEPOINT guarded",
    };
    query(end).execute(conn).await?;
    outcome
}

async fn insert<B: Hooks>(conn: &mut B::Conn, doc: &Doc) -> Result<()> {
    let statement = query(
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
    .bind(time_text(doc.created_at));
    let inserted = if B::backstops(doc.kind) {
        guarded::<B>(conn, statement).await
    } else {
        statement.execute(conn).await
    };
    match inserted {
        Err(e) => match B::backstop(conn, &e, doc).await {
            Some(refused) => Err(refused),
            None => Err(e).with_ctx(|| format!("insert {} {}", doc.kind, doc.id)),
        },
        Ok(_) => Ok(()),
    }
}

/// Writes `doc` over the stored row at version `expected` (compare-and-swap).
async fn replace<C: Conn>(conn: &mut C, doc: &Doc, expected: u64) -> Result<()> {
    let done = query(
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
    if done == 1 {
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
/// kind's rules decided: the database's unique index refuses it (migration 0007).
async fn claim<B: Hooks>(conn: &mut B::Conn, put: &Put, new: bool) -> Result<()> {
    let doc = &put.doc;
    let claims = match &put.index {
        _ if !doc.is_live() => &[][..],
        Some(claims) => claims.as_slice(),
        None => return Ok(()),
    };
    if !new {
        query("DELETE FROM resource_index WHERE resource_id = $1")
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
        let statement = query(
            "INSERT INTO resource_index
                (index_name, scope, range_start, range_end, resource_id, is_unique)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(c.index)
        .bind(&c.scope)
        .bind(i64::from(c.start))
        .bind(i64::from(c.end))
        .bind(doc.id.to_string())
        .bind(unique);
        // Only a unique claim can meet another object's.
        let inserted = if unique {
            guarded::<B>(conn, statement).await
        } else {
            statement.execute(conn).await
        };
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
async fn taken<C: Conn>(conn: &mut C, c: &IndexEntry, doc: &Doc) -> StoreError {
    let holder: Result<Option<(String, String)>> = query(
        "SELECT r.kind, r.id FROM resource_index i JOIN resources r ON r.id = i.resource_id
         WHERE i.index_name = $1 AND i.scope = $2 AND i.range_start = $3 AND i.is_unique = $4",
    )
    .bind(c.index)
    .bind(&c.scope)
    .bind(i64::from(c.start))
    .bind(true)
    .fetch_optional(&mut *conn)
    .await
    .ctx("find the holder of a unique claim")
    .and_then(|row| {
        row.map(|row| Ok::<_, sqlx::Error>((row.try_get("kind")?, row.try_get("id")?)))
            .transpose()
            .ctx("read the holder of a unique claim")
    });
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
pub(crate) async fn put<B: Hooks>(conn: &mut B::Conn, actor: &Actor, put: &Put) -> Result<()> {
    let doc = &put.doc;
    match put.expected_version {
        None => insert::<B>(conn, doc).await?,
        Some(expected) => replace(conn, doc, expected).await?,
    }
    claim::<B>(conn, put, put.expected_version.is_none()).await?;
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
            before: put.before.clone(),
            after: Some(doc.body.clone()),
        },
    )
    .await
}

/// Runs an object write in a transaction of its own: the write lock, the fence, the
/// write, the commit.
pub(crate) async fn write_tx<B: Backend>(
    store: &B,
    actor: &Actor,
    idem: Option<&CreateKey>,
    op: Box<dyn WriteOp>,
) -> Result<Written> {
    let mut tx = store.begin_write().await?;
    store.check_fence(&mut tx).await?;
    let (written, what) = write_in::<B>(&mut tx, actor, idem, op).await?;
    if let Some(what) = what {
        tx.commit().await.with_ctx(|| what)?;
    }
    Ok(written)
}

/// Runs an object write inside an open write transaction: the idempotency replay, the
/// op, and its puts. With something written, also says what to name a failed commit.
pub(crate) async fn write_in<B: Hooks>(
    tx: &mut B::Conn,
    actor: &Actor,
    idem: Option<&CreateKey>,
    mut op: Box<dyn WriteOp>,
) -> Result<(Written, Option<String>)> {
    if let Some(create) = idem {
        if let Some(doc) = idempotency::replay(&mut *tx, create).await? {
            let replayed = Written {
                docs: vec![doc],
                replayed: true,
            };
            return Ok((replayed, None));
        }
    }
    let puts = match op.run(&mut ConnTx { conn: &mut *tx }).await? {
        Plan::Unchanged(doc) => {
            let unchanged = Written {
                docs: vec![doc],
                replayed: false,
            };
            return Ok((unchanged, None));
        }
        Plan::Put(puts) => puts,
    };
    let Some(first) = puts.first() else {
        // Nothing to write (what the op meant to change is gone).
        let nothing = Written {
            docs: Vec::new(),
            replayed: false,
        };
        return Ok((nothing, None));
    };
    for p in &puts {
        put::<B>(&mut *tx, actor, p).await?;
    }
    if let Some(create) = idem {
        idempotency::record(&mut *tx, &create.key, &first.doc).await?;
    }
    let what = format!(
        "commit {} {}",
        first.doc.kind,
        first.action.unwrap_or("write")
    );
    let written = Written {
        docs: puts.into_iter().map(|p| p.doc).collect(),
        replayed: false,
    };
    Ok((written, Some(what)))
}

#[async_trait]
impl<B: Backend> DocStore for B {
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
    async fn docs_claiming(
        &self,
        index: &str,
        scope: &str,
        value: u32,
    ) -> Result<Option<Vec<Doc>>> {
        let mut conn = self.read().await?;
        let claims = docs::claims_meeting(&mut *conn, index, scope, value, value).await?;
        Ok(Some(claims.into_iter().map(|c| c.doc).collect()))
    }
    async fn write(
        &self,
        actor: &Actor,
        idem: Option<&CreateKey>,
        op: Box<dyn WriteOp>,
    ) -> Result<Written> {
        self.write_docs(actor.clone(), idem.cloned(), op).await
    }
}
