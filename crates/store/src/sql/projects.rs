//! Projects: the tenant boundary. Creating one with an owner makes the owner its admin in
//! the same transaction.

use super::query::{query, Conn, Get};
use chrono::Utc;
use isthmus_core::resources::{Membership, Project, ProjectCreate, Role};
use isthmus_core::{rules, CoreError, ProjectId, TokenId};

use super::audit::{self, NewEvent};
use super::codec::{page_limit, page_of, parse_id, parse_time, time_text, to_json_text, Ctx};
use super::{tokens, Backend, Commit};
use crate::{Actor, Page, PageRequest, Result};

const COLUMNS: &str = "id, name, version, created_at, updated_at";

fn decode<R: Get>(row: &R) -> Result<Project> {
    Ok(Project {
        id: parse_id(row.try_get("id").ctx("read project id")?)?,
        name: row.try_get("name").ctx("read project name")?,
        version: row.try_get::<i64>("version").ctx("read project version")? as u64,
        created_at: parse_time(row.try_get("created_at").ctx("read project time")?)?,
        updated_at: parse_time(row.try_get("updated_at").ctx("read project time")?)?,
    })
}

pub(crate) async fn get<C: Conn>(conn: &mut C, id: ProjectId) -> Result<Project> {
    let row = query(format!("SELECT {COLUMNS} FROM projects WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .with_ctx(|| format!("load project {id}"))?;
    match row {
        Some(row) => decode(&row),
        None => Err(CoreError::not_found("project", id).into()),
    }
}

pub(super) async fn create_project_tx<B: Backend>(
    store: &B,
    actor: &Actor,
    req: &ProjectCreate,
    owner: Option<TokenId>,
) -> Result<Project> {
    let name = rules::validate_name("name", &req.name).map_err(|e| CoreError::Invalid(vec![e]))?;
    let now = Utc::now();
    let project = Project {
        id: ProjectId(crate::ids::new_id()),
        name,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let mut tx = store.begin_write().await?;
    query(format!(
        "INSERT INTO projects ({COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
    ))
    .bind(project.id.to_string())
    .bind(&project.name)
    .bind(project.version as i64)
    .bind(time_text(now))
    .bind(time_text(now))
    .execute(&mut *tx)
    .await
    .with_ctx(|| format!("insert project {}", project.id))?;
    audit::append(
        &mut *tx,
        NewEvent {
            actor,
            time: now,
            action: "project.create".into(),
            project: Some(project.id),
            resource_kind: "project",
            resource_id: project.id.to_string(),
            before: None,
            after: Some(to_json_text(&project)?),
        },
    )
    .await?;
    if let Some(owner) = owner {
        let m = Membership {
            project_id: project.id,
            token_id: owner,
            role: Role::Admin,
        };
        tokens::put_membership(&mut *tx, actor, &m, now).await?;
    }
    tx.commit().await.ctx("commit project create")?;
    Ok(project)
}

pub(super) async fn get_project_rd<B: Backend>(store: &B, id: ProjectId) -> Result<Project> {
    get(&mut *store.read().await?, id).await
}

pub(super) async fn list_projects_rd<B: Backend>(
    store: &B,
    only: Option<&[ProjectId]>,
    page: &PageRequest,
) -> Result<Page<Project>> {
    if only.is_some_and(|ids| ids.is_empty()) {
        return Ok(Page {
            items: Vec::new(),
            next_cursor: None,
        });
    }
    let limit = page_limit(page);
    let mut q = query(format!("SELECT {COLUMNS} FROM projects WHERE id > "))
        .push_bind(page.cursor.clone().unwrap_or_default());
    if let Some(ids) = only {
        q = q.push(" AND id IN (");
        for (i, id) in ids.iter().enumerate() {
            q = q
                .push(if i == 0 { "" } else { ", " })
                .push_bind(id.to_string());
        }
        q = q.push(")");
    }
    let rows = q
        .push(" ORDER BY id LIMIT ")
        .push_bind(i64::from(limit) + 1)
        .fetch_all(&mut *store.read().await?)
        .await
        .ctx("list projects")?;
    page_of(&rows, limit, decode, |p| p.id.to_string())
}
