//! `isthmus token create NAME --role R`

use isthmus_core::resources::Role;
use serde::Serialize;

use super::Ctx;
use crate::args::TokenCommand;
use crate::views::CreatedToken;

#[derive(Serialize)]
struct TokenRequest {
    name: String,
    role: Role,
}

pub async fn run(ctx: &Ctx, command: TokenCommand) -> anyhow::Result<String> {
    match command {
        TokenCommand::Create { name, role } => {
            let path = format!("{}/tokens", ctx.project_path().await?);
            let created: CreatedToken =
                ctx.client.post(&path, &TokenRequest { name, role }).await?;
            ctx.one(&created)
        }
    }
}
