//! One reachability analyst per project: a task that holds the project's snapshot and
//! its index (which borrows the snapshot, hence one task owning both) and answers
//! questions over a channel, so a request costs one analysis instead of reading the
//! project from the store and indexing it.
//!
//! A write to the project drops its analyst (the next request builds a new one first);
//! so does a change of the lab's endpoints, which the local driver holds in memory and
//! every request compares; an analyst older than [`REFRESH_AFTER`] is replaced in the
//! background while it keeps answering, for the changes no audit event announces.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use isthmus_core::reach::{
    LabEndpointRef, ReachError, ReachIndex, ReachSnapshot, Reachability, Source,
};
use isthmus_core::ProjectId;
use tokio::sync::{mpsc, oneshot};

use super::fresh_map::FreshMap;
use crate::api::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// Half of [`FRESH_FOR`](super::FRESH_FOR): the rebuild that follows takes time too.
pub const REFRESH_AFTER: Duration = Duration::from_millis(500);
const MAX_PROJECTS: usize = 1_000;
/// Questions waiting for one analyst.
const QUEUE: usize = 256;

struct Question {
    from: Source,
    to: String,
    port: Option<u16>,
    reply: oneshot::Sender<Result<Reachability, ReachError>>,
}

/// A project's analyst; its task ends when the last handle is dropped.
pub struct Analyst {
    questions: mpsc::Sender<Question>,
    refreshing: AtomicBool,
    /// The lab endpoints its snapshot holds.
    lab_endpoints: Vec<LabEndpointRef>,
}

impl Analyst {
    fn start(snapshot: ReachSnapshot) -> Arc<Analyst> {
        let lab_endpoints = snapshot.lab_endpoints.clone();
        let (questions, mut asked) = mpsc::channel::<Question>(QUEUE);
        tokio::spawn(async move {
            let index = ReachIndex::new(&snapshot);
            while let Some(q) = asked.recv().await {
                let _ = q.reply.send(index.analyze(&q.from, &q.to, q.port));
            }
        });
        Arc::new(Analyst {
            questions,
            refreshing: AtomicBool::new(false),
            lab_endpoints,
        })
    }

    async fn ask(
        &self,
        from: Source,
        to: String,
        port: Option<u16>,
    ) -> ApiResult<Result<Reachability, ReachError>> {
        let (reply, answer) = oneshot::channel();
        let gone = || ApiError::internal("the reachability analyst stopped");
        self.questions
            .send(Question {
                from,
                to,
                port,
                reply,
            })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())
    }
}

pub struct ReachCache {
    analysts: FreshMap<ProjectId, Arc<Analyst>>,
    /// One build at a time: concurrent requests for a project without an analyst wait
    /// for the first one's rather than each reading the project.
    building: tokio::sync::Mutex<()>,
}

impl Default for ReachCache {
    fn default() -> Self {
        ReachCache {
            analysts: FreshMap::new(MAX_PROJECTS),
            building: tokio::sync::Mutex::new(()),
        }
    }
}

impl ReachCache {
    pub fn invalidate(&self, project: ProjectId) {
        self.analysts.invalidate(&project);
    }

    pub fn clear(&self) {
        self.analysts.clear();
    }

    /// The analysis of `from` → `to` on `project` as it stands.
    pub async fn analyze(
        state: &AppState,
        caches: &super::Caches,
        project: ProjectId,
        from: Source,
        to: String,
        port: Option<u16>,
    ) -> ApiResult<Result<Reachability, ReachError>> {
        let mut analyst = caches.reach.analyst(state, project).await?;
        if analyst.lab_endpoints != crate::api::reach::lab_endpoints(state) {
            caches.reach.invalidate(project);
            analyst = caches.reach.analyst(state, project).await?;
        }
        analyst.ask(from, to, port).await
    }

    async fn analyst(&self, state: &AppState, project: ProjectId) -> ApiResult<Arc<Analyst>> {
        if let Some(hit) = self.analysts.get_any_age(&project) {
            if hit.age >= REFRESH_AFTER && !hit.value.refreshing.swap(true, Ordering::AcqRel) {
                let (state, stale) = (state.clone(), hit.value.clone());
                tokio::spawn(async move {
                    let Some(caches) = state.caches.clone() else {
                        return;
                    };
                    if caches.reach.build(&state, project).await.is_err() {
                        stale.refreshing.store(false, Ordering::Release);
                    }
                });
            }
            return Ok(hit.value);
        }
        let _one = self.building.lock().await;
        if let Some(hit) = self.analysts.get_any_age(&project) {
            return Ok(hit.value);
        }
        self.build(state, project).await
    }

    /// Reads the project and starts its analyst; keeps it unless the project changed
    /// while it was read.
    async fn build(&self, state: &AppState, project: ProjectId) -> ApiResult<Arc<Analyst>> {
        let ticket = self.analysts.ticket(&project);
        let snapshot = crate::api::reach::snapshot(state, project).await?;
        let analyst = Analyst::start(snapshot);
        self.analysts.insert(project, analyst.clone(), ticket);
        Ok(analyst)
    }
}
