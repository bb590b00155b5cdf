//! Named namespaces live beside other people's: `ip netns add` run by anyone on the host
//! after ours exist must not hide them.

mod common;

use std::process::Command;

use common::*;
use isthmus_driver_local::netns;

/// Removes the namespaces of this test, also when it fails.
struct Names(Vec<String>);
impl Drop for Names {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = netns::delete(name);
        }
    }
}

fn enterable(name: &str) -> bool {
    Command::new("ip")
        .args(["netns", "exec", name, "true"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn a_namespace_of_ours_survives_someone_elses_ip_netns_add() {
    require_root();
    let names = Names(vec!["isthm1-ours".into(), "isthm1-theirs".into()]);
    let (ours, theirs) = (&names.0[0], &names.0[1]);
    for name in &names.0 {
        netns::delete(name).unwrap();
    }

    assert!(netns::create(ours).unwrap(), "created");
    let added = Command::new("ip")
        .args(["netns", "add", theirs])
        .status()
        .unwrap();
    assert!(added.success(), "ip netns add {theirs}");

    assert!(enterable(ours), "{ours} can still be entered");
    assert!(netns::list().unwrap().contains(ours));
    assert!(
        !netns::create(ours).unwrap(),
        "{ours} is still a namespace, not an empty file to replace"
    );
    assert!(netns::delete(ours).unwrap());
    assert!(!netns::path(ours).exists(), "{ours} deleted");
    assert!(enterable(theirs), "theirs is untouched");
}
