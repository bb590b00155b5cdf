//! `isthmus login --url U [--project P] [--profile NAME]`: saves the profile (mode 0600).
//! The token comes from a prompt that does not echo it (or from stdin when that is not a
//! terminal: `isthmus login --url U < token-file`), so it need not sit in the shell's
//! history; `--token` and `$ISTHMUS_TOKEN` still work. `logout` forgets it, and
//! `project use` changes the profile's default project.

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
    let token = match global.token.clone().or_else(|| env.token.clone()) {
        Some(token) => token,
        None => read_token()?,
    };
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

/// The token from the person at the terminal (not echoed), or the first line of stdin.
fn read_token() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    let line = if stdin.is_terminal() {
        let mut stderr = std::io::stderr();
        write!(stderr, "API token (isth_…): ")?;
        stderr.flush()?;
        let line = without_echo(&stdin, || {
            let mut line = String::new();
            stdin.lock().read_line(&mut line).map(|_| line)
        })?;
        writeln!(stderr)?;
        line
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        line
    };
    let token = line.trim().to_string();
    anyhow::ensure!(
        !token.is_empty(),
        "no token given: type it at the prompt, pipe it on stdin, or pass --token"
    );
    Ok(token)
}

/// Runs `read` with the terminal's echo off, restoring it after.
fn without_echo<T>(
    stdin: &std::io::Stdin,
    read: impl FnOnce() -> std::io::Result<T>,
) -> anyhow::Result<T> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let saved = tcgetattr(stdin).context("read the terminal settings")?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(stdin, SetArg::TCSANOW, &quiet).context("turn the echo off")?;
    let read = read();
    tcsetattr(stdin, SetArg::TCSANOW, &saved).context("turn the echo back on")?;
    Ok(read?)
}

/// `isthmus logout`: removes the profile (its token with it).
pub fn logout(env: &Env) -> anyhow::Result<String> {
    let path = env
        .profile_path()
        .context("cannot find the profile directory: set HOME or XDG_CONFIG_HOME")?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(format!("logged out; removed {}\n", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(format!(
            "not logged in ({} does not exist)\n",
            path.display()
        )),
        Err(e) => Err(e).with_context(|| format!("remove {}", path.display())),
    }
}

/// `isthmus project use P`: the profile's default project becomes `P` (which must exist
/// and be visible to the token), keeping its URL and token.
pub async fn use_project(ctx: &Ctx, env: &Env, project: &str) -> anyhow::Result<String> {
    let path = env
        .profile_path()
        .context("cannot find the profile directory: set HOME or XDG_CONFIG_HOME")?;
    let mut profile = crate::config::read_profile(&path)?;
    anyhow::ensure!(
        profile.token.is_some(),
        "no profile at {}: run `isthmus login` first",
        path.display()
    );
    let found: Project = if project.parse::<ProjectId>().is_ok() {
        ctx.client
            .get(&format!("/v1/projects/{}", crate::client::segment(project)))
            .await?
    } else {
        let all: Vec<Project> = ctx.list_all("/v1/projects").await?;
        let mut named = all.into_iter().filter(|p| p.name == project);
        match (named.next(), named.next()) {
            (Some(p), None) => p,
            (Some(_), Some(_)) => {
                anyhow::bail!("several projects are named '{project}': give the project id")
            }
            (None, _) => anyhow::bail!("no project named '{project}' is visible to this token"),
        }
    };
    profile.project = Some(found.id.to_string());
    write_profile(&path, &profile)?;
    Ok(format!(
        "now using project {} ({}); saved to {}\n",
        found.name,
        found.id,
        path.display()
    ))
}
