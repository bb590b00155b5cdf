//! What a migration reports about itself: its phase, per stream where the source and the
//! target are, lag in events and seconds, rates, an ETA and whether it will ever finish.
//! The engine's writers record progress here; the monitor turns it into a status.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

/// Where a migration is. `Degraded` is not a phase: it is a flag beside it (a stall).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "phase", content = "reason")]
pub enum Phase {
    /// Copying stream configurations and history.
    Copying,
    /// Caught up once; copying the live tail.
    Live,
    /// Live, with no lag, and replicating faster than the source is written.
    ReadyForCutover,
    /// Durable consumers recreated on the target.
    CutOver,
    /// Stopped after the cut-over.
    Completed,
    /// Stopped for a reason that retrying cannot fix.
    Failed(String),
}

/// One stream's progress.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamStatus {
    pub stream: String,
    /// The source stream's last sequence at the last look.
    pub source_last_seq: u64,
    /// The source stream's last message still there (the last sequence may be deleted).
    pub source_end_seq: u64,
    /// The source stream's first available sequence at the last look.
    pub source_first_seq: u64,
    /// Every source message up to here is in the target (ordered: the last one copied).
    pub copied_through: u64,
    /// The target stream's last sequence.
    pub target_last_seq: u64,
    /// Messages this engine copied since it started.
    pub copied: u64,
    /// Source messages found already in the target after a restart (not copied again).
    pub already_present: u64,
    /// Source sequences never delivered (deleted or purged in the source): reported, not hidden.
    pub source_gaps: u64,
    /// Source messages the filters skipped, per reason, since the migration began (an
    /// engine carries its predecessor's counts, see `counted_through`).
    pub filtered: BTreeMap<String, u64>,
    /// The carried counts hold every skipped message up to this source sequence, so a
    /// message read again after a restart is not counted twice.
    #[serde(skip)]
    pub counted_through: u64,
    /// True once the copy reached the end of the source as it was when the copy began.
    pub caught_up: bool,
    /// When the source stored the last message copied.
    #[serde(skip)]
    pub last_copied_at_source: Option<SystemTime>,
    /// The last error this stream retried after, if any.
    pub last_error: Option<String>,
    /// Set when retrying cannot help.
    pub failed: Option<String>,
}

impl StreamStatus {
    pub fn lag_events(&self) -> u64 {
        self.source_end_seq.saturating_sub(self.copied_through)
    }
}

/// A migration's status as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    #[serde(flatten)]
    pub phase: Phase,
    /// Set while no progress was made for the stall time with events to copy.
    pub degraded: Option<String>,
    pub streams: Vec<StreamStatus>,
    pub lag_events: u64,
    pub lag_seconds: f64,
    /// Copied events per second (over the last samples).
    pub rate: f64,
    /// Events per second the source is written at.
    pub source_rate: f64,
    pub eta_seconds: Option<f64>,
    /// "Will it ever finish": the source is written as fast as or faster than it is copied.
    pub warning: Option<String>,
}

/// The shared record the writers update and the monitor reads.
#[derive(Debug, Default)]
pub struct Board {
    pub streams: BTreeMap<String, StreamStatus>,
    pub cut_over: bool,
    pub completed: bool,
    pub degraded: Option<String>,
    pub rate: f64,
    pub source_rate: f64,
}

pub type SharedBoard = Arc<Mutex<Board>>;

impl Board {
    pub fn stream(&mut self, name: &str) -> &mut StreamStatus {
        // Looked up first: the writers call this for every message, and `entry` would
        // allocate the name each time.
        if !self.streams.contains_key(name) {
            self.streams.insert(
                name.to_string(),
                StreamStatus {
                    stream: name.to_string(),
                    ..Default::default()
                },
            );
        }
        self.streams.get_mut(name).expect("inserted above")
    }

    pub fn status(&self) -> Status {
        let streams: Vec<StreamStatus> = self.streams.values().cloned().collect();
        let lag_events: u64 = streams.iter().map(StreamStatus::lag_events).sum();
        let now = SystemTime::now();
        let lag_seconds = streams
            .iter()
            .filter(|s| s.lag_events() > 0)
            .filter_map(|s| s.last_copied_at_source)
            .filter_map(|t| now.duration_since(t).ok())
            .map(|d| d.as_secs_f64())
            .fold(0.0, f64::max);
        let never_finishes = lag_events > 0 && self.source_rate >= self.rate && self.rate > 0.0;
        let warning = never_finishes.then(|| {
            format!(
                "the source is written at {:.0} events/s, at or above the replication rate of {:.0}/s: the migration will not catch up",
                self.source_rate, self.rate
            )
        });
        let eta_seconds = (lag_events == 0).then_some(0.0).or_else(|| {
            (self.rate > self.source_rate)
                .then(|| lag_events as f64 / (self.rate - self.source_rate))
        });
        let failed = streams.iter().find_map(|s| {
            s.failed
                .as_ref()
                .map(|reason| format!("stream {}: {reason}", s.stream))
        });
        let all_caught_up = !streams.is_empty() && streams.iter().all(|s| s.caught_up);
        let phase = if let Some(reason) = failed {
            Phase::Failed(reason)
        } else if self.completed {
            Phase::Completed
        } else if self.cut_over {
            Phase::CutOver
        } else if all_caught_up && lag_events == 0 && !never_finishes {
            Phase::ReadyForCutover
        } else if all_caught_up {
            Phase::Live
        } else {
            Phase::Copying
        };
        Status {
            phase,
            degraded: self.degraded.clone(),
            streams,
            lag_events,
            lag_seconds,
            rate: self.rate,
            source_rate: self.source_rate,
            eta_seconds,
            warning,
        }
    }
}

