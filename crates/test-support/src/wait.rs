//! Polling with a deadline.

use std::future::Future;
use std::time::Duration;

/// How long a test waits for something, and how often it looks.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    /// Past this, the wait fails with what it waited for.
    pub within: Duration,
    /// The pause between two looks.
    pub every: Duration,
}

impl Patience {
    /// Polls `check` until it yields a value; panics with `what` after the deadline.
    pub async fn until<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + self.within;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(self.every).await;
        }
    }
}
