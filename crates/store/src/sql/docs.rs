//! Objects of every kind in the `resources` table, and their claims in `resource_index`
//! (SQLite's migration 0006, PostgreSQL's 0001). Every function takes a connection, so the
//! same query serves a read connection and the write transaction ([`ConnTx`]).

use super::query::{query, Conn, Get};
use async_trait::async_trait;
use isthmus_core::object::OnOwnerDelete;
use isthmus_core::{Id, ProjectId};

use super::codec::{page_limit, page_of, parse_id, parse_time, Ctx};
use crate::doc::{kind_name, Claim, Doc, ObjectKey, Tx, DELETED};
use crate::{Page, PageRequest, Result, StoreError};

/// The columns of a doc, on `resources` aliased `r`.
const COLUMNS: &str = "r.id, r.kind, r.plural, r.project_id, r.owner_id, r.on_owner_delete, \
                       r.status, r.version, r.body, r.created_at";

pub(crate) fn policy_text(policy: OnOwnerDelete) -> &'static str {
    match policy {
        OnOwnerDelete::Block => "block",
        OnOwnerDelete::Cascade => "cascade",
    }
}

fn decode<R: Get>(row: &R) -> Result<Doc> {
    let id: Id = parse_id(row.try_get("id").ctx("read resource id")?)?;
    let owner: Option<&str> = row.try_get("owner_id").ctx("read resource owner")?;
    let policy: Option<&str> = row.try_get("on_owner_delete").ctx("read owner policy")?;
    let owner = match (owner, policy) {
        (None, _) => None,
        (Some(owner), Some("block")) => Some((parse_id(owner)?, OnOwnerDelete::Block)),
        (Some(owner), Some("cascade")) => Some((parse_id(owner)?, OnOwnerDelete::Cascade)),
        (Some(_), other) => {
            return Err(StoreError::Backend(anyhow::anyhow!(
                "resource {id} has an owner but no known policy ({other:?})"
            )))
        }
    };
    Ok(Doc {
        kind: kind_name(row.try_get("kind").ctx("read resource kind")?),
        plural: kind_name(row.try_get("plural").ctx("read resource plural")?),
        id,
        project_id: parse_id(row.try_get("project_id").ctx("read resource project")?)?,
        owner,
        status: row.try_get("status").ctx("read resource status")?,
        version: row.try_get::<i64>("version").ctx("read resource version")? as u64,
        created_at: parse_time(row.try_get("created_at").ctx("read resource time")?)?,
        body: row.try_get("body").ctx("read resource body")?,
    })
}

pub(crate) async fn get<C: Conn>(conn: &mut C, kind: &str, id: Id) -> Result<Option<Doc>> {
    let row = query(format!(
        "SELECT {COLUMNS} FROM resources r WHERE r.id = $1 AND r.kind = $2"
    ))
    .bind(id.to_string())
    .bind(kind)
    .fetch_optional(&mut *conn)
    .await
    .with_ctx(|| format!("load {kind} {id}"))?;
    row.as_ref().map(decode).transpose()
}

/// One page of `project`'s docs of `kind`. The cursor is the last id of the previous page.
pub(crate) async fn page<C: Conn>(
    conn: &mut C,
    kind: &str,
    project: ProjectId,
    page: &PageRequest,
) -> Result<Page<Doc>> {
    let limit = page_limit(page);
    let after = page.cursor.clone().unwrap_or_default();
    let rows = query(format!(
        "SELECT {COLUMNS} FROM resources r
         WHERE r.kind = $1 AND r.project_id = $2 AND r.id > $3 AND ($4 OR r.status != $5)
         ORDER BY r.id LIMIT $6"
    ))
    .bind(kind)
    .bind(project.to_string())
    .bind(&after)
    .bind(page.include_deleted)
    .bind(DELETED)
    .bind(i64::from(limit) + 1)
    .fetch_all(&mut *conn)
    .await
    .with_ctx(|| format!("list {kind}s of project {project}"))?;
    page_of(&rows, limit, decode, |d| d.id.to_string())
}

