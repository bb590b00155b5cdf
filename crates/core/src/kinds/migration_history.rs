//! Lag and rate over time: the console's chart of a migration. The engine reports only
//! its latest figures; the controller keeps a short series of them on the migration (one
//! sample per [`SAMPLE_EVERY_SECONDS`], the last [`MAX_SAMPLES`]), so the chart survives a
//! page reload and a replicator restart, and costs the store a bounded few kilobytes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::migration::MigrationProgress;

/// Seconds between two samples of the series.
pub const SAMPLE_EVERY_SECONDS: i64 = 5;
/// Samples kept: ten minutes at one per five seconds.
pub const MAX_SAMPLES: usize = 120;

/// The engine's figures at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProgressSample {
    /// When the engine reported them (RFC 3339).
    pub at: String,
    pub lag_events: u64,
    pub lag_seconds: f64,
    /// Copied events per second.
    pub rate: f64,
    /// Events per second the source was written at.
    pub source_rate: f64,
}

impl MigrationProgress {
    /// Takes the series of the progress it replaces and adds this report to it when the
    /// last sample is at least [`SAMPLE_EVERY_SECONDS`] older (or unreadable), keeping the
    /// last [`MAX_SAMPLES`]. A report without a time adds nothing.
    pub fn keep_history(&mut self, previous: &MigrationProgress) {
        let mut history = previous.history.clone();
        if let Some(at) = self.reported_at.as_deref().and_then(parse) {
            let due = history
                .last()
                .and_then(|last| parse(&last.at))
                .is_none_or(|last| (at - last).num_seconds() >= SAMPLE_EVERY_SECONDS);
            if due {
                history.push(ProgressSample {
                    at: self.reported_at.clone().unwrap_or_default(),
                    lag_events: self.lag_events,
                    lag_seconds: self.lag_seconds,
                    rate: self.rate,
                    source_rate: self.source_rate,
                });
            }
        }
        let excess = history.len().saturating_sub(MAX_SAMPLES);
        history.drain(..excess);
        self.history = history;
    }
}

fn parse(at: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(at: &str, lag: u64) -> MigrationProgress {
        MigrationProgress {
            reported_at: Some(at.into()),
            lag_events: lag,
            rate: 1000.0,
            ..Default::default()
        }
    }

    #[test]
    fn one_sample_per_five_seconds_and_the_last_ten_minutes_only() {
        let mut current = MigrationProgress::default();
        for second in 0..3600 {
            let mut next = report(
                &format!("2026-12-02T17:{:02}:{:02}Z", second / 60 % 60, second % 60),
                second,
            );
            next.keep_history(&current);
            current = next;
        }
        assert_eq!(current.history.len(), MAX_SAMPLES);
        let lags: Vec<u64> = current.history.iter().map(|s| s.lag_events).collect();
        assert_eq!(lags.first(), Some(&(3600 - 5 * MAX_SAMPLES as u64)));
        assert_eq!(lags.last(), Some(&3595));
        assert!(lags.windows(2).all(|w| w[1] - w[0] == 5), "{lags:?}");
    }

    #[test]
    fn a_report_without_a_time_keeps_the_series_as_it_was() {
        let mut first = report("2026-12-02T17:00:00Z", 7);
        first.keep_history(&MigrationProgress::default());
        let mut next = MigrationProgress::default();
        next.keep_history(&first);
        assert_eq!(next.history, first.history);
        assert_eq!(next.history.len(), 1);
    }
}
