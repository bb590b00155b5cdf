//! The audit log: one row per change, appended in the transaction that made the change.
//!
//! `seq` is `MAX(seq) + 1`, read in that transaction while it holds the store's write
//! lock (every transaction that appends holds it). A transaction therefore never takes a
//! lower `seq` than one that committed before it: sequence order is commit order, and a
//! follower reading `seq > last` never skips an event that commits later (PostgreSQL's
//! `BIGSERIAL` would hand out numbers at insert time, not at commit).

use super::query::{query, Conn, Get};
use chrono::{DateTime, Utc};
use isthmus_core::resources::Event;
use isthmus_core::ProjectId;
use serde_json::Value;

use super::codec::{page_limit, page_of, parse_id, parse_time, time_text, Ctx};
use crate::{Actor, Page, PageRequest, Result, StoreError};

/// An event about to be appended.
pub(crate) struct NewEvent<'a> {
    pub actor: &'a Actor,
    pub time: DateTime<Utc>,
    /// e.g. `network.create`.
    pub action: String,
    pub project: Option<ProjectId>,
    pub resource_kind: &'a str,
    pub resource_id: String,
    /// The object before and after, as JSON text: a doc's body is stored as it is, not
    /// decoded and encoded again (a cluster with a long allow-list is large).
    pub before: Option<String>,
    pub after: Option<String>,
}

pub(crate) async fn append<C: Conn>(conn: &mut C, e: NewEvent<'_>) -> Result<()> {
    query(
        "INSERT INTO events
            (seq, project_id, time, actor, action, resource_kind, resource_id, before, after)
         VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM events),
                 $1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(e.project.map(|p| p.to_string()))
    .bind(time_text(e.time))
    .bind(&e.actor.0)
    .bind(&e.action)
    .bind(e.resource_kind)
    .bind(&e.resource_id)
    .bind(e.before)
    .bind(e.after)
    .execute(&mut *conn)
    .await
    .with_ctx(|| format!("append audit event {}", e.action))?;
    Ok(())
}

/// One page of `project`'s audit log in order; the cursor is the last `seq` seen.
pub(crate) async fn page<C: Conn>(
    conn: &mut C,
    project: ProjectId,
    page: &PageRequest,
) -> Result<Page<Event>> {
    let limit = page_limit(page);
    let after: i64 = match &page.cursor {
        None => 0,
        Some(c) => c.parse().map_err(|_| {
            isthmus_core::CoreError::invalid("cursor", "cursor", "not a cursor of this list")
        })?,
    };
    let rows = query(
        "SELECT seq, project_id, time, actor, action, resource_kind, resource_id, before, after
         FROM events WHERE project_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(project.to_string())
    .bind(after)
    .bind(i64::from(limit) + 1)
    .fetch_all(&mut *conn)
    .await
    .with_ctx(|| format!("list events of project {project}"))?;
    page_of(&rows, limit, decode_event, |e| e.seq.to_string())
}

/// Events of every project (and the lab's) after `after_seq`, oldest first.
pub(crate) async fn after<C: Conn>(conn: &mut C, after_seq: i64, limit: u32) -> Result<Vec<Event>> {
    let limit = page_limit(&PageRequest {
        limit,
        ..PageRequest::default()
    });
    let rows = query(
        "SELECT seq, project_id, time, actor, action, resource_kind, resource_id, before, after
         FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after_seq)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await
    .with_ctx(|| format!("list events after seq {after_seq}"))?;
    rows.iter().map(decode_event).collect()
}

/// [`after`] without the bodies: they are not selected, so not decoded either.
pub(crate) async fn changes_after<C: Conn>(
    conn: &mut C,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<Event>> {
    let limit = page_limit(&PageRequest {
        limit,
        ..PageRequest::default()
    });
    let rows = query(
        "SELECT seq, project_id, time, actor, action, resource_kind, resource_id,
                NULL AS before, NULL AS after
         FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after_seq)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await
    .with_ctx(|| format!("list changes after seq {after_seq}"))?;
    rows.iter().map(decode_event).collect()
}

pub(crate) async fn last_seq<C: Conn>(conn: &mut C) -> Result<i64> {
    let row = query("SELECT COALESCE(MAX(seq), 0) AS last FROM events")
        .fetch_one(&mut *conn)
        .await
        .ctx("read the last event seq")?;
    row.try_get("last").ctx("read the last event seq")
}

pub(crate) fn decode_event<R: Get>(row: &R) -> Result<Event> {
    let json = |col: &str| -> Result<Option<Value>> {
        let text: Option<String> = row.try_get(col).ctx("read event column")?;
        text.map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| StoreError::Backend(anyhow::Error::new(e).context("decode event JSON")))
    };
    let project: Option<String> = row.try_get("project_id").ctx("read event project")?;
    Ok(Event {
        seq: row.try_get("seq").ctx("read event seq")?,
        time: parse_time(row.try_get("time").ctx("read event time")?)?,
        actor: row.try_get("actor").ctx("read event actor")?,
        action: row.try_get("action").ctx("read event action")?,
        resource_kind: row.try_get("resource_kind").ctx("read event kind")?,
        resource_id: row.try_get("resource_id").ctx("read event resource")?,
        project_id: project.as_deref().map(parse_id).transpose()?,
        before: json("before")?,
        after: json("after")?,
    })
}
