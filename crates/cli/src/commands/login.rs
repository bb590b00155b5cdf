//! `isthmus login --url U --token T [--project P]`: saves the profile (mode 0600).

use anyhow::Context as _;
use isthmus_core::resources::Project;
use isthmus_core::ProjectId;

use crate::args::{GlobalArgs, LoginArgs};
use crate::client::Client;
use crate::commands::Ctx;
use crate::config::{write_profile, ClientConfig, Env, Profile};

pub async fn run(global: &GlobalArgs, args: LoginArgs, env: &Env) -> anyhow::Result<String> {
    let url = global
        .url
        .clone()
        .or_else(|| env.url.clone())
        .context("login needs --url (the Isthmus API, e.g. http://127.0.0.1:8710)")?;
    let token = global
        .token
        .clone()
        .or_else(|| env.token.clone())
        .context("login needs --token (an isth_… secret)")?;
    let project = global.project.clone().or_else(|| env.project.clone());
    if !args.no_verify {
        // A typo found now is cheaper than a 401 on every later command.
        let client = Client::new(&url, Some(token.clone()))?;
        client
            .get::<serde_json::Value>("/v1/projects")
            .await
            .context("check the token")?;
        // A project that does not exist (or this token cannot see) is refused now, not
        // saved to fail every later command. A name is still resolved on each use.
        if let Some(p) = &project {
            if p.parse::<ProjectId>().is_ok() {
                client
                    .get::<Project>(&format!("/v1/projects/{}", crate::client::segment(p)))
                    .await
                    .with_context(|| format!("check project {p}"))?;
            } else {
                let config = ClientConfig {
                    url: url.clone(),
                    token: Some(token.clone()),
                    project: Some(p.clone()),
                    token_not_found: None,
                };
                Ctx::new(config, global.output)?
                    .project_path()
                    .await
                    .context("nothing saved")?;
            }
        }
    }
    let path = env
        .profile_path()
        .context("cannot find the profile directory: set HOME or XDG_CONFIG_HOME")?;
    let profile = Profile {
        url: Some(url.clone()),
        token: Some(token),
        project,
    };
    write_profile(&path, &profile)?;
    Ok(format!(
        "logged in to {url}; profile saved to {}\n",
        path.display()
    ))
}
