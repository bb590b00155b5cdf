//! `isthmus project …`

use isthmus_core::resources::{Project, ProjectCreate};

use super::Ctx;
use crate::args::ProjectCommand;
use crate::client::segment;

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
            let project: Project = ctx
                .client
                .get(&format!("/v1/projects/{}", segment(&id)))
                .await?;
            ctx.one(&project)
        }
        // It changes the profile: `main` runs it (see `login::use_project`).
        ProjectCommand::Use { .. } => unreachable!("dispatched in main"),
    }
}