/// Rates from successive samples of a counter, smoothed so one slow second does not swing them.
#[derive(Debug, Default)]
pub struct RateMeter {
    last: Option<(Instant, u64)>,
    pub per_second: f64,
}

impl RateMeter {
    pub fn sample(&mut self, count: u64) -> f64 {
        let now = Instant::now();
        if let Some((then, before)) = self.last {
            let seconds = now.duration_since(then).as_secs_f64();
            if seconds > 0.0 {
                let current = count.saturating_sub(before) as f64 / seconds;
                self.per_second = if self.per_second == 0.0 {
                    current
                } else {
                    0.5 * self.per_second + 0.5 * current
                };
            }
        }
        self.last = Some((now, count));
        self.per_second
    }
}

/// The stall watchdog: progress is the sum of what every stream has copied through; with
/// events to copy and no progress for `stall_after`, the migration is degraded, and the
/// flag clears by itself on the next progress.
#[derive(Debug)]
pub struct Watchdog {
    stall_after: Duration,
    last_progress: Instant,
    last_mark: u64,
}

impl Watchdog {
    pub fn new(stall_after: Duration) -> Self {
        Watchdog {
            stall_after,
            last_progress: Instant::now(),
            last_mark: 0,
        }
    }

    /// The degraded reason, if any, after looking at the board.
    pub fn check(&mut self, board: &Board) -> Option<String> {
        let mark: u64 = board.streams.values().map(|s| s.copied_through).sum();
        let lag: u64 = board.streams.values().map(StreamStatus::lag_events).sum();
        if mark != self.last_mark || lag == 0 {
            self.last_mark = mark;
            self.last_progress = Instant::now();
            return None;
        }
        let stalled = self.last_progress.elapsed();
        (stalled >= self.stall_after).then(|| {
            let cause = board
                .streams
                .values()
                .find_map(|s| s.last_error.clone())
                .unwrap_or_else(|| "no error reported".to_string());
            format!(
                "no progress for {}s with {lag} events to copy: {cause}",
                stalled.as_secs()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(end: u64, copied_through: u64, rate: f64, source_rate: f64) -> Board {
        let mut board = Board {
            rate,
            source_rate,
            ..Default::default()
        };
        let stream = board.stream("ORDERS");
        stream.source_end_seq = end;
        stream.copied_through = copied_through;
        stream.caught_up = copied_through >= end;
        board
    }

    #[test]
    fn a_source_written_as_fast_as_it_is_copied_will_never_finish_and_says_so() {
        let status = board(10_000, 4_000, 1_000.0, 1_200.0).status();
        assert_eq!(status.phase, Phase::Copying);
        assert_eq!(status.lag_events, 6_000);
        assert_eq!(status.eta_seconds, None);
        assert!(status.warning.unwrap().contains("will not catch up"));
    }

    #[test]
    fn the_eta_counts_the_source_writes_against_the_copy_rate() {
        let status = board(10_000, 4_000, 2_000.0, 500.0).status();
        assert_eq!(status.eta_seconds, Some(4.0));
        assert_eq!(status.warning, None);
    }

    #[test]
    fn phases_follow_the_copy_and_the_cut_over() {
        assert_eq!(
            board(100, 100, 0.0, 0.0).status().phase,
            Phase::ReadyForCutover
        );
        let mut live = board(100, 90, 50.0, 10.0);
        live.stream("ORDERS").caught_up = true;
        assert_eq!(live.status().phase, Phase::Live);
        let mut cut = board(100, 100, 0.0, 0.0);
        cut.cut_over = true;
        assert_eq!(cut.status().phase, Phase::CutOver);
        cut.completed = true;
        assert_eq!(cut.status().phase, Phase::Completed);
        let mut failed = board(100, 50, 0.0, 0.0);
        failed.stream("ORDERS").failed = Some("purged".into());
        assert_eq!(
            failed.status().phase,
            Phase::Failed("stream ORDERS: purged".into())
        );
    }

    #[test]
    fn the_watchdog_flags_a_stall_only_with_events_to_copy_and_clears_on_progress() {
        let mut watchdog = Watchdog::new(Duration::ZERO);
        let mut stalled = board(100, 50, 0.0, 0.0);
        assert_eq!(watchdog.check(&stalled), None, "the first look is progress");
        stalled.stream("ORDERS").last_error = Some("target unreachable".into());
        let reason = watchdog.check(&stalled).expect("degraded");
        assert!(
            reason.contains("50 events to copy") && reason.contains("target unreachable"),
            "{reason}"
        );
        stalled.stream("ORDERS").copied_through = 60;
        assert_eq!(watchdog.check(&stalled), None, "progress clears it");
        assert_eq!(
            watchdog.check(&board(100, 100, 0.0, 0.0)),
            None,
            "nothing to copy is no stall"
        );
    }

    #[test]
    fn a_status_serialises_its_phase_flat() {
        let json = serde_json::to_value(board(100, 100, 0.0, 0.0).status()).unwrap();
        assert_eq!(json["phase"], "ready_for_cutover");
        let mut failed = board(100, 50, 0.0, 0.0);
        failed.stream("ORDERS").failed = Some("purged".into());
        let json = serde_json::to_value(failed.status()).unwrap();
        assert_eq!(
            (json["phase"].as_str(), json["reason"].as_str()),
            (Some("failed"), Some("stream ORDERS: purged"))
        );
    }
}
