//! Named network namespaces and running code inside them.
//!
//! Namespaces follow `ip netns add` semantics: a namespace is kept alive by a bind mount of
//! a thread's `/proc/thread-self/ns/net` on `/run/netns/<name>`, so `ip netns list` and
//! `ip netns exec` see ours. A tokio worker never changes namespace: netlink requests run
//! on the namespace's own long-lived thread (see [`worker`]), other code on a fresh std
//! thread that calls `setns` and then ends. Creating and deleting a namespace blocks (the
//! kernel builds or tears down a whole network stack): async code awaits
//! [`create_async`] and [`delete_async`], which run them on tokio's blocking threads.

use std::fs::File;
use std::future::Future;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

mod worker;

pub const NETNS_DIR: &str = "/run/netns";

pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

pub fn exists(name: &str) -> bool {
    path(name).exists()
}

/// Every named namespace (ours and others'), by name.
pub fn list() -> Result<Vec<String>> {
    let dir = match std::fs::read_dir(NETNS_DIR) {
        Ok(dir) => dir,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e).context(format!("list {NETNS_DIR}")),
    };
    let mut names = vec![];
    for entry in dir {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// Creates the namespace unless it exists. Returns whether it was created.
pub fn create(name: &str) -> Result<bool> {
    if exists(name) {
        if is_namespace(&path(name)) {
            return Ok(false);
        }
        // A mount point without its mount: a crash between creating the file and the
        // bind mount below. Nothing can enter it, so make the namespace afresh.
        std::fs::remove_file(path(name))
            .with_context(|| format!("remove half-created network namespace {name}"))?;
    }
    shared_mount_point()?;
    let target = path(name);
    File::options()
        .write(true)
        .create_new(true)
        .open(&target)
        .with_context(|| format!("create mount point {}", target.display()))?;
    let mount_target = target.clone();
    let mounted = std::thread::spawn(move || -> Result<()> {
        // Only this thread moves to the new namespace; it ends right after the mount.
        unshare(CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &mount_target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("bind-mount new namespace on {}", mount_target.display()))
    })
    .join()
    .map_err(|_| anyhow!("namespace thread panicked"))?;
    if let Err(e) = mounted {
        let _ = std::fs::remove_file(&target);
        return Err(e.context(format!("create network namespace {name}")));
    }
    Ok(true)
}

/// [`create`], run off the async runtime's workers.
pub async fn create_async(name: &str) -> Result<bool> {
    off_runtime(name, create, "namespace creation panicked").await
}

/// Makes [`NETNS_DIR`] a shared mount point of its own, as `ip netns add` does before its
/// first namespace. Without it, the first `ip netns add` anyone runs on the host later binds
/// the directory over itself and hides every namespace we mounted below it: they can no
/// longer be entered, seen or deleted (EBUSY). A no-op once the directory is one.
fn shared_mount_point() -> Result<()> {
    std::fs::create_dir_all(NETNS_DIR).with_context(|| format!("create {NETNS_DIR}"))?;
    let share = || {
        mount(
            None::<&str>,
            NETNS_DIR,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match share() {
        // EINVAL: not a mount point yet. Bind it onto itself (recursively, keeping any
        // namespace already mounted in it), then share that.
        Err(nix::errno::Errno::EINVAL) => {
            mount(
                Some(NETNS_DIR),
                NETNS_DIR,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .with_context(|| format!("bind-mount {NETNS_DIR} onto itself"))?;
            share().with_context(|| format!("make {NETNS_DIR} a shared mount"))
        }
        other => other.with_context(|| format!("make {NETNS_DIR} a shared mount")),
    }
}

/// Whether `path` is a mounted namespace (nsfs), not just the empty file under it.
fn is_namespace(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
}

/// Deletes the namespace if it exists (its interfaces go with it). Returns whether it existed.
/// Its netlink worker ends first: a thread inside the namespace would keep it, and its
/// interfaces, alive.
pub fn delete(name: &str) -> Result<bool> {
    let target = path(name);
    if !target.exists() {
        worker::retire(name);
        return Ok(false);
    }
    // Not mounted (a half-created namespace) is fine: the file still goes.
    let _ = umount2(&target, MntFlags::MNT_DETACH);
    let removed =
        std::fs::remove_file(&target).with_context(|| format!("delete network namespace {name}"));
    // After the unmount, so no new worker can enter it in between.
    worker::retire(name);
    removed?;
    Ok(true)
}

/// [`delete`], run off the async runtime's workers (it waits for the namespace's worker).
pub async fn delete_async(name: &str) -> Result<bool> {
    off_runtime(name, delete, "namespace deletion panicked").await
}

/// Runs blocking work on namespace `name` on a blocking thread, never on a runtime worker.
async fn off_runtime(
    name: &str,
    work: fn(&str) -> Result<bool>,
    panicked: &'static str,
) -> Result<bool> {
    let name = name.to_string();
    tokio::task::spawn_blocking(move || work(&name))
        .await
        .context(panicked)?
}

/// Moves the calling thread into the namespace (`None`: stay in the current one).
fn enter(name: Option<&str>) -> Result<()> {
    let Some(name) = name else { return Ok(()) };
    let file = File::open(path(name))
        .with_context(|| format!("open network namespace {name} (does it exist?)"))?;
    setns(&file, CloneFlags::CLONE_NEWNET).with_context(|| format!("setns into {name}"))
}

/// Runs `f` on a fresh thread inside namespace `ns` and waits for it (blocking).
/// Sockets `f` creates stay in that namespace after the thread ends. For arbitrary blocking
/// work (connects with timeouts, nft, readiness checks), which must not hold up the
/// namespace's netlink worker.
pub fn run_in<T, F>(ns: Option<&str>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let ns_owned = ns.map(str::to_string);
    std::thread::spawn(move || {
        enter(ns_owned.as_deref())?;
        f()
    })
    .join()
    .map_err(|_| anyhow!("thread in namespace {ns:?} panicked"))?
}

/// Like [`run_in`], awaited without blocking the async runtime.
pub async fn run_in_async<T, F>(ns: Option<&str>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let ns_owned = ns.map(str::to_string);
    std::thread::spawn(move || {
        let result = enter(ns_owned.as_deref()).and_then(|()| f());
        let _ = tx.send(result);
    });
    rx.await
        .map_err(|_| anyhow!("thread in namespace {ns:?} panicked"))?
}

/// Wraps an rtnetlink job for the namespace's worker, which hands the result to `reply`.
fn netlink_job<T, F, Fut>(f: F, reply: impl FnOnce(Result<T>) + Send + 'static) -> worker::Job
where
    T: Send + 'static,
    F: FnOnce(rtnetlink::Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>> + 'static,
{
    Box::new(move |runner| {
        let result = match runner {
            Ok(runner) => runner.netlink(f),
            Err(e) => Err(anyhow!("{e:#}")),
        };
        reply(result);
    })
}

/// Runs an rtnetlink job inside namespace `ns` (blocking). `None`: in the namespace of
/// the calling thread, on a thread of its own.
pub fn netlink_in<T, F, Fut>(ns: Option<&str>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(rtnetlink::Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>> + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let job = netlink_job(f, move |result| {
        let _ = tx.send(result);
    });
    match ns {
        Some(ns) => worker::submit(ns, job)?,
        None => worker::one_shot(None, job)?,
    }
    rx.recv()
        .map_err(|_| anyhow!("netlink job in namespace {ns:?} panicked"))?
}

/// Runs an rtnetlink job inside namespace `ns`, awaited from async code.
pub async fn netlink_in_async<T, F, Fut>(ns: &str, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(rtnetlink::Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>> + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    worker::submit(
        ns,
        netlink_job(f, move |result| {
            let _ = tx.send(result);
        }),
    )?;
    rx.await
        .map_err(|_| anyhow!("netlink job in namespace {ns} panicked"))?
}

/// Sets an IPv4 sysctl of the namespace, e.g. `("ip_forward", "1")` or
/// `("conf/all/rp_filter", "0")`. Must run on a thread inside the namespace.
pub fn set_ipv4_sysctl(key: &str, value: &str) -> Result<()> {
    let file = format!("/proc/sys/net/ipv4/{key}");
    std::fs::write(&file, value).with_context(|| format!("write {value} to {file}"))
}

pub fn read_ipv4_sysctl(key: &str) -> Result<String> {
    let file = format!("/proc/sys/net/ipv4/{key}");
    Ok(std::fs::read_to_string(&file)
        .with_context(|| format!("read {file}"))?
        .trim()
        .to_string())
}
