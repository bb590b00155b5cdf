//! `isthmus token create NAME --role R [--expires-in D]`, `token list [--all]`,
//! `token revoke ID`, `token rotate [ID]`.

use isthmus_core::resources::{Role, Token};
use reqwest::Method;
use serde::Serialize;

use super::Ctx;
use crate::args::TokenCommand;
use crate::client::segment;
use crate::views::{CreatedToken, ProjectToken, RotatedToken};

#[derive(Serialize)]
struct TokenRequest {
    name: String,
    role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in_seconds: Option<u64>,
}

pub async fn run(ctx: &Ctx, command: TokenCommand) -> anyhow::Result<String> {
    match command {
        TokenCommand::Create {
            name,
            role,
            expires_in,
        } => {
            let path = format!("{}/tokens", ctx.project_path().await?);
            let body = TokenRequest {
                name,
                role,
                expires_in_seconds: expires_in,
            };
            let created: CreatedToken = ctx.client.post(&path, &body).await?;
            ctx.one(&created)
        }
        TokenCommand::List { all: true } => {
            ctx.list(&ctx.client.get::<Vec<Token>>("/v1/tokens").await?)
        }
        TokenCommand::List { all: false } => {
            let path = format!("{}/tokens", ctx.project_path().await?);
            ctx.list(&ctx.client.get::<Vec<ProjectToken>>(&path).await?)
        }
        TokenCommand::Revoke { token_id } => {
            let path = if ctx.has_project() {
                format!(
                    "{}/tokens/{}",
                    ctx.project_path().await?,
                    segment(&token_id)
                )
            } else {
                format!("/v1/tokens/{}", segment(&token_id))
            };
            ctx.client
                .send_no_content(Method::DELETE, &path, &serde_json::json!(null))
                .await?;
            Ok(format!("token {token_id} revoked\n"))
        }
        TokenCommand::Rotate { token_id } => {
            let id = token_id.unwrap_or_else(|| "self".to_string());
            let path = format!("/v1/tokens/{}/rotate", segment(&id));
            let rotated: RotatedToken = ctx.client.post(&path, &serde_json::json!({})).await?;
            for warning in &rotated.warnings {
                eprintln!("warning: {warning}");
            }
            match &rotated.admin_token_file {
                Some(file) => eprintln!("{file} now holds the new secret"),
                None => eprintln!(
                    "the old secret no longer works: put the new one wherever it was kept \
                     (ISTHMUS_TOKEN, `isthmus login --token …`)"
                ),
            }
            ctx.one(&rotated)
        }
    }
}
