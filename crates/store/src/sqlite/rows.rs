//! The `resources` table: networks, peerings and clusters as JSON bodies with indexed
//! columns. Every function takes a connection, so a caller decides whether it runs inside
//! the write transaction or on a read connection.

use isthmus_core::resources::Network;
use isthmus_core::{CoreError, Id, NetworkId, ProjectId};
use sqlx::{Row, SqliteConnection};

use super::codec::{page_limit, time_text, to_json, Ctx, StoredResource};
use crate::{Page, PageRequest, Result, StoreError};

const DELETED: &str = "deleted";

fn decode<R: StoredResource>(row: &sqlx::sqlite::SqliteRow) -> Result<R> {
    let body: &str = row.try_get("body").ctx("read resource body")?;
    serde_json::from_str(body).with_ctx(|| format!("decode stored {}", R::KIND.as_str()))
}

/// The resource `id` of kind `R` in `project`; anything else (missing, another kind,
/// another project) is the same `NotFound`, so ids never leak across projects.
pub(crate) async fn get_in_project<R: StoredResource>(
    conn: &mut SqliteConnection,
    project: ProjectId,
    id: Id,
) -> Result<R> {
    let row =
        sqlx::query("SELECT body FROM resources WHERE id = ?1 AND kind = ?2 AND project_id = ?3")
            .bind(id.to_string())
            .bind(R::KIND.as_str())
            .bind(project.to_string())
            .fetch_optional(&mut *conn)
            .await
            .with_ctx(|| format!("load {} {id}", R::KIND.as_str()))?;
    match row {
        Some(row) => decode(&row),
        None => Err(CoreError::not_found(R::KIND.as_str(), id).into()),
    }
}

/// The resource `id` of kind `R` in any project (for the controller).
pub(crate) async fn get_any<R: StoredResource>(
    conn: &mut SqliteConnection,
    id: Id,
) -> Result<Option<R>> {
    let row = sqlx::query("SELECT body FROM resources WHERE id = ?1 AND kind = ?2")
        .bind(id.to_string())
        .bind(R::KIND.as_str())
        .fetch_optional(&mut *conn)
        .await
        .with_ctx(|| format!("load {} {id}", R::KIND.as_str()))?;
    row.as_ref().map(decode).transpose()
}

/// The live networks of `project` whose range shares an address with `start..=end`: the
/// only ones the overlap rule can object to. Uses the range index, so a create in a
/// project with thousands of networks reads a handful of rows.
pub(crate) async fn live_networks_overlapping(
    conn: &mut SqliteConnection,
    project: ProjectId,
    start: u32,
    end: u32,
) -> Result<Vec<Network>> {
    let rows = sqlx::query(
        "SELECT body FROM resources
         WHERE kind = 'network' AND project_id = ?1 AND range_start <= ?2 AND range_end >= ?3
           AND status != ?4
         ORDER BY id",
    )
    .bind(project.to_string())
    .bind(i64::from(end))
    .bind(i64::from(start))
    .bind(DELETED)
    .fetch_all(&mut *conn)
    .await
    .with_ctx(|| format!("list networks of project {project} overlapping a range"))?;
    rows.iter().map(decode).collect()
}

/// Fills the range columns of networks stored before they existed (migration 0003).
pub(crate) async fn backfill_network_ranges(conn: &mut SqliteConnection) -> Result<()> {
    let rows =
        sqlx::query("SELECT body FROM resources WHERE kind = 'network' AND range_start IS NULL")
            .fetch_all(&mut *conn)
            .await
            .ctx("list networks without a range")?;
    for row in &rows {
        let n: Network = decode(row)?;
        sqlx::query("UPDATE resources SET range_start = ?1, range_end = ?2 WHERE id = ?3")
            .bind(i64::from(n.cidr_block.start()))
            .bind(i64::from(n.cidr_block.end()))
            .bind(n.id.to_string())
            .execute(&mut *conn)
            .await
            .with_ctx(|| format!("fill the range of network {}", n.id))?;
    }
    Ok(())
}

