//! `isthmus events`: the project's audit log, oldest first, filtered by kind, resource,
//! actor and time, with `--follow` to keep printing new events as they happen. Tables
//! name actors by their token's name (`alice`) rather than `token:<id>`; JSON and YAML
//! keep what the API said.

use std::collections::HashMap;
use std::time::Duration;

use isthmus_core::resources::{Event, Token};

use super::Ctx;
use crate::args::{EventsArgs, OutputFormat};
use crate::output::Table;
use crate::output::View;

/// How long one `--follow` request waits on the server for the next event (a long
/// poll: the answer comes as soon as there is one).
const FOLLOW_WAIT_SECS: u64 = 15;
/// After a failed read, before the next one.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// One page of the log, as the API sends it.
#[derive(Debug, serde::Deserialize)]
struct EventPage {
    items: Vec<Event>,
}

pub async fn run(ctx: &Ctx, args: EventsArgs) -> anyhow::Result<String> {
    let project = ctx.project_path().await?;
    let path = format!("{project}/events");
    let names = token_names(ctx, &project).await;
    let keep = Filter::new(&args, &names);
    let mut events: Vec<Event> = ctx.list_all(&path).await?;
    let mut last_seq = events.last().map_or(0, |e| e.seq);
    events.retain(|e| keep.matches(e));
    if let Some(limit) = args.limit {
        // The most recent N, still oldest first so the log reads top to bottom.
        let skip = events.len().saturating_sub(limit);
        events.drain(..skip);
    }
    let table = ctx.format == OutputFormat::Table;
    let named = |mut e: Event| {
        if table {
            e.actor = actor_name(&e.actor, &names);
        }
        e
    };
    let events: Vec<Event> = events.into_iter().map(named).collect();
    if !args.follow {
        return ctx.list(&events);
    }
    // Following: the table's header once, then rows as they come (JSON: one object each).
    print_batch(ctx, &events, true)?;
    // Only what follows the last event seen, each read answered as soon as there is
    // news (or empty after the wait): the log is not read again from its start.
    loop {
        let url = format!("{path}?cursor={last_seq}&limit=1000&wait={FOLLOW_WAIT_SECS}");
        let page: EventPage = tokio::select! {
            page = ctx.client.get(&url) => match page {
                Ok(page) => page,
                // The server restarting or a request cut: try again shortly. A refusal
                // (a revoked token, a deleted project) ends the follow.
                Err(e) => {
                    let refused = e
                        .downcast_ref::<crate::client::ApiError>()
                        .is_some_and(|a| a.status.is_client_error());
                    if refused {
                        return Err(e);
                    }
                    tokio::time::sleep(RETRY_AFTER).await;
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(String::new()),
        };
        last_seq = page.items.last().map_or(last_seq, |e| e.seq.max(last_seq));
        let new: Vec<Event> = page
            .items
            .into_iter()
            .filter(|e| keep.matches(e))
            .map(named)
            .collect();
        print_batch(ctx, &new, false)?;
    }
}

fn print_batch(ctx: &Ctx, events: &[Event], first: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let text = match ctx.format {
        OutputFormat::Table => {
            let mut table = Table::new(Event::HEADERS);
            for e in events {
                table.row(e.row());
            }
            let text = table.render();
            match first {
                true => text,
                // The header was printed with the first batch.
                false => text
                    .split_once('\n')
                    .map_or(String::new(), |(_, rows)| rows.to_string()),
            }
        }
        _ => events
            .iter()
            .map(|e| ctx.one(e))
            .collect::<anyhow::Result<Vec<_>>>()?
            .concat(),
    };
    let mut out = std::io::stdout();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Token ids to names, as far as this token may list them: the project's tokens, and
/// every token for the superuser (a viewer may list none: then actors stay ids).
async fn token_names(ctx: &Ctx, project: &str) -> HashMap<String, String> {
    let mut names = HashMap::new();
    for path in [format!("{project}/tokens"), "/v1/tokens".to_string()] {
        if let Ok(tokens) = ctx.client.get::<Vec<Token>>(&path).await {
            names.extend(tokens.into_iter().map(|t| (t.id.to_string(), t.name)));
        }
    }
    names
}

/// `token:<id>` as the token's name, else as it is.
fn actor_name(actor: &str, names: &HashMap<String, String>) -> String {
    match actor.strip_prefix("token:").and_then(|id| names.get(id)) {
        Some(name) => name.clone(),
        None => actor.to_string(),
    }
}

/// What `--kind`, `--id`, `--actor` and `--since` keep.
struct Filter {
    kind: Option<String>,
    id: Option<String>,
    /// Every spelling of the actor: `token:<id>`, the id, the name.
    actors: Option<Vec<String>>,
    since: Option<chrono::DateTime<chrono::Utc>>,
}

impl Filter {
    fn new(args: &EventsArgs, names: &HashMap<String, String>) -> Filter {
        let actors = args.actor.as_ref().map(|a| {
            let mut spellings = vec![a.clone(), format!("token:{a}")];
            spellings.extend(
                names
                    .iter()
                    .filter(|(_, name)| *name == a)
                    .map(|(id, _)| format!("token:{id}")),
            );
            spellings
        });
        Filter {
            // `networks` works as well as `network`.
            kind: args
                .kind
                .as_ref()
                .map(|k| k.strip_suffix('s').unwrap_or(k).replace('-', "_")),
            id: args.id.clone(),
            actors,
            since: args.since,
        }
    }

    fn matches(&self, e: &Event) -> bool {
        self.kind.as_ref().is_none_or(|k| *k == e.resource_kind)
            && self.id.as_ref().is_none_or(|id| *id == e.resource_id)
            && self.actors.as_ref().is_none_or(|a| a.contains(&e.actor))
            && self.since.is_none_or(|since| e.time >= since)
    }
}
