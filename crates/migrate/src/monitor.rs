//! Samples the source's positions (what there is to copy), the rates, and runs the stall
//! watchdog. This reads stream metadata twice a second; the events themselves are pushed.

use std::collections::HashMap;

use async_nats::jetstream::Context;

use crate::engine::Settings;
use crate::source::last_existing;
use crate::status::{RateMeter, SharedBoard, Watchdog};

pub async fn run(
    source: Context,
    source_client: async_nats::Client,
    streams: Vec<String>,
    settings: Settings,
    board: SharedBoard,
) {
    let mut copied = RateMeter::default();
    let mut written = RateMeter::default();
    let mut watchdog = Watchdog::new(settings.stall_after);
    // The source's end when the copy began: reaching it means the history is copied.
    let mut history_end: HashMap<String, u64> = HashMap::new();
    let mut ticker = tokio::time::interval(settings.sample_every);
    loop {
        ticker.tick().await;
        let mut positions = Vec::new();
        for name in &streams {
            // A source that cannot be read now leaves the last positions in place; the
            // watchdog reports the stall if the copy stops too.
            if let Ok(mut stream) = source.get_stream(name).await {
                if let Ok(info) = stream.info().await {
                    let state = info.state.clone();
                    if let Ok(end) = last_existing(&source, name).await {
                        positions.push((
                            name.clone(),
                            state.first_sequence,
                            state.last_sequence,
                            end,
                        ));
                    }
                }
            }
        }
        let mut shared = board.lock().expect("board");
        for (name, first, last, end) in positions {
            let history = *history_end.entry(name.clone()).or_insert(end);
            let stream = shared.stream(&name);
            stream.source_first_seq = first;
            stream.source_last_seq = last;
            stream.source_end_seq = end;
            if stream.copied_through >= history {
                stream.caught_up = true;
            }
        }
        let total_copied: u64 = shared.streams.values().map(|s| s.copied).sum();
        let total_written: u64 = shared.streams.values().map(|s| s.source_last_seq).sum();
        shared.rate = copied.sample(total_copied);
        shared.source_rate = written.sample(total_written);
        let stalled = watchdog.check(&shared);
        // A source the client has lost (missed pings, a reset) is said at once, without
        // waiting for the stall time: buffered events may still be copied meanwhile.
        let unreachable = (source_client.connection_state() != async_nats::connection::State::Connected)
            .then(|| {
                let lag: u64 = shared.streams.values().map(|s| s.lag_events()).sum();
                format!("the source is unreachable (its connection is lost); at least {lag} events to copy")
            });
        shared.degraded = stalled.or(unreachable);
    }
}
