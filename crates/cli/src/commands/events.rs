//! `isthmus events [list] [--limit N]`: the project's audit log, oldest first.

use isthmus_core::resources::Event;

use super::Ctx;
use crate::args::EventsArgs;

pub async fn run(ctx: &Ctx, args: EventsArgs) -> anyhow::Result<String> {
    let path = format!("{}/events", ctx.project_path().await?);
    let mut events: Vec<Event> = ctx.list_all(&path).await?;
    if let Some(limit) = args.limit {
        // The most recent N, still oldest first so the log reads top to bottom.
        let skip = events.len().saturating_sub(limit);
        events.drain(..skip);
    }
    ctx.list(&events)
}
