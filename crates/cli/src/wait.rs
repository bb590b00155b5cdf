//! `--wait`: poll a resource until it settles. On a terminal a spinner shows the current
//! status; otherwise each change of status is one plain line on stderr (logs stay readable).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use isthmus_core::resources::{Cluster, Network, Peering};
use isthmus_core::state::{ClusterStatus, NetworkStatus, PeeringStatus};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use crate::client::{ApiError, Client};

const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// What the caller waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// The resource is usable, or waits on someone outside Isthmus.
    Ready,
    /// The resource is gone.
    Deleted,
}

/// Where a wait ended.
pub enum Settled {
    Done,
    /// A settled failure: the caller exits non-zero with this line.
    Failed(String),
}

/// A resource whose status `--wait` can follow.
pub trait Watched: DeserializeOwned {
    const KIND: &'static str;
    fn id(&self) -> String;
    fn status(&self) -> &'static str;
    fn status_message(&self) -> &str;
    /// Whether the controller has acted on the latest spec (`observed_generation`).
    fn caught_up(&self) -> bool;
    /// `None` while still moving.
    fn settled(&self, goal: Goal) -> Option<Settled>;
}

/// Polls `path` until the resource settles toward `goal`. Returns the last resource seen,
/// or `None` when it is gone (404) while waiting for deletion.
pub async fn until_settled<T: Watched>(
    client: &Client,
    path: &str,
    goal: Goal,
    timeout: Duration,
) -> anyhow::Result<Option<T>> {
    let mut progress = Progress::new();
    let deadline = Instant::now() + timeout;
    loop {
        let current: T = match client.get(path).await {
            Ok(resource) => resource,
            Err(e) if goal == Goal::Deleted && is_not_found(&e) => {
                progress.finish();
                return Ok(None);
            }
            Err(e) => {
                progress.finish();
                return Err(e);
            }
        };
        progress.show(&current);
        // After an update the old status may still read "settled": not until observed.
        let verdict = match goal {
            Goal::Ready if !current.caught_up() => None,
            _ => current.settled(goal),
        };
        match verdict {
            Some(Settled::Done) => {
                progress.finish();
                return Ok(Some(current));
            }
            Some(Settled::Failed(line)) => {
                progress.finish();
                anyhow::bail!(line);
            }
            None => {}
        }
        if Instant::now() >= deadline {
            progress.finish();
            anyhow::bail!(
                "timed out after {}s waiting for {} {}: still {}{}",
                timeout.as_secs(),
                T::KIND,
                current.id(),
                current.status(),
                suffix(current.status_message())
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

fn is_not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ApiError>()
        .is_some_and(|api| api.status == StatusCode::NOT_FOUND)
}

fn suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(" ({message})")
    }
}

fn failed<T: Watched>(resource: &T) -> Settled {
    Settled::Failed(format!(
        "{} {} is {}{}",
        T::KIND,
        resource.id(),
        resource.status(),
        match resource.status_message() {
            "" => String::new(),
            m => format!(": {m}"),
        }
    ))
}

/// Spinner on a terminal, one line per status change otherwise.
struct Progress {
    spinner: Option<ProgressBar>,
    last: Option<String>,
}

impl Progress {
    fn new() -> Progress {
        let spinner = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Progress {
            spinner,
            last: None,
        }
    }

    fn show<T: Watched>(&mut self, resource: &T) {
        let line = format!(
            "{} {}: {}{}",
            T::KIND,
            resource.id(),
            resource.status(),
            suffix(resource.status_message())
        );
        if self.last.as_deref() == Some(line.as_str()) {
            return;
        }
        match &self.spinner {
            Some(bar) => bar.set_message(line.clone()),
            None => eprintln!("{line}"),
        }
        self.last = Some(line);
    }

    fn finish(&mut self) {
        if let Some(bar) = self.spinner.take() {
            bar.finish_and_clear();
        }
    }
}

impl Watched for Network {
    const KIND: &'static str = "network";
    fn id(&self) -> String {
        self.id.to_string()
    }
    fn status(&self) -> &'static str {
        self.status.as_str()
    }
    fn status_message(&self) -> &str {
        &self.status_message
    }
    fn caught_up(&self) -> bool {
        self.observed_generation >= self.generation
    }
    fn settled(&self, goal: Goal) -> Option<Settled> {
        use NetworkStatus::*;
        match (goal, self.status) {
            (Goal::Ready, Active) | (Goal::Deleted, Deleted) => Some(Settled::Done),
            (Goal::Ready, Error | Deleted) => Some(failed(self)),
            // A failed teardown is retried by the controller: keep waiting.
            _ => None,
        }
    }
}

impl Watched for Peering {
    const KIND: &'static str = "peering";
    fn id(&self) -> String {
        self.id.to_string()
    }
    fn status(&self) -> &'static str {
        self.status.as_str()
    }
    fn status_message(&self) -> &str {
        &self.status_message
    }
    fn caught_up(&self) -> bool {
        self.observed_generation >= self.generation
    }
    fn settled(&self, goal: Goal) -> Option<Settled> {
        use PeeringStatus::*;
        match (goal, self.status) {
            (Goal::Deleted, Deleted) => Some(Settled::Done),
            (Goal::Deleted, _) => None,
            // Waiting on the customer is as far as Isthmus can go alone.
            (Goal::Ready, Active | PendingAcceptance | PendingPeer) => Some(Settled::Done),
            (Goal::Ready, InvalidSpecification | RejectedByPeer | DeletedByPeer | Deleted) => {
                Some(failed(self))
            }
            // `error` is retried by the controller: keep waiting, the spinner shows why.
            (Goal::Ready, Provisioning | Error | Deleting) => None,
        }
    }
}

impl Watched for Cluster {
    const KIND: &'static str = "cluster";
    fn id(&self) -> String {
        self.id.to_string()
    }
    fn status(&self) -> &'static str {
        self.status.as_str()
    }
    fn status_message(&self) -> &str {
        &self.status_message
    }
    fn caught_up(&self) -> bool {
        self.observed_generation >= self.generation
    }
    fn settled(&self, goal: Goal) -> Option<Settled> {
        use ClusterStatus::*;
        match (goal, self.status) {
            (Goal::Ready, Running) | (Goal::Deleted, Deleted) => Some(Settled::Done),
            (Goal::Ready, Error | Deleted) => Some(failed(self)),
            // A failed teardown is retried by the controller: keep waiting.
            _ => None,
        }
    }
}
