//! `--wait`: poll an object until it settles. On a terminal a spinner shows the current
//! status; otherwise each change of status is one plain line on stderr (logs stay readable).
//!
//! Whether an object has settled is the core's one definition ([`Object::settled`], from
//! its kind's status machine), the same the controller and the console use: every kind
//! ends a wait the same way, and `error` is a failure for all of them.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use isthmus_core::object::{Object, Settled, StatusMachine};
use reqwest::StatusCode;

use crate::client::{ApiError, Client};

const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// What the caller waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// The object is usable, or waits on someone outside Isthmus.
    Ready,
    /// The object is gone.
    Deleted,
}

/// Polls `path` until the object settles toward `goal`. Returns the last object seen,
/// or `None` when it is gone (404) while waiting for deletion. A settled failure is an
/// error whose line says the status and why.
pub async fn until_settled<K: Object>(
    client: &Client,
    path: &str,
    goal: Goal,
    timeout: Duration,
) -> anyhow::Result<Option<K>> {
    let mut progress = Progress::new();
    let deadline = Instant::now() + timeout;
    loop {
        let current: K = match client.get(path).await {
            Ok(object) => object,
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
        match reached(current.settled(), current.status(), goal) {
            Some(true) => {
                progress.finish();
                return Ok(Some(current));
            }
            Some(false) => {
                progress.finish();
                anyhow::bail!(
                    "{} {} is {}{}",
                    K::INFO.name,
                    current.id(),
                    current.status(),
                    match current.status_message() {
                        "" => String::new(),
                        m => format!(": {m}"),
                    }
                );
            }
            None => {}
        }
        if Instant::now() >= deadline {
            progress.finish();
            anyhow::bail!(
                "timed out after {}s waiting for {} {}: still {}{}",
                timeout.as_secs(),
                K::INFO.name,
                current.id(),
                current.status(),
                suffix(current.status_message())
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Polls `path` until the object's status is `target` (a change made outside Isthmus,
/// such as the customer's answer, that the controller has yet to see); a settled failure
/// other than `target` ends the wait as an error.
pub async fn until_status<K: Object>(
    client: &Client,
    path: &str,
    target: K::Status,
    timeout: Duration,
) -> anyhow::Result<K> {
    let mut progress = Progress::new();
    let deadline = Instant::now() + timeout;
    loop {
        let current: K = client.get(path).await.inspect_err(|_| progress.finish())?;
        progress.show(&current);
        if current.status() == target {
            progress.finish();
            return Ok(current);
        }
        if current.status() == K::Status::DELETED {
            progress.finish();
            anyhow::bail!("{} {} is deleted", K::INFO.name, current.id());
        }
        if Instant::now() >= deadline {
            progress.finish();
            anyhow::bail!(
                "timed out after {}s waiting for {} {} to be {target}: still {}{}",
                timeout.as_secs(),
                K::INFO.name,
                current.id(),
                current.status(),
                suffix(current.status_message())
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Whether a wait for `goal` ends: `Some(true)` reached, `Some(false)` failed, `None`
/// still moving. `settled` is the object's [`Object::settled`], which already counts a
/// spec the controller has not observed yet as moving.
pub fn reached<S: StatusMachine>(settled: Settled, status: S, goal: Goal) -> Option<bool> {
    match goal {
        // A teardown that fails is retried by the controller (`deleting` only ever moves
        // on to `deleted`): keep waiting until it is gone.
        Goal::Deleted => (status == S::DELETED).then_some(true),
        // Deleted while we waited for it to be ready: it never will be.
        Goal::Ready if status == S::DELETED => Some(false),
        Goal::Ready => match settled {
            Settled::Done => Some(true),
            Settled::Failed => Some(false),
            Settled::Moving => None,
        },
    }
}

/// Returns once the server's platform DNS holds every change so far, so a name the wait
/// was for resolves at once. A server without the call (older) is not waited for; a DNS
/// that stays behind is a warning, not a failed wait: the change itself is applied.
pub async fn dns_synced(client: &Client) {
    match client.get::<serde_json::Value>("/v1/dns/synced").await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => eprintln!("warning: the platform DNS may not show the change yet: {e:#}"),
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

    fn show<K: Object>(&mut self, object: &K) {
        let line = format!(
            "{} {}: {}{}",
            K::INFO.name,
            object.id(),
            object.status(),
            suffix(object.status_message())
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

#[cfg(test)]
mod tests {
    use super::*;
    use isthmus_core::state::{ClusterStatus, NetworkStatus, PeeringStatus};

    /// `reached` for a caught-up object in `status`.
    fn ready<S: StatusMachine>(status: S) -> Option<bool> {
        reached(status.phase(), status, Goal::Ready)
    }

    #[test]
    fn error_fails_a_wait_for_every_kind() {
        assert_eq!(ready(NetworkStatus::Error), Some(false));
        assert_eq!(ready(PeeringStatus::Error), Some(false));
        assert_eq!(ready(ClusterStatus::Error), Some(false));
    }

    #[test]
    fn every_kind_ends_a_wait_where_its_status_machine_settles() {
        fn check<S: StatusMachine>() {
            for &s in S::all() {
                let expected = match s.phase() {
                    _ if s == S::DELETED => Some(false),
                    Settled::Done => Some(true),
                    Settled::Failed => Some(false),
                    Settled::Moving => None,
                };
                assert_eq!(ready(s), expected, "{} {s}", S::KIND);
                let gone = (s == S::DELETED).then_some(true);
                assert_eq!(
                    reached(s.phase(), s, Goal::Deleted),
                    gone,
                    "{} {s}",
                    S::KIND
                );
            }
        }
        check::<NetworkStatus>();
        check::<PeeringStatus>();
        check::<ClusterStatus>();
    }

    #[test]
    fn waiting_on_the_customer_ends_a_wait_and_a_spec_not_yet_observed_does_not() {
        assert_eq!(ready(PeeringStatus::PendingAcceptance), Some(true));
        assert_eq!(ready(PeeringStatus::RejectedByPeer), Some(false));
        let active = NetworkStatus::Active;
        assert_eq!(reached(Settled::Moving, active, Goal::Ready), None);
    }
}
