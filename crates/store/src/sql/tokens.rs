//! API tokens (only the hash of a secret is stored) and their per-project roles.

use super::query::{query, Conn, Get};
use chrono::{DateTime, Utc};
use isthmus_core::resources::{Membership, Role, Token};
use isthmus_core::{CoreError, ProjectId, TokenId};

mod memberships;

use memberships::decode_membership_role;
pub(crate) use memberships::put_membership;
pub(super) use memberships::{
    members_of_rd, memberships_of_rd, remove_membership_tx, set_membership_tx,
};

use super::audit::{self, NewEvent};
use super::codec::{parse_id, parse_time, time_text, to_json_text, Ctx};
use super::{Backend, Commit};
use crate::{Actor, Result};

/// The columns [`decode_token`] reads.
const TOKEN_COLUMNS: &str = "id, name, superuser, created_at, expires_at, revoked_at";

fn decode_token<R: Get>(row: &R) -> Result<Token> {
    let optional_time = |column: &str| -> Result<Option<DateTime<Utc>>> {
        let text: Option<&str> = row
            .try_get(column)
            .with_ctx(|| format!("read token {column}"))?;
        text.map(parse_time).transpose()
    };
    Ok(Token {
        id: parse_id(row.try_get("id").ctx("read token id")?)?,
        name: row.try_get("name").ctx("read token name")?,
        superuser: row.try_get("superuser").ctx("read token superuser")?,
        created_at: parse_time(row.try_get("created_at").ctx("read token time")?)?,
        expires_at: optional_time("expires_at")?,
        revoked_at: optional_time("revoked_at")?,
    })
}

