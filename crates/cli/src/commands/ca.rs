//! `isthmus ca get [-f FILE]`: the installation CA certificate clients trust.

use anyhow::Context;

use super::Ctx;
use crate::args::CaCommand;

pub async fn run(ctx: &Ctx, command: CaCommand) -> anyhow::Result<String> {
    match command {
        CaCommand::Get { file } => {
            let path = format!("{}/ca.pem", ctx.project_path().await?);
            let pem = ctx.client.get_text(&path).await?;
            match file {
                None => Ok(pem),
                Some(file) => {
                    std::fs::write(&file, &pem).with_context(|| {
                        format!("write the CA certificate to {}", file.display())
                    })?;
                    eprintln!("wrote the CA certificate to {}", file.display());
                    Ok(String::new())
                }
            }
        }
    }
}
