//! API tokens (only the hash of a secret is stored) and their per-project roles.

use chrono::{DateTime, Utc};
use isthmus_core::resources::{Membership, Role, Token};
use isthmus_core::{CoreError, ProjectId, TokenId};
use sqlx::{Row, SqliteConnection};

use super::audit::{self, NewEvent};
use super::codec::{parse_id, parse_time, time_text, to_json_value, Ctx};
use super::{projects, SqliteStore};
use crate::{Actor, Result, StoreError};

fn decode_token(row: &sqlx::sqlite::SqliteRow) -> Result<Token> {
    Ok(Token {
        id: parse_id(row.try_get("id").ctx("read token id")?)?,
        name: row.try_get("name").ctx("read token name")?,
        superuser: row.try_get("superuser").ctx("read token superuser")?,
        created_at: parse_time(row.try_get("created_at").ctx("read token time")?)?,
    })
}

fn decode_membership(row: &sqlx::sqlite::SqliteRow) -> Result<Membership> {
    let role: &str = row.try_get("role").ctx("read membership role")?;
    Ok(Membership {
        project_id: parse_id(row.try_get("project_id").ctx("read membership project")?)?,
        token_id: parse_id(row.try_get("token_id").ctx("read membership token")?)?,
        role: role
            .parse::<Role>()
            .map_err(|e| StoreError::Backend(anyhow::anyhow!("stored membership: {e}")))?,
    })
}

async fn token_exists(conn: &mut SqliteConnection, id: TokenId) -> Result<()> {
    let found = sqlx::query("SELECT 1 FROM tokens WHERE id = ?1")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .with_ctx(|| format!("look up token {id}"))?;
    match found {
        Some(_) => Ok(()),
        None => Err(CoreError::not_found("token", id).into()),
    }
}

async fn membership(
    conn: &mut SqliteConnection,
    project: ProjectId,
    token: TokenId,
) -> Result<Option<Membership>> {
    let row = sqlx::query(
        "SELECT project_id, token_id, role FROM memberships WHERE project_id = ?1 AND token_id = ?2",
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
async fn keep_an_admin(
    conn: &mut SqliteConnection,
    project: ProjectId,
    before: Option<&Membership>,
) -> Result<()> {
    if before.is_none_or(|m| m.role != Role::Admin) {
        return Ok(());
    }
    let admins: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE project_id = ?1 AND role = ?2")
            .bind(project.to_string())
            .bind(Role::Admin.as_str())
            .fetch_one(&mut *conn)
            .await
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
pub(crate) async fn put_membership(
    conn: &mut SqliteConnection,
    actor: &Actor,
    m: &Membership,
    now: DateTime<Utc>,
) -> Result<()> {
    projects::get(conn, m.project_id).await?;
    token_exists(conn, m.token_id).await?;
    let before = membership(conn, m.project_id, m.token_id).await?;
    sqlx::query(
        "INSERT INTO memberships (project_id, token_id, role) VALUES (?1, ?2, ?3)
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
            before: before.as_ref().map(to_json_value).transpose()?,
            after: Some(to_json_value(m)?),
        },
    )
    .await
}

impl SqliteStore {
    pub(super) async fn create_token_tx(
        &self,
        actor: &Actor,
        name: &str,
        superuser: bool,
        secret_hash: &str,
        grant: Option<(ProjectId, Role)>,
    ) -> Result<Token> {
        let now = Utc::now();
        let token = Token {
            id: TokenId(crate::ids::new_id()),
            name: name.to_string(),
            superuser,
            created_at: now,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO tokens (id, name, superuser, secret_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(token.id.to_string())
        .bind(&token.name)
        .bind(superuser)
        .bind(secret_hash)
        .bind(time_text(now))
        .execute(&mut *tx)
        .await
        .with_ctx(|| format!("insert token '{name}'"))?;
        audit::append(
            &mut tx,
            NewEvent {
                actor,
                time: now,
                action: "token.create".into(),
                project: grant.map(|(p, _)| p),
                resource_kind: "token",
                resource_id: token.id.to_string(),
                before: None,
                after: Some(to_json_value(&token)?),
            },
        )
        .await?;
        if let Some((project_id, role)) = grant {
            let m = Membership {
                project_id,
                token_id: token.id,
                role,
            };
            put_membership(&mut tx, actor, &m, now).await?;
        }
        tx.commit().await.ctx("commit token create")?;
        Ok(token)
    }

    pub(super) async fn token_by_hash_rd(&self, secret_hash: &str) -> Result<Option<Token>> {
        let row = sqlx::query(
            "SELECT id, name, superuser, created_at FROM tokens WHERE secret_hash = ?1",
        )
        .bind(secret_hash)
        .fetch_optional(&mut *self.read().await?)
        .await
        .ctx("look up token by secret")?;
        row.as_ref().map(decode_token).transpose()
    }

    pub(super) async fn count_tokens_rd(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tokens")
            .fetch_one(&mut *self.read().await?)
            .await
            .ctx("count tokens")?;
        Ok(n as u64)
    }

    pub(super) async fn set_membership_tx(&self, actor: &Actor, m: &Membership) -> Result<()> {
        let mut tx = self.begin_write().await?;
        put_membership(&mut tx, actor, m, Utc::now()).await?;
        tx.commit().await.ctx("commit membership")
    }

    pub(super) async fn remove_membership_tx(
        &self,
        actor: &Actor,
        project: ProjectId,
        token: TokenId,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let before = membership(&mut tx, project, token).await?.ok_or_else(|| {
            CoreError::not_found("membership", format!("{token} in project {project}"))
        })?;
        sqlx::query("DELETE FROM memberships WHERE project_id = ?1 AND token_id = ?2")
            .bind(project.to_string())
            .bind(token.to_string())
            .execute(&mut *tx)
            .await
            .with_ctx(|| format!("remove token {token} from project {project}"))?;
        keep_an_admin(&mut tx, project, Some(&before)).await?;
        audit::append(
            &mut tx,
            NewEvent {
                actor,
                time: Utc::now(),
                action: "membership.remove".into(),
                project: Some(project),
                resource_kind: "membership",
                resource_id: token.to_string(),
                before: Some(to_json_value(&before)?),
                after: None,
            },
        )
        .await?;
        tx.commit().await.ctx("commit membership removal")
    }

    pub(super) async fn memberships_of_rd(&self, token: TokenId) -> Result<Vec<Membership>> {
        let rows = sqlx::query(
            "SELECT project_id, token_id, role FROM memberships WHERE token_id = ?1 ORDER BY project_id",
        )
        .bind(token.to_string())
        .fetch_all(&mut *self.read().await?)
        .await
        .with_ctx(|| format!("list memberships of token {token}"))?;
        rows.iter().map(decode_membership).collect()
    }

    pub(super) async fn members_of_rd(&self, project: ProjectId) -> Result<Vec<Membership>> {
        let rows = sqlx::query(
            "SELECT project_id, token_id, role FROM memberships WHERE project_id = ?1 ORDER BY token_id",
        )
        .bind(project.to_string())
        .fetch_all(&mut *self.read().await?)
        .await
        .with_ctx(|| format!("list members of project {project}"))?;
        rows.iter().map(decode_membership).collect()
    }
}