async fn load_token<C: Conn>(conn: &mut C, id: TokenId) -> Result<Token> {
    let row = query(format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .with_ctx(|| format!("load token {id}"))?;
    match row {
        Some(row) => decode_token(&row),
        None => Err(CoreError::not_found("token", id).into()),
    }
}

/// Revokes `token` inside the caller's write: marks it revoked and drops its roles, with
/// one audit event in each project it had a role in (when it had none: in `last_project`,
/// the one it just left, else installation-wide). A token already revoked is returned as
/// it is.
async fn revoke<C: Conn>(
    conn: &mut C,
    actor: &Actor,
    token: TokenId,
    last_project: Option<ProjectId>,
    now: DateTime<Utc>,
) -> Result<Token> {
    let before = load_token(conn, token).await?;
    if before.revoked_at.is_some() {
        return Ok(before);
    }
    query("UPDATE tokens SET revoked_at = $2 WHERE id = $1")
        .bind(token.to_string())
        .bind(time_text(now))
        .execute(&mut *conn)
        .await
        .with_ctx(|| format!("revoke token {token}"))?;
    let after = Token {
        revoked_at: Some(now),
        ..before.clone()
    };
    let projects: Vec<String> = query("SELECT project_id FROM memberships WHERE token_id = $1")
        .bind(token.to_string())
        .fetch_all(&mut *conn)
        .await
        .and_then(|rows| rows.iter().map(|r| r.try_get("project_id")).collect())
        .with_ctx(|| format!("list the projects of token {token}"))?;
    query("DELETE FROM memberships WHERE token_id = $1")
        .bind(token.to_string())
        .execute(&mut *conn)
        .await
        .with_ctx(|| format!("drop the roles of token {token}"))?;
    let projects: Vec<Option<ProjectId>> = if projects.is_empty() {
        vec![last_project]
    } else {
        projects
            .iter()
            .map(|p| parse_id(p).map(Some))
            .collect::<Result<_>>()?
    };
    for project in projects {
        audit::append(
            conn,
            NewEvent {
                actor,
                time: now,
                action: "token.revoke".into(),
                project,
                resource_kind: "token",
                resource_id: token.to_string(),
                before: Some(to_json_text(&before)?),
                after: Some(to_json_text(&after)?),
            },
        )
        .await?;
    }
    Ok(after)
}

pub(super) async fn create_token_tx<B: Backend>(
    store: &B,
    actor: &Actor,
    name: &str,
    superuser: bool,
    secret_hash: &str,
    grant: Option<(ProjectId, Role)>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<Token> {
    let now = Utc::now();
    let token = Token {
        id: TokenId(crate::ids::new_id()),
        name: name.to_string(),
        superuser,
        created_at: now,
        expires_at,
        revoked_at: None,
    };
    let mut tx = store.begin_write().await?;
    query(
        "INSERT INTO tokens (id, name, superuser, secret_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token.id.to_string())
    .bind(&token.name)
    .bind(superuser)
    .bind(secret_hash)
    .bind(time_text(now))
    .bind(expires_at.map(time_text))
    .execute(&mut *tx)
    .await
    .with_ctx(|| format!("insert token '{name}'"))?;
    audit::append(
        &mut *tx,
        NewEvent {
            actor,
            time: now,
            action: "token.create".into(),
            project: grant.map(|(p, _)| p),
            resource_kind: "token",
            resource_id: token.id.to_string(),
            before: None,
            after: Some(to_json_text(&token)?),
        },
    )
    .await?;
    if let Some((project_id, role)) = grant {
        let m = Membership {
            project_id,
            token_id: token.id,
            role,
        };
        put_membership(&mut *tx, actor, &m, now).await?;
    }
    tx.commit().await.ctx("commit token create")?;
    Ok(token)
}

pub(super) async fn token_by_hash_rd<B: Backend>(
    store: &B,
    secret_hash: &str,
) -> Result<Option<Token>> {
    let row = query(format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens WHERE secret_hash = $1"
    ))
    .bind(secret_hash)
    .fetch_optional(&mut *store.read().await?)
    .await
    .ctx("look up token by secret")?;
    row.as_ref().map(decode_token).transpose()
}

pub(super) async fn count_tokens_rd<B: Backend>(store: &B) -> Result<u64> {
    let n: i64 = query("SELECT COUNT(*) AS n FROM tokens")
        .fetch_one(&mut *store.read().await?)
        .await
        .and_then(|row| row.try_get("n"))
        .ctx("count tokens")?;
    Ok(n as u64)
}

pub(super) async fn get_token_rd<B: Backend>(store: &B, id: TokenId) -> Result<Token> {
    load_token(&mut *store.read().await?, id).await
}

pub(super) async fn list_tokens_rd<B: Backend>(store: &B) -> Result<Vec<Token>> {
    let rows = query(format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_at, id"
    ))
    .fetch_all(&mut *store.read().await?)
    .await
    .ctx("list tokens")?;
    rows.iter().map(decode_token).collect()
}

pub(super) async fn project_tokens_rd<B: Backend>(
    store: &B,
    project: ProjectId,
) -> Result<Vec<(Token, Role)>> {
    let rows = query(
        "SELECT t.id, t.name, t.superuser, t.created_at, t.expires_at, t.revoked_at, m.role
           FROM tokens t JOIN memberships m ON m.token_id = t.id
          WHERE m.project_id = $1 ORDER BY t.created_at, t.id",
    )
    .bind(project.to_string())
    .fetch_all(&mut *store.read().await?)
    .await
    .with_ctx(|| format!("list the tokens of project {project}"))?;
    rows.iter()
        .map(|row| Ok((decode_token(row)?, decode_membership_role(row)?)))
        .collect()
}

pub(super) async fn revoke_token_tx<B: Backend>(
    store: &B,
    actor: &Actor,
    id: TokenId,
) -> Result<Token> {
    let mut tx = store.begin_write().await?;
    let token = revoke(&mut *tx, actor, id, None, Utc::now()).await?;
    tx.commit().await.ctx("commit token revocation")?;
    Ok(token)
}

pub(super) async fn rotate_token_tx<B: Backend>(
    store: &B,
    actor: &Actor,
    id: TokenId,
    secret_hash: &str,
) -> Result<Token> {
    let mut tx = store.begin_write().await?;
    let token = load_token(&mut *tx, id).await?;
    if token.revoked_at.is_some() {
        return Err(CoreError::conflict(
            None,
            "token-revoked",
            format!("token {id} is revoked; a revoked token gets no new secret"),
        )
        .into());
    }
    query("UPDATE tokens SET secret_hash = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(secret_hash)
        .execute(&mut *tx)
        .await
        .with_ctx(|| format!("rotate the secret of token {id}"))?;
    audit::append(
        &mut *tx,
        NewEvent {
            actor,
            time: Utc::now(),
            action: "token.rotate".into(),
            project: None,
            resource_kind: "token",
            resource_id: id.to_string(),
            before: None,
            after: Some(to_json_text(&token)?),
        },
    )
    .await?;
    tx.commit().await.ctx("commit token rotation")?;
    Ok(token)
}
