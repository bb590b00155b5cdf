//! One long-lived thread per namespace for netlink requests.
//!
//! A netlink socket belongs to the namespace of the thread that opens it, and a tokio
//! worker must never change namespace. Opening a thread, a runtime and a socket for every
//! request cost more than the request itself, so each namespace in use gets a worker
//! instead: a plain OS thread that enters the namespace once, owns a current-thread runtime
//! and one rtnetlink connection, and runs the jobs sent to it one after another.
//!
//! A worker starts on its namespace's first job and ends when the namespace is deleted
//! ([`retire`], which waits until the thread has left: a thread inside a namespace keeps it
//! and its interfaces alive), after [`IDLE`] without a job, or when more than
//! [`MAX_WORKERS`] namespaces are in use (the least recently used goes). A name whose
//! namespace was deleted and made again gets a new worker. A job submitted from a worker
//! thread runs on a fresh thread instead, so no worker ever waits for itself.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::os::unix::fs::MetadataExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use nix::sched::{setns, CloneFlags};

/// How long a worker waits for a job before it ends.
pub const IDLE: Duration = Duration::from_secs(10);
/// At most this many workers at once (one per namespace).
pub const MAX_WORKERS: usize = 64;

/// A job: runs on the namespace's thread with its [`Runner`], or with the reason there is
/// none (the namespace could not be entered).
pub(super) type Job = Box<dyn FnOnce(Result<&Runner, &anyhow::Error>) + Send>;

/// What a worker owns inside its namespace.
pub(super) struct Runner {
    runtime: tokio::runtime::Runtime,
    /// Opened on the first netlink job, opened again should its connection have ended.
    connection: RefCell<Option<(rtnetlink::Handle, tokio::task::JoinHandle<()>)>>,
}

impl Runner {
    fn new() -> Result<Runner> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("build netlink runtime")?;
        Ok(Runner {
            runtime,
            connection: RefCell::new(None),
        })
    }

    /// Runs an rtnetlink job to its end on this thread.
    pub fn netlink<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: FnOnce(rtnetlink::Handle) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let handle = self.handle()?;
        self.runtime.block_on(f(handle))
    }

    fn handle(&self) -> Result<rtnetlink::Handle> {
        let mut connection = self.connection.borrow_mut();
        if let Some((handle, task)) = connection.as_ref() {
            if !task.is_finished() {
                return Ok(handle.clone());
            }
        }
        let _entered = self.runtime.enter();
        let (conn, handle, _) = rtnetlink::new_connection().context("open netlink socket")?;
        let task = self.runtime.spawn(conn);
        *connection = Some((handle.clone(), task));
        Ok(handle)
    }
}

/// Set once a worker has left its namespace for good.
#[derive(Default)]
struct Gone {
    done: Mutex<bool>,
    cond: Condvar,
}

impl Gone {
    fn set(&self) {
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cond.notify_all();
    }

    fn wait(&self) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            done = self.cond.wait(done).unwrap_or_else(|e| e.into_inner());
        }
    }
}

struct Entry {
    id: u64,
    ns: String,
    /// The namespace's inode: a name deleted and made again is another namespace.
    inode: u64,
    /// `None` once retiring: the worker finishes what it was sent, then ends.
    jobs: Option<mpsc::Sender<Job>>,
    last_used: Instant,
    gone: Arc<Gone>,
}

/// Every worker still running (retiring ones included, until they have ended).
static WORKERS: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The id of the worker running on this thread.
    static WORKER_ID: Cell<Option<u64>> = const { Cell::new(None) };
}

fn workers() -> MutexGuard<'static, Vec<Entry>> {
    // A panic while the list was held leaves it consistent: every change is one step.
    WORKERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The inode of namespace `ns`, or an error when no such namespace is mounted.
fn namespace_inode(ns: &str) -> Result<u64> {
    let path = super::path(ns);
    let meta = std::fs::metadata(&path)
        .with_context(|| format!("open network namespace {ns} (does it exist?)"))?;
    if !super::is_namespace(&path) {
        anyhow::bail!(
            "open network namespace {ns}: {} is not mounted",
            path.display()
        );
    }
    Ok(meta.ino())
}

