//! Deleting a project: only an empty one. Its live objects (of any kind) refuse the
//! delete with a 409 naming them, so nothing with cloud resources behind it is dropped
//! without its controller tearing them down; what remains of deleted objects (their
//! tombstones and claims), the memberships and the project go in one write. The audit
//! log keeps the project's history, with a `project.delete` event last.

use chrono::Utc;
use isthmus_core::resources::Project;
use isthmus_core::{CoreError, ProjectId};

use super::audit::{self, NewEvent};
use super::codec::{to_json_text, Ctx};
use super::query::{query, Get};
use super::{projects, Backend, Commit};
use crate::doc::DELETED;
use crate::{Actor, Result};

/// The most objects a refusal names; the rest are counted.
const NAMED: usize = 10;

pub(super) async fn delete_project_tx<B: Backend>(
    store: &B,
    actor: &Actor,
    id: ProjectId,
) -> Result<Project> {
    let mut tx = store.begin_write().await?;
    let project = projects::get(&mut *tx, id).await?;
    let live = query(
        "SELECT kind, id, body FROM resources WHERE project_id = $1 AND status != $2 \
         ORDER BY kind, id",
    )
    .bind(id.to_string())
    .bind(DELETED)
    .fetch_all(&mut *tx)
    .await
    .with_ctx(|| format!("list the live objects of project {id}"))?;
    if !live.is_empty() {
        let mut names = Vec::new();
        for row in live.iter().take(NAMED) {
            let kind: String = row.try_get("kind").ctx("read resource kind")?;
            let oid: String = row.try_get("id").ctx("read resource id")?;
            let body: String = row.try_get("body").ctx("read resource body")?;
            let name = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_string))
                .unwrap_or_default();
            names.push(format!("{kind} '{name}' ({oid})"));
        }
        if live.len() > NAMED {
            names.push(format!("{} more", live.len() - NAMED));
        }
        return Err(CoreError::conflict(
            None,
            "project-not-empty",
            format!(
                "project {} still holds {}; delete them first, or delete the project with \
                 cascade=true (CLI: --cascade) to delete them with it",
                project.name,
                names.join(", ")
            ),
        )
        .into());
    }
    let pid = id.to_string();
    // Claims first (they reference objects), then the tombstones, then who had a role.
    for sql in [
        "DELETE FROM resource_index WHERE resource_id IN \
         (SELECT id FROM resources WHERE project_id = $1)",
        "DELETE FROM resources WHERE project_id = $1",
        "DELETE FROM memberships WHERE project_id = $1",
        "DELETE FROM projects WHERE id = $1",
    ] {
        query(sql)
            .bind(pid.clone())
            .execute(&mut *tx)
            .await
            .with_ctx(|| format!("delete project {id}"))?;
    }
    audit::append(
        &mut *tx,
        NewEvent {
            actor,
            time: Utc::now(),
            action: "project.delete".into(),
            project: Some(id),
            resource_kind: "project",
            resource_id: pid,
            before: Some(to_json_text(&project)?),
            after: None,
        },
    )
    .await?;
    tx.commit().await.ctx("commit project delete")?;
    Ok(project)
}
