//! Netlink requests run on one long-lived thread per namespace: the calls into a namespace
//! share it, deleting the namespace ends it (a thread inside would keep the namespace and
//! its interfaces alive), and a name made again is a new namespace to it.

mod common;

use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;

use common::*;
use isthmus_core::Cidr;
use isthmus_driver_local::{netns, nl};

/// Removes the namespaces of this test, also when it fails.
struct Names(Vec<String>);
impl Drop for Names {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = netns::delete(name);
        }
    }
}

fn fresh(names: &[&str]) -> Names {
    require_root();
    let names = Names(names.iter().map(|n| n.to_string()).collect());
    for name in &names.0 {
        netns::delete(name).unwrap();
    }
    names
}

/// The `net:[inode]` link of a namespace, as /proc shows it for a thread inside.
fn ns_link(ns: &str) -> String {
    let inode = std::fs::metadata(netns::path(ns)).unwrap().ino();
    format!("net:[{inode}]")
}

/// How many threads of this process are inside the namespace with that link.
fn threads_inside(link: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter(|task| {
            std::fs::read_link(task.path().join("ns/net"))
                .is_ok_and(|l| l.to_string_lossy() == link)
        })
        .count()
}

fn this_thread_ns() -> std::path::PathBuf {
    std::fs::read_link("/proc/thread-self/ns/net").unwrap()
}

async fn add_route(ns: &str, destination: Cidr) {
    netns::netlink_in_async(ns, move |h| async move {
        let lo = nl::require_link(&h, "lo").await?;
        nl::set_up(&h, lo.index).await?;
        nl::replace_route(&h, &destination, None, lo.index).await
    })
    .await
    .unwrap();
}

async fn routes(ns: &str) -> Vec<Cidr> {
    netns::netlink_in_async(ns, |h| async move {
        Ok(nl::routes(&h)
            .await?
            .into_iter()
            .map(|r| r.destination)
            .collect())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn calls_into_a_namespace_share_one_thread_which_leaves_when_the_namespace_is_deleted() {
    let names = fresh(&["isthm2-shared"]);
    let ns = &names.0[0];
    let before = this_thread_ns();
    netns::create_async(ns).await.unwrap();
    let link = ns_link(ns);

    for i in 0..20u8 {
        add_route(ns, Cidr::containing(Ipv4Addr::new(10, 9, i, 0), 24)).await;
    }
    assert_eq!(
        routes(ns).await.len(),
        20,
        "every call reached the namespace"
    );
    assert_eq!(threads_inside(&link), 1, "one thread serves the namespace");
    assert_eq!(this_thread_ns(), before, "the runtime's thread never moved");

    assert!(netns::delete_async(ns).await.unwrap());
    assert_eq!(
        threads_inside(&link),
        0,
        "no thread of ours keeps the deleted namespace alive"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_name_made_again_is_a_new_namespace() {
    let names = fresh(&["isthm2-again"]);
    let ns = &names.0[0];
    let old_route = Cidr::containing(Ipv4Addr::new(10, 8, 0, 0), 24);
    netns::create_async(ns).await.unwrap();
    add_route(ns, old_route).await;
    // Deleted behind the driver's back, as `ip netns delete` would.
    nix::mount::umount2(&netns::path(ns), nix::mount::MntFlags::MNT_DETACH).unwrap();
    std::fs::remove_file(netns::path(ns)).unwrap();

    assert!(netns::create_async(ns).await.unwrap(), "made again");
    assert!(
        !routes(ns).await.contains(&old_route),
        "the new namespace has none of the old one's routes"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_netlink_job_can_call_into_its_own_namespace() {
    let names = fresh(&["isthm2-nested"]);
    let ns = names.0[0].clone();
    netns::create_async(&ns).await.unwrap();
    let inner_ns = ns.clone();
    let count = netns::netlink_in_async(&ns, move |_| async move {
        // Blocking on the namespace's own worker from inside it must not wait for itself.
        netns::netlink_in(Some(&inner_ns), |h| async move {
            Ok(nl::links(&h).await?.len())
        })
    })
    .await
    .unwrap();
    assert_eq!(count, 1, "only loopback in a new namespace");
}

#[tokio::test(flavor = "current_thread")]
async fn a_call_into_a_missing_namespace_says_so() {
    let names = fresh(&["isthm2-missing"]);
    let err = netns::netlink_in_async(&names.0[0], |h| async move { nl::links(&h).await })
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("does it exist?"),
        "unexpected error: {err:#}"
    );
}