pub(crate) async fn owned<C: Conn>(
    conn: &mut C,
    owner: Id,
    kind: Option<&str>,
) -> Result<Vec<Doc>> {
    let rows = query(format!(
        "SELECT {COLUMNS} FROM resources r
         WHERE r.owner_id = $1 AND ($2 IS NULL OR r.kind = $2) AND r.status != $3
         ORDER BY r.id"
    ))
    .bind(owner.to_string())
    .bind(kind)
    .bind(DELETED)
    .fetch_all(&mut *conn)
    .await
    .with_ctx(|| format!("list {}s of {owner}", kind.unwrap_or("resource")))?;
    rows.iter().map(decode).collect()
}

/// Uses the index's key (name, scope, start, end) and the longest claim of the index and
/// scope (migration 0009): only claims starting at most that far below `start` can reach
/// it, so a network create in a project with thousands of networks reads a handful of
/// rows rather than every claim below its end.
pub(crate) async fn claims_meeting<C: Conn>(
    conn: &mut C,
    index: &str,
    scope: &str,
    start: u32,
    end: u32,
) -> Result<Vec<Claim>> {
    let rows = query(format!(
        "SELECT i.range_start, i.range_end, {COLUMNS}
         FROM resource_index i JOIN resources r ON r.id = i.resource_id
         WHERE i.index_name = $1 AND i.scope = $2 AND i.range_start <= $3 AND i.range_end >= $4
           AND i.range_start >= $4 - (
               SELECT coalesce(max(l.range_end - l.range_start), 0) FROM resource_index l
               WHERE l.index_name = $1 AND l.scope = $2)
           AND r.status != $5
         ORDER BY r.id, i.range_start"
    ))
    .bind(index)
    .bind(scope)
    .bind(i64::from(end))
    .bind(i64::from(start))
    .bind(DELETED)
    .fetch_all(&mut *conn)
    .await
    .with_ctx(|| format!("list claims in {index} meeting a range"))?;
    rows.iter()
        .map(|row| {
            let value = |col: &str| -> Result<u32> {
                let v: i64 = row.try_get(col).ctx("read a claim")?;
                u32::try_from(v).map_err(|_| {
                    StoreError::Backend(anyhow::anyhow!("stored claim value {v} is not a u32"))
                })
            };
            Ok(Claim {
                start: value("range_start")?,
                end: value("range_end")?,
                doc: decode(row)?,
            })
        })
        .collect()
}

pub(crate) async fn live<C: Conn>(conn: &mut C) -> Result<Vec<ObjectKey>> {
    let rows = query("SELECT kind, id FROM resources WHERE status != $1 ORDER BY id")
        .bind(DELETED)
        .fetch_all(&mut *conn)
        .await
        .ctx("list live resources")?;
    rows.iter()
        .map(|row| {
            Ok(ObjectKey {
                kind: kind_name(row.try_get("kind").ctx("read resource kind")?),
                id: parse_id(row.try_get("id").ctx("read resource id")?)?,
            })
        })
        .collect()
}

pub(crate) async fn project_exists<C: Conn>(conn: &mut C, id: ProjectId) -> Result<bool> {
    let found = query("SELECT id FROM projects WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .with_ctx(|| format!("look up project {id}"))?;
    Ok(found.is_some())
}

/// The reads of a write op, on the write transaction's connection.
pub(crate) struct ConnTx<'c, C> {
    pub conn: &'c mut C,
}

#[async_trait]
impl<C: Conn> Tx for ConnTx<'_, C> {
    async fn project_exists(&mut self, project: ProjectId) -> Result<bool> {
        project_exists(self.conn, project).await
    }
    async fn get(&mut self, kind: &str, id: Id) -> Result<Option<Doc>> {
        get(self.conn, kind, id).await
    }
    async fn owned(&mut self, owner: Id, kind: Option<&str>) -> Result<Vec<Doc>> {
        owned(self.conn, owner, kind).await
    }
    async fn claims_meeting(
        &mut self,
        index: &str,
        scope: &str,
        start: u32,
        end: u32,
    ) -> Result<Vec<Claim>> {
        claims_meeting(self.conn, index, scope, start, end).await
    }
}
