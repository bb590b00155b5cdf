//! `isthmus project …`

use std::time::{Duration, Instant};

use isthmus_core::resources::{Project, ProjectCreate};
use serde::Deserialize;

use super::Ctx;
use crate::args::ProjectCommand;

pub async fn run(ctx: &Ctx, command: ProjectCommand) -> anyhow::Result<String> {
    match command {
        ProjectCommand::Create { name } => {
            let created: Project = ctx
                .client
                .post("/v1/projects", &ProjectCreate { name })
                .await?;
            ctx.one(&created)
        }
        ProjectCommand::List => ctx.list(&ctx.list_all::<Project>("/v1/projects").await?),
        ProjectCommand::Get { id } => {
            // By name or id, as every other verb.
            let project: Project = ctx.client.get(&ctx.project_path_of(&id).await?).await?;
            ctx.one(&project)
        }
        ProjectCommand::Delete {
            project,
            yes,
            cascade,
            timeout,
        } => delete(ctx, &project, yes, cascade, Duration::from_secs(timeout)).await,
        // It changes the profile: `main` runs it (see `login::use_project`).
        ProjectCommand::Use { .. } => unreachable!("dispatched in main"),
    }
}

/// The server's 202 to a delete with cascade: what is still being torn down.
#[derive(Debug, Deserialize)]
struct Deleting {
    remaining: Vec<Remaining>,
}

#[derive(Debug, Deserialize)]
struct Remaining {
    kind: String,
    name: String,
    status: String,
}

/// Deletes a project; with `cascade`, repeats the delete (each one asks what is left to
/// go) until the server answers that the project is gone.
async fn delete(
    ctx: &Ctx,
    given: &str,
    yes: bool,
    cascade: bool,
    timeout: Duration,
) -> anyhow::Result<String> {
    let path = ctx.project_path_of(given).await?;
    let project: Project = ctx.client.get(&path).await?;
    if crate::confirm::will_ask(yes) {
        let with = if cascade {
            " and every object in it"
        } else {
            ""
        };
        crate::confirm::ask(&format!(
            "Delete project {} ({}){with}?",
            project.name, project.id
        ))?;
    }
    let url = match cascade {
        true => format!("{path}?cascade=true"),
        false => path,
    };
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        let answer = ctx.client.delete_text(&url).await?;
        if answer.trim().is_empty() {
            return Ok(format!("deleted project {} ({})", project.name, project.id));
        }
        let deleting: Deleting = serde_json::from_str(&answer)
            .map_err(|e| anyhow::anyhow!("unexpected answer to DELETE {url}: {e}"))?;
        let now = deleting
            .remaining
            .iter()
            .map(|r| format!("{} {} ({})", r.kind, r.name, r.status))
            .collect::<Vec<_>>()
            .join(", ");
        if now != last {
            eprintln!("waiting for: {now}");
            last = now;
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "project {} still holds {last} after {}s; run the delete again to keep waiting",
                project.name,
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