/// Runs `job` on the worker of namespace `ns`, starting one if needed.
pub(super) fn submit(ns: &str, job: Job) -> Result<()> {
    let inode = namespace_inode(ns)?;
    if WORKER_ID.get().is_some() {
        return one_shot(Some(ns), job);
    }
    let mut list = workers();
    let mut job = job;
    let live = list
        .iter_mut()
        .find(|e| e.ns == ns && e.inode == inode && e.jobs.is_some());
    if let Some(Entry {
        jobs: Some(jobs),
        last_used,
        ..
    }) = live
    {
        *last_used = Instant::now();
        match jobs.send(job) {
            Ok(()) => return Ok(()),
            // Its thread is gone (it cannot be, short of a bug): start another.
            Err(mpsc::SendError(returned)) => job = returned,
        }
    }
    // Workers of an earlier namespace of this name, or whose thread is gone, end.
    for entry in list.iter_mut().filter(|e| e.ns == ns) {
        entry.jobs = None;
    }
    while list.iter().filter(|e| e.jobs.is_some()).count() >= MAX_WORKERS {
        let oldest = list
            .iter_mut()
            .filter(|e| e.jobs.is_some())
            .min_by_key(|e| e.last_used)
            .expect("at least one worker takes jobs");
        oldest.jobs = None;
    }
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel();
    let gone = Arc::new(Gone::default());
    let (owned_ns, thread_gone) = (ns.to_string(), gone.clone());
    std::thread::Builder::new()
        .name(format!("netns {ns}"))
        .spawn(move || run(id, &owned_ns, rx, &thread_gone))
        .with_context(|| format!("start the netlink thread of {ns}"))?;
    tx.send(job)
        .map_err(|_| anyhow!("the netlink thread of {ns} ended at once"))?;
    list.push(Entry {
        id,
        ns: ns.to_string(),
        inode,
        jobs: Some(tx),
        last_used: Instant::now(),
        gone,
    });
    Ok(())
}

/// Ends the workers of namespace `ns` and waits until each has left the namespace (the
/// calling worker excepted, should a job delete its own namespace).
pub(super) fn retire(ns: &str) {
    let me = WORKER_ID.get();
    let waits: Vec<Arc<Gone>> = workers()
        .iter_mut()
        .filter(|e| e.ns == ns)
        .filter_map(|e| {
            e.jobs = None;
            (Some(e.id) != me).then(|| e.gone.clone())
        })
        .collect();
    for gone in waits {
        gone.wait();
    }
}

/// Stops taking jobs (those already sent still run).
fn retire_self(id: u64) {
    if let Some(entry) = workers().iter_mut().find(|e| e.id == id) {
        entry.jobs = None;
    }
}

/// The body of a worker thread.
fn run(id: u64, ns: &str, jobs: mpsc::Receiver<Job>, gone: &Gone) {
    WORKER_ID.set(Some(id));
    // Declared first, so it runs last: after the runner (and its socket) is gone, also
    // should this thread unwind.
    let _exit = Exit { id, gone };
    let mut runner = super::enter(Some(ns)).and_then(|()| Runner::new());
    if runner.is_err() {
        // Every job sent until the list forgets this worker gets the reason.
        retire_self(id);
    }
    loop {
        match jobs.recv_timeout(IDLE) {
            Ok(job) => {
                let ran = catch_unwind(AssertUnwindSafe(|| job(runner.as_ref())));
                if ran.is_err() && runner.is_ok() {
                    // The job's caller hears of the panic (its reply channel is dropped);
                    // the next job gets a runtime nothing was left half-done in.
                    runner = Runner::new();
                }
            }
            Err(RecvTimeoutError::Timeout) => retire_self(id),
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
}

/// A worker's last steps: leave the namespace, leave the list, wake [`retire`].
struct Exit<'a> {
    id: u64,
    gone: &'a Gone,
}

impl Drop for Exit<'_> {
    fn drop(&mut self) {
        leave();
        workers().retain(|e| e.id != self.id);
        self.gone.set();
    }
}

/// Runs `job` on a thread of its own inside `ns` (`None`: in the namespace of the calling
/// thread). For jobs submitted from a worker, and for the rare job outside our namespaces.
pub(super) fn one_shot(ns: Option<&str>, job: Job) -> Result<()> {
    let owned_ns = ns.map(str::to_string);
    std::thread::Builder::new()
        .name(format!("netns {}", ns.unwrap_or("(here)")))
        .spawn(move || {
            let runner = super::enter(owned_ns.as_deref()).and_then(|()| Runner::new());
            job(runner.as_ref());
        })
        .with_context(|| format!("start a thread in namespace {ns:?}"))?;
    Ok(())
}

/// The process's own namespace (its main thread's, whichever thread asks), where a worker
/// goes before it ends.
fn home() -> Option<&'static std::fs::File> {
    static HOME: OnceLock<Option<std::fs::File>> = OnceLock::new();
    HOME.get_or_init(|| std::fs::File::open("/proc/self/ns/net").ok())
        .as_ref()
}

/// Leaves the worker's namespace, so it is released before [`retire`] returns rather than
/// when the kernel gets round to ending the thread.
fn leave() {
    if let Some(home) = home() {
        if let Err(e) = setns(home, CloneFlags::CLONE_NEWNET) {
            tracing::debug!(error = %anyhow!(e), "netlink worker could not leave its namespace");
        }
    }
}
