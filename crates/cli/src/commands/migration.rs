//! `isthmus migration …`: create, translate, verify and cutover; the other verbs (list,
//! get, delete, wait) are generic. `--wait` shows the copy's progress (copied of total,
//! rate, ETA) on a terminal as it moves.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use isthmus_core::kinds::migration::{
    Migration, MigrationCreate, MigrationFilters, MigrationMode, MigrationSourceCreate,
    MigrationTransform, SourceCredentials, SubjectRename,
};
use serde_json::{json, Value};

use super::{object, Ctx};
use crate::args::migration::{CreateArgs, MigrationCommand, ModeArg};
use crate::args::OutputFormat;
use crate::kinds::CliKind;
use crate::output::{Details, View};
use isthmus_core::reach::migration::MigrationReach;

pub async fn run(ctx: &Ctx, command: MigrationCommand) -> anyhow::Result<String> {
    let at = object::Paths::of::<Migration>(ctx).await?;
    let path = |id: &str| at.one(id);
    match command {
        MigrationCommand::Create(args) => {
            let CreateArgs {
                name,
                cluster,
                sources,
                source_ca,
                source_user,
                source_password,
                source_token,
                streams,
                mode,
                partitions,
                include_subject,
                exclude_subject,
                exclude_header,
                rename,
                script_file,
                wait,
            } = *args;
            let mut subjects = Vec::new();
            for pair in rename {
                let Some((from, to)) = pair.split_once('=') else {
                    bail!("--rename {pair:?}: expected FROM=TO");
                };
                subjects.push(SubjectRename {
                    from: from.to_string(),
                    to: to.to_string(),
                });
            }
            let script = match script_file {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("--script-file: read {}", path.display()))?,
                ),
                None => None,
            };
            let transform = (!subjects.is_empty() || script.is_some())
                .then_some(MigrationTransform { subjects, script });
            let ca_certificate = match source_ca {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("--source-ca: read {}", path.display()))?,
                ),
                None => None,
            };
            let credentials = match (source_user, source_password, source_token) {
                (Some(user), password, None) => Some(SourceCredentials::UserPassword {
                    user,
                    password: password.unwrap_or_default(),
                }),
                (None, None, Some(token)) => Some(SourceCredentials::Token { token }),
                (None, None, None) => None,
                _ => bail!(
                    "--source-user/--source-password and --source-token: give one or the other"
                ),
            };
            let mut exclude_headers = BTreeMap::new();
            for pair in exclude_header {
                let Some((k, v)) = pair.split_once('=') else {
                    bail!("--exclude-header {pair:?}: expected NAME=VALUE");
                };
                exclude_headers.insert(k.to_string(), v.to_string());
            }
            let body = MigrationCreate {
                name,
                target_cluster_id: cluster,
                source: MigrationSourceCreate {
                    urls: sources,
                    ca_certificate,
                    credentials,
                },
                streams,
                mode: match mode {
                    ModeArg::Ordered => MigrationMode::Ordered,
                    ModeArg::Partitioned => MigrationMode::Partitioned { partitions },
                },
                filters: MigrationFilters {
                    include_subjects: include_subject,
                    exclude_subjects: exclude_subject,
                    exclude_headers,
                },
                transform,
            };
            object::create::<Migration>(ctx, &at, &body, wait).await
        }
        MigrationCommand::Translate { id, stream, seq } => {
            let url = format!("{}/translate", path(&id));
            let answer: Value = ctx
                .client
                .post(&url, &json!({"stream": stream, "seqs": seq}))
                .await?;
            lines(ctx, &answer)
        }
        MigrationCommand::Verify { id } => {
            let url = format!("{}/verify", path(&id));
            let answer: Value = ctx.client.post(&url, &json!({})).await?;
            let equal = answer["results"]
                .as_array()
                .is_some_and(|r| r.iter().all(|s| s["equal"] == true));
            let text = lines(ctx, &answer)?;
            if !equal {
                print!("{text}");
                bail!("source and target differ (see the reports above)");
            }
            Ok(text)
        }
        MigrationCommand::Cutover { id, timeout } => {
            let url = format!("{}/cutover", path(&id));
            let m: Migration = ctx
                .client
                .post(&url, &json!({"timeout_seconds": timeout}))
                .await?;
            ctx.one(&m)
        }
        MigrationCommand::Reach { id, to, port } => {
            let url = format!("{}/reach", path(&id));
            let answer: MigrationReach = ctx
                .client
                .post(&url, &json!({"to": to, "port": port}))
                .await?;
            match ctx.format {
                OutputFormat::Table => Ok(render_reach(&id, &answer)),
                OutputFormat::Json => crate::output::json(&answer),
                OutputFormat::Yaml => crate::output::yaml(&answer),
            }
        }
        MigrationCommand::Object(verbs) => object::run::<Migration>(ctx, &at, verbs.verb).await,
    }
}

