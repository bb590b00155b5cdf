//! What the API answers from memory: verified callers (by token hash), the JSON of
//! single resources, and one reachability analyst per project. Each is kept current
//! three ways, so a change shows within a second wherever it was made:
//!
//! - writes made in this process reach them synchronously ([`CachingStore`]): a read
//!   after a write here never sees the older answer;
//! - writes made elsewhere (another replica, another process on the same database)
//!   reach them from the audit log, through the process's audit feed ([`follow`]; it
//!   reads the log every [`POLL`](crate::audit_feed::POLL));
//! - the few writes that log no event (a status save that keeps the status) are
//!   covered by every entry's freshness: none is served older than [`FRESH_FOR`].

mod fresh_map;
pub mod reach;
mod store;

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use isthmus_core::resources::Event;
use isthmus_core::{Id, ProjectId};
use isthmus_store::doc::{kind_name, Doc};
use isthmus_store::ObjectKey;
use tokio::task::JoinHandle;

use crate::audit_feed::{AuditFeed, Next};
use crate::auth::Caller;
pub use fresh_map::{FreshMap, FRESH_FOR};
pub use store::CachingStore;

/// Bounds on what is kept (an entry is a few kilobytes at most).
const MAX_CALLERS: usize = 10_000;
const MAX_RESOURCES: usize = 100_000;

/// One resource's `GET` answer.
pub struct CachedBody {
    pub project: ProjectId,
    pub version: u64,
    /// The resource as the API serialises it.
    pub json: Bytes,
}

pub struct Caches {
    /// Verified callers by the sha256 of their secret.
    pub callers: FreshMap<String, Caller>,
    pub resources: FreshMap<ObjectKey, Arc<CachedBody>>,
    pub reach: reach::ReachCache,
    /// Projects known to exist; a project is never deleted, so this never shrinks.
    projects: RwLock<HashSet<ProjectId>>,
}

impl Caches {
    pub fn new() -> Arc<Caches> {
        Arc::new(Caches {
            callers: FreshMap::new(MAX_CALLERS),
            resources: FreshMap::new(MAX_RESOURCES),
            reach: reach::ReachCache::default(),
            projects: RwLock::new(HashSet::new()),
        })
    }

    /// What a store write stored: each doc's cached answer and its project's
    /// reachability go.
    pub fn written(&self, docs: &[Doc]) {
        for doc in docs {
            self.resources.invalidate(&doc.key());
            self.reach.invalidate(doc.project_id);
        }
    }

    /// A token, a membership or a project changed: who may do what is read again.
    pub fn access_changed(&self) {
        self.callers.clear();
    }

    /// The lab (VPCs, hosts, endpoints, internet hosts) changed: every project's
    /// reachability may see it.
    pub fn lab_changed(&self) {
        self.reach.clear();
    }

    pub fn project_known(&self, project: ProjectId) -> bool {
        self.projects
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&project)
    }

    pub fn remember_project(&self, project: ProjectId) {
        self.projects
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(project);
    }

    /// What one audit event (of any process) may have changed.
    fn event(&self, e: &Event) {
        match e.resource_kind.as_str() {
            "token" | "membership" | "project" => self.access_changed(),
            kind if kind.starts_with("lab") => self.lab_changed(),
            kind => {
                if let Ok(id) = e.resource_id.parse::<Id>() {
                    self.resources.invalidate(&ObjectKey {
                        kind: kind_name(kind),
                        id,
                    });
                }
                match e.project_id {
                    Some(project) => self.reach.invalidate(project),
                    None => self.reach.clear(),
                }
            }
        }
    }

    /// Everything goes: after the feed could not be read, nothing cached is known to
    /// be current.
    fn forget_all(&self) {
        self.callers.clear();
        self.resources.clear();
        self.reach.clear();
    }
}

/// Applies every change the process's audit feed reads to the caches, forever. Stops
/// when the handle is aborted.
pub fn follow(caches: Arc<Caches>, feed: &AuditFeed) -> JoinHandle<()> {
    // From the feed's head: what is cached before that is covered by its freshness.
    let mut changes = feed.subscribe();
    tokio::spawn(async move {
        loop {
            match changes.next().await {
                Next::Changes(events) => {
                    for e in &events {
                        caches.event(e);
                    }
                }
                // Nothing cached is known to be current while the log cannot be read.
                Next::Failed => caches.forget_all(),
            }
        }
    })
}