/// Every resource of kind `R` placed on `network` that is not `deleted`.
pub(crate) async fn live_on_network<R: StoredResource>(
    conn: &mut SqliteConnection,
    network: NetworkId,
) -> Result<Vec<R>> {
    let rows = sqlx::query(
        "SELECT body FROM resources WHERE network_id = ?1 AND kind = ?2 AND status != ?3 ORDER BY id",
    )
    .bind(network.to_string())
    .bind(R::KIND.as_str())
    .bind(DELETED)
    .fetch_all(&mut *conn)
    .await
    .with_ctx(|| format!("list {}s of network {network}", R::KIND.as_str()))?;
    rows.iter().map(decode).collect()
}

/// One page of `project`'s resources of kind `R`, in id (= creation) order. The cursor is
/// the last id of the previous page.
pub(crate) async fn page_in_project<R: StoredResource>(
    conn: &mut SqliteConnection,
    project: ProjectId,
    page: &PageRequest,
) -> Result<Page<R>> {
    let limit = page_limit(page);
    let after = page.cursor.clone().unwrap_or_default();
    let rows = sqlx::query(
        "SELECT id, body FROM resources
         WHERE kind = ?1 AND project_id = ?2 AND id > ?3 AND (?4 OR status != ?5)
         ORDER BY id LIMIT ?6",
    )
    .bind(R::KIND.as_str())
    .bind(project.to_string())
    .bind(&after)
    .bind(page.include_deleted)
    .bind(DELETED)
    .bind(i64::from(limit) + 1)
    .fetch_all(&mut *conn)
    .await
    .with_ctx(|| format!("list {}s of project {project}", R::KIND.as_str()))?;
    let more = rows.len() > limit as usize;
    let rows = &rows[..rows.len().min(limit as usize)];
    let next_cursor = match (more, rows.last()) {
        (true, Some(last)) => Some(last.try_get::<String, _>("id").ctx("read resource id")?),
        _ => None,
    };
    let items = rows.iter().map(decode).collect::<Result<_>>()?;
    Ok(Page { items, next_cursor })
}

pub(crate) async fn insert<R: StoredResource>(conn: &mut SqliteConnection, r: &R) -> Result<()> {
    sqlx::query(
        "INSERT INTO resources
            (id, kind, project_id, network_id, status, version, body, created_at, range_start, range_end)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .bind(r.id().to_string())
    .bind(R::KIND.as_str())
    .bind(r.project_id().to_string())
    .bind(r.network_id().map(|n| n.to_string()))
    .bind(r.status_text())
    .bind(r.version() as i64)
    .bind(to_json(r)?)
    .bind(time_text(r.created_at()))
    .bind(r.range().map(|(start, _)| i64::from(start)))
    .bind(r.range().map(|(_, end)| i64::from(end)))
    .execute(&mut *conn)
    .await
    .with_ctx(|| format!("insert {} {}", R::KIND.as_str(), r.id()))?;
    Ok(())
}

/// Writes `r` over the stored row at version `stored_version`, setting `r.version` to the
/// next version. The `version` guard in the WHERE clause is a second line of defence: the
/// write transaction already read that version.
pub(crate) async fn replace<R: StoredResource>(
    conn: &mut SqliteConnection,
    r: &mut R,
    stored_version: u64,
) -> Result<()> {
    r.set_version(stored_version + 1);
    let done = sqlx::query(
        "UPDATE resources SET status = ?1, version = ?2, body = ?3
         WHERE id = ?4 AND kind = ?5 AND version = ?6",
    )
    .bind(r.status_text())
    .bind(r.version() as i64)
    .bind(to_json(r)?)
    .bind(r.id().to_string())
    .bind(R::KIND.as_str())
    .bind(stored_version as i64)
    .execute(&mut *conn)
    .await
    .with_ctx(|| format!("update {} {}", R::KIND.as_str(), r.id()))?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Backend(anyhow::anyhow!(
            "{} {} changed under the write transaction",
            R::KIND.as_str(),
            r.id()
        )));
    }
    Ok(())
}

/// `If-Match`: when the caller names a version, it must be the stored one.
pub(crate) fn check_if_match<R: StoredResource>(stored: &R, if_match: Option<u64>) -> Result<()> {
    match if_match {
        Some(expected) if expected != stored.version() => Err(CoreError::VersionMismatch {
            kind: R::KIND.as_str(),
            id: stored.id().to_string(),
            expected,
            actual: stored.version(),
        }
        .into()),
        _ => Ok(()),
    }
}
