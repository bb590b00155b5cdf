//! Runs test client code the way a program on a lab host runs: inside the host's network
//! namespace, resolving names through the host's resolver (the lab VPC's platform DNS).
//!
//! `ip netns exec` (and so `isthmus lab exec`) gives a command the host's resolver by
//! mounting `/etc/netns/<namespace>/resolv.conf` over `/etc/resolv.conf` in a private
//! mount namespace. This does the same for one thread of the test: it enters the network
//! namespace, unshares its mount namespace and bind-mounts the host's resolv.conf, then
//! drives an async job on a current-thread tokio runtime of its own. Threads that runtime
//! starts (e.g. for `getaddrinfo`) inherit both namespaces; the rest of the test keeps the
//! machine's network and resolver.
#![allow(dead_code)] // each test binary uses its own part of the harness

use std::future::Future;
use std::path::Path;

use anyhow::Context;
use isthmus_driver_local::netns;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

/// Runs `job` as a program on the lab host whose namespace is `ns`, and waits for it.
pub fn run<T, F, Fut>(ns: &str, job: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let resolv_conf = Path::new("/etc/netns").join(ns).join("resolv.conf");
    netns::run_in(Some(ns), move || {
        use_resolver_of(&resolv_conf)?;
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("start the lab host's runtime")?
            .block_on(job())
    })
    .with_context(|| format!("as lab host {ns}"))
}

/// Gives the calling thread a private mount namespace in which `/etc/resolv.conf` is
/// `resolv_conf`. Mounts are made slaves first so the bind mount never reaches the host.
fn use_resolver_of(resolv_conf: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        resolv_conf.exists(),
        "{} does not exist (has the platform given the lab host a resolver yet?)",
        resolv_conf.display()
    );
    unshare(CloneFlags::CLONE_NEWNS).context("unshare the mount namespace")?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .context("make mounts private to the lab host thread")?;
    mount(
        Some(resolv_conf),
        "/etc/resolv.conf",
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("mount {} over /etc/resolv.conf", resolv_conf.display()))
}
