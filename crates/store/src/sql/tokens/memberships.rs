//! Memberships: a token's role in a project. Every change keeps an admin in the project
//! (checked inside the change's own write), and a token left with no role anywhere is
//! revoked with its last one.

use chrono::{DateTime, Utc};
use isthmus_core::resources::{Membership, Role};
use isthmus_core::{CoreError, ProjectId, TokenId};

use super::{load_token, revoke};
use crate::sql::audit::{self, NewEvent};
use crate::sql::codec::{parse_id, to_json_text, Ctx};
use crate::sql::query::{query, Conn, Get};
use crate::sql::{projects, Backend, Commit};
use crate::{Actor, Result, StoreError};

pub(super) fn decode_membership_role<R: Get>(row: &R) -> Result<Role> {
    let role: &str = row.try_get("role").ctx("read membership role")?;
    role.parse::<Role>()
        .map_err(|e| StoreError::Backend(anyhow::anyhow!("stored membership: {e}")))
}

fn decode_membership<R: Get>(row: &R) -> Result<Membership> {
    Ok(Membership {
        project_id: parse_id(row.try_get("project_id").ctx("read membership project")?)?,
        token_id: parse_id(row.try_get("token_id").ctx("read membership token")?)?,
        role: decode_membership_role(row)?,
    })
}

async fn membership<C: Conn>(
    conn: &mut C,
    project: ProjectId,
    token: TokenId,
) -> Result<Option<Membership>> {
    let row = query(
        "SELECT project_id, token_id, role FROM memberships WHERE project_id = $1 AND token_id = $2",
    )
    .bind(project.to_string())
    .bind(token.to_string())
    .fetch_optional(&mut *conn)
    .await
    .with_ctx(|| format!("load membership of token {token} in project {project}"))?;
    row.as_ref().map(decode_membership).transpose()
}

/// Refuses a change that leaves `project` without an admin when `before` was one. Runs in
/// the change's own write transaction, after the change: two concurrent removals of the
/// last two admins are serialized, and the second one finds none left.
async fn keep_an_admin<C: Conn>(
    conn: &mut C,
    project: ProjectId,
    before: Option<&Membership>,
) -> Result<()> {
    if before.is_none_or(|m| m.role != Role::Admin) {
        return Ok(());
    }
    let admins: i64 =
        query("SELECT COUNT(*) AS n FROM memberships WHERE project_id = $1 AND role = $2")
            .bind(project.to_string())
            .bind(Role::Admin.as_str())
            .fetch_one(&mut *conn)
            .await
            .and_then(|row| row.try_get("n"))
            .with_ctx(|| format!("count the admins of project {project}"))?;
    if admins == 0 {
        return Err(CoreError::conflict(
            Some("token_id"),
            "last-admin",
            format!(
                "this token is the last admin of project {project}; make another token admin first"
            ),
        )
        .into());
    }
    Ok(())
}

/// Grants (or changes) a role, inside the caller's write transaction, with an audit event.
pub(crate) async fn put_membership<C: Conn>(
    conn: &mut C,
    actor: &Actor,
    m: &Membership,
    now: DateTime<Utc>,
) -> Result<()> {
    projects::get(conn, m.project_id).await?;
    if load_token(conn, m.token_id).await?.revoked_at.is_some() {
        return Err(CoreError::conflict(
            Some("token_id"),
            "token-revoked",
            format!(
                "token {} is revoked; create a new token instead",
                m.token_id
            ),
        )
        .into());
    }
    let before = membership(conn, m.project_id, m.token_id).await?;
    query(
        "INSERT INTO memberships (project_id, token_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (project_id, token_id) DO UPDATE SET role = excluded.role",
    )
    .bind(m.project_id.to_string())
    .bind(m.token_id.to_string())
    .bind(m.role.as_str())
    .execute(&mut *conn)
    .await
    .with_ctx(|| format!("grant {} to token {}", m.role.as_str(), m.token_id))?;
    keep_an_admin(conn, m.project_id, before.as_ref()).await?;
    audit::append(
        conn,
        NewEvent {
            actor,
            time: now,
            action: "membership.set".into(),
            project: Some(m.project_id),
            resource_kind: "membership",
            resource_id: m.token_id.to_string(),
            before: before.as_ref().map(to_json_text).transpose()?,
            after: Some(to_json_text(m)?),
        },
    )
    .await
}

pub(in crate::sql) async fn set_membership_tx<B: Backend>(
    store: &B,
    actor: &Actor,
    m: &Membership,
) -> Result<()> {
    let mut tx = store.begin_write().await?;
    put_membership(&mut *tx, actor, m, Utc::now()).await?;
    tx.commit().await.ctx("commit membership")
}

pub(in crate::sql) async fn remove_membership_tx<B: Backend>(
    store: &B,
    actor: &Actor,
    project: ProjectId,
    token: TokenId,
) -> Result<()> {
    let mut tx = store.begin_write().await?;
    let before = membership(&mut *tx, project, token).await?.ok_or_else(|| {
        CoreError::not_found("membership", format!("{token} in project {project}"))
    })?;
    query("DELETE FROM memberships WHERE project_id = $1 AND token_id = $2")
        .bind(project.to_string())
        .bind(token.to_string())
        .execute(&mut *tx)
        .await
        .with_ctx(|| format!("remove token {token} from project {project}"))?;
    keep_an_admin(&mut *tx, project, Some(&before)).await?;
    audit::append(
        &mut *tx,
        NewEvent {
            actor,
            time: Utc::now(),
            action: "membership.remove".into(),
            project: Some(project),
            resource_kind: "membership",
            resource_id: token.to_string(),
            before: Some(to_json_text(&before)?),
            after: None,
        },
    )
    .await?;
    // A token left with no role anywhere is revoked with it: a removed member's
    // token must stop working, not linger able to create projects of its own.
    let left: i64 = query("SELECT COUNT(*) AS n FROM memberships WHERE token_id = $1")
        .bind(token.to_string())
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| row.try_get("n"))
        .with_ctx(|| format!("count the roles left to token {token}"))?;
    if left == 0 && !load_token(&mut *tx, token).await?.superuser {
        revoke(&mut *tx, actor, token, Some(project), Utc::now()).await?;
    }
    tx.commit().await.ctx("commit membership removal")
}

pub(in crate::sql) async fn memberships_of_rd<B: Backend>(
    store: &B,
    token: TokenId,
) -> Result<Vec<Membership>> {
    let sql = "SELECT project_id, token_id, role FROM memberships WHERE token_id = $1 \
               ORDER BY project_id";
    let what = || format!("list memberships of token {token}");
    memberships_where(store, sql, token.to_string(), what).await
}

pub(in crate::sql) async fn members_of_rd<B: Backend>(
    store: &B,
    project: ProjectId,
) -> Result<Vec<Membership>> {
    let sql = "SELECT project_id, token_id, role FROM memberships WHERE project_id = $1 \
               ORDER BY token_id";
    let what = || format!("list members of project {project}");
    memberships_where(store, sql, project.to_string(), what).await
}

/// The memberships `sql` selects with `id` as its one parameter.
async fn memberships_where<B: Backend>(
    store: &B,
    sql: &'static str,
    id: String,
    what: impl FnOnce() -> String,
) -> Result<Vec<Membership>> {
    let rows = query(sql)
        .bind(id)
        .fetch_all(&mut *store.read().await?)
        .await
        .with_ctx(what)?;
    rows.iter().map(decode_membership).collect()
}
