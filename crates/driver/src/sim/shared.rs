//! Simulated clouds shared by several processes (the replicas of one installation): the
//! state is rebuilt from a log they all append to, in turns. Each use of the sim is one
//! turn: it catches up on what the others recorded, decides against that state, records
//! its change, and ends the turn. So a replica taking over from a dead leader finds what
//! the leader created in "the cloud" and adopts it, instead of creating it a second time.
//!
//! The log itself lives elsewhere (the replicas' database: `isthmus_store::sim_log`); this
//! crate only needs the three calls of [`SharedLog`].

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, MutexGuard};

use anyhow::{anyhow, Context};

use super::journal::Record;
use super::state::SimState;
use super::Inner;

/// A log of the sim's records that several processes share, used in turns.
pub trait SharedLog: Send + Sync {
    /// Starts this process's turn, waiting while another has one; returns the records
    /// (their place and JSON) after place `after`.
    fn begin(&self, after: i64) -> anyhow::Result<Vec<(i64, String)>>;
    /// Appends a record in the current turn; returns its place.
    fn append(&self, record: String) -> anyhow::Result<i64>;
    /// Ends the turn, keeping its records.
    fn finish(&self) -> anyhow::Result<()>;
}

/// This process's side of a shared log.
pub(super) struct Shared {
    log: Arc<dyn SharedLog>,
    /// The place of the last record the state has applied.
    applied: i64,
    /// Why the current turn cannot record anything (its start or a record failed): the
    /// sim's changes then fail transiently, as a cloud API that cannot be reached.
    broken: Option<String>,
}

impl Shared {
    pub(super) fn new(log: Arc<dyn SharedLog>) -> Self {
        Shared {
            log,
            applied: 0,
            broken: None,
        }
    }

    /// Starts a turn: applies to `state` what other processes recorded since the last.
    fn start(&mut self, state: &mut SimState) {
        self.broken = None;
        match self.log.begin(self.applied) {
            Ok(records) => {
                for (place, line) in records {
                    match serde_json::from_str::<Record>(&line) {
                        Ok(record) => state.apply(record),
                        // A record of a newer version: the rest of the state still holds.
                        Err(e) => {
                            tracing::warn!(place, error = %e, "skipping a sim record this version does not know")
                        }
                    }
                    self.applied = place;
                }
            }
            Err(e) => self.broken = Some(format!("{e:#}")),
        }
    }

    /// Records `record` in the current turn.
    fn record(&mut self, record: &Record) -> anyhow::Result<()> {
        if let Some(why) = &self.broken {
            return Err(anyhow!(
                "the shared simulated clouds are unavailable: {why}"
            ));
        }
        let line = serde_json::to_string(record).context("encode a sim record")?;
        match self.log.append(line) {
            Ok(place) => {
                self.applied = place;
                Ok(())
            }
            Err(e) => {
                self.broken = Some(format!("{e:#}"));
                Err(e)
            }
        }
    }

    /// Ends the turn. When it failed part-way, what it applied may not be in the log: the
    /// state is rebuilt from the log at the next turn.
    fn end(&mut self, state: &mut SimState) {
        let ended = match self.broken.take() {
            Some(why) => Err(anyhow!(why)),
            None => self.log.finish(),
        };
        if let Err(e) = ended {
            tracing::warn!(error = %format!("{e:#}"), "a turn at the shared simulated clouds failed; rereading them");
            *state = SimState::default();
            self.applied = 0;
        }
    }
}

impl Inner {
    /// Journals `record` (file or shared log), then applies it: what is applied is
    /// always recorded.
    pub(super) fn commit(&mut self, record: Record) -> anyhow::Result<()> {
        if let Some(j) = &mut self.journal {
            j.append(&record)?;
        }
        if let Some(s) = &mut self.shared {
            s.record(&record)?;
        }
        self.state.apply(record);
        Ok(())
    }
}

/// The sim's state for one use: the process's lock and, when shared, the turn.
pub(super) struct Turn<'a> {
    inner: MutexGuard<'a, Inner>,
}

impl<'a> Turn<'a> {
    pub(super) fn start(mut inner: MutexGuard<'a, Inner>) -> Self {
        let Inner { state, shared, .. } = &mut *inner;
        if let Some(s) = shared {
            s.start(state);
        }
        Turn { inner }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let Inner { state, shared, .. } = &mut *self.inner;
        if let Some(s) = shared {
            s.end(state);
        }
    }
}

impl Deref for Turn<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl DerefMut for Turn<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.inner
    }
}
