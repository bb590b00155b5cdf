//! One module per group of verbs. Each verb returns the text for stdout; progress and
//! hints go to stderr so `-o json` output stays parseable.

pub mod apply;
pub mod ca;
pub mod catalog;
pub mod cluster;
mod cluster_move;
pub mod endpoint_service;
pub mod events;
pub mod lab;
mod lab_endpoint;
pub mod leader;
pub mod login;
pub mod migration;
pub mod network;
pub mod object;
pub mod peering;
pub mod probe;
pub mod project;
pub mod reach;
pub mod serve;
pub mod sim;
pub mod sim_endpoint;
pub mod store;
pub mod token;
pub mod vpn;
pub mod watch;

use std::time::Duration;

use anyhow::Context as _;
use isthmus_core::resources::Project;
use isthmus_core::ProjectId;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::args::{OutputFormat, WaitArgs};
use crate::client::{segment, Client};
use crate::config::ClientConfig;
use crate::kinds::CliKind;
use crate::output::{self, View};
use crate::wait::{self, Goal};

/// What every client verb runs with.
pub struct Ctx {
    pub client: Client,
    pub format: OutputFormat,
    project: Option<String>,
}

/// One page of a list, as the API sends it.
#[derive(Debug, Deserialize)]
struct Page<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

impl Ctx {
    pub fn new(config: ClientConfig, format: OutputFormat) -> anyhow::Result<Ctx> {
        Ok(Ctx {
            client: Client::new(&config.url, config.token)?
                .with_token_not_found(config.token_not_found),
            format,
            project: config.project,
        })
    }

    /// Whether a project was given (flag, environment or profile).
    pub fn has_project(&self) -> bool {
        self.project.is_some()
    }

    /// `/v1/projects/<id>`, resolving a project name to its id if a name was given.
    pub async fn project_path(&self) -> anyhow::Result<String> {
        let given = self.project.as_deref().context(
            "no project: pass --project, set ISTHMUS_PROJECT, or run `isthmus login --project`",
        )?;
        self.project_path_of(given).await
    }

    /// `/v1/projects/<id>` of the project `given` by name or id.
    pub async fn project_path_of(&self, given: &str) -> anyhow::Result<String> {
        let id = if given.parse::<ProjectId>().is_ok() {
            given.to_string()
        } else {
            let projects: Vec<Project> = self.list_all("/v1/projects").await?;
            let mut named = projects.into_iter().filter(|p| p.name == given);
            match (named.next(), named.next()) {
                (Some(p), None) => p.id.to_string(),
                (Some(_), Some(_)) => {
                    anyhow::bail!("several projects are named '{given}': pass the project id")
                }
                (None, _) => anyhow::bail!("no project named '{given}' is visible to this token"),
            }
        };
        Ok(format!("/v1/projects/{}", segment(&id)))
    }

    /// Every item of a paginated list, following `next_cursor`.
    pub async fn list_all<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<Vec<T>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                None => path.to_string(),
                Some(c) => {
                    let sep = if path.contains('?') { '&' } else { '?' };
                    format!("{path}{sep}cursor={}", segment(c))
                }
            };
            let page: Page<T> = self.client.get(&url).await?;
            items.extend(page.items);
            match page.next_cursor {
                Some(next) if !next.is_empty() && Some(&next) != cursor.as_ref() => {
                    cursor = Some(next)
                }
                _ => return Ok(items),
            }
        }
    }

    pub fn one<T: View>(&self, item: &T) -> anyhow::Result<String> {
        output::one(self.format, item)
    }

    pub fn list<T: View>(&self, items: &[T]) -> anyhow::Result<String> {
        output::list(self.format, items)
    }

    /// Shows `object`, after waiting for it to settle when `--wait` was given.
    pub async fn settle<K: CliKind>(
        &self,
        path: &str,
        object: K,
        goal: Goal,
        wait: WaitArgs,
    ) -> anyhow::Result<String> {
        if !wait.wait {
            return self.one(&object);
        }
        let timeout = Duration::from_secs(wait.timeout);
        let settled = wait::until_settled::<K>(&self.client, path, goal, timeout).await?;
        // Applied means its names resolve too: the platform DNS follows the store.
        wait::dns_synced(&self.client).await;
        match settled {
            Some(settled) => {
                if goal == Goal::Ready {
                    settled.after_settled();
                }
                self.one(&settled)
            }
            None => {
                let id = object.id();
                let gone = serde_json::json!({"id": id.to_string(), "status": "deleted"});
                match self.format {
                    OutputFormat::Table => Ok(format!("{} {id} deleted\n", K::INFO.name)),
                    OutputFormat::Json => output::json(&gone),
                    OutputFormat::Yaml => output::yaml(&gone),
                }
            }
        }
    }
}

/// `?include_deleted=true` when asked.
pub fn list_query(include_deleted: bool) -> &'static str {
    if include_deleted {
        "?include_deleted=true"
    } else {
        ""
    }
}