/// Per destination: a headline, then the hops, why, and the fix.
fn render_reach(id: &str, answer: &MigrationReach) -> String {
    let mut out = String::new();
    for check in &answer.checks {
        let headline = if check.verdict.allowed {
            "allowed"
        } else {
            "denied"
        };
        out.push_str(&format!(
            "replicator of {id} → {} port {}: {headline}\n",
            check.to, check.port
        ));
        super::reach::render_verdict(&mut out, &check.verdict);
        out.push('\n');
    }
    out
}

/// The engine's answers, one JSON document per line.
fn lines(_ctx: &Ctx, answer: &Value) -> anyhow::Result<String> {
    let mut text = String::new();
    for result in answer["results"].as_array().into_iter().flatten() {
        text.push_str(&serde_json::to_string(result)?);
        text.push('\n');
    }
    Ok(text)
}

impl CliKind for Migration {
    const GET_ABOUT: &'static str = "Show one migration: phase, positions, lag, rates, ETA";
    const DELETE_ABOUT: &'static str =
        "Delete a migration (the replicator stops, its egress closes; copied streams stay)";
}

impl View for Migration {
    const HEADERS: &'static [&'static str] = &["ID", "NAME", "CLUSTER", "LAG", "RATE/S", "STATUS"];
    fn row(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.name.clone(),
            self.target_cluster_id.to_string(),
            self.progress.lag_events.to_string(),
            format!("{:.0}", self.progress.rate),
            self.status.to_string(),
        ]
    }
    fn details(&self) -> Details {
        let p = &self.progress;
        Details::default()
            .field("id", self.id)
            .field("name", &self.name)
            .field("target_cluster_id", self.target_cluster_id)
            .block("source", self.source.urls.clone())
            .field(
                "credentials",
                self.source
                    .credentials
                    .as_ref()
                    .map_or("none".to_string(), |c| format!("set ({})", c.kind)),
            )
            .block(
                "transform",
                self.transform
                    .iter()
                    .flat_map(|t| {
                        t.subjects
                            .iter()
                            .map(|r| format!("rename {} -> {}", r.from, r.to))
                            .chain(t.script.as_ref().map(|s| {
                                format!("script ({} lines)", s.lines().count())
                            }))
                    })
                    .collect(),
            )
            .field("replicator", self.worker_ip)
            .block(
                "egress",
                self.egress
                    .iter()
                    .map(|r| format!("{} tcp {:?}", r.cidr, r.ports))
                    .collect(),
            )
            .field("status", self.status)
            .field("status_message", &self.status_message)
            .field("lag_events", p.lag_events)
            .field("lag_seconds", format!("{:.3}", p.lag_seconds))
            .field("rate", format!("{:.0}", p.rate))
            .field("source_rate", format!("{:.0}", p.source_rate))
            .field(
                "eta_seconds",
                p.eta_seconds.map_or("-".into(), |e| format!("{e:.0}")),
            )
            .field("degraded", p.degraded.clone().unwrap_or_else(|| "no".into()))
            .block(
                "streams",
                p.streams
                    .iter()
                    .map(|s| {
                        format!(
                            "{} source {}..{} copied through {} target last {} gaps {} filtered {:?}",
                            s.stream,
                            s.source_first_seq,
                            s.source_end_seq,
                            s.copied_through,
                            s.target_last_seq,
                            s.source_gaps,
                            s.filtered
                        )
                    })
                    .collect(),
            )
    }
}
