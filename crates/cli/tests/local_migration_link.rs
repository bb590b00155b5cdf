//! The link to the source cut mid-copy on the `local` provider, through the real binary:
//! the lab source's host drops every packet for 60 s; the migration turns `degraded` with
//! its reason (the source's connection lost, or the stall watchdog's 30 s without progress),
//! and once the link is back it catches up by itself, also with events written after the
//! cut. The times are printed as figures, not asserted.

mod lab_host;
mod local_support;
mod migration_support;
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use local_support::{eventually, LocalLab};
use migration_support::{until_migration as until, SOURCE_IP};
use serde_json::Value;
use support::{id_of, PATIENCE, WAIT_TIMEOUT};

const CUT: Duration = Duration::from_secs(60);
const TABLE: &str = "isthgcut";

/// Drops every packet in and out of namespace `ns` (a table of its own), or lets them
/// through again.
fn cut(ns: &str, on: bool) {
    let nft = |args: &[&str]| {
        let status = Command::new("ip")
            .args(["netns", "exec", ns, "nft"])
            .args(args)
            .status()
            .expect("run nft");
        assert!(status.success(), "nft {args:?} in {ns}");
    };
    if on {
        nft(&["add", "table", "inet", TABLE]);
        for (chain, hook) in [("in", "input"), ("out", "output")] {
            nft(&[
                "add", "chain", "inet", TABLE, chain, "{", "type", "filter", "hook", hook,
                "priority", "0", ";", "policy", "drop", ";", "}",
            ]);
        }
    } else {
        nft(&["delete", "table", "inet", TABLE]);
    }
}

#[test]
fn a_cut_source_link_turns_the_migration_degraded_and_it_catches_up_when_restored() {
    let lab = LocalLab::start("isthg3");
    lab.lab_vpc("customer", "172.16.0.0/16", &[("src", SOURCE_IP)]);
    let mut lab = lab;
    let network = lab.project_and_network("172.29.98.0/24");
    let cluster = id_of(&lab.cli.json(&format!(
        "cluster create events --network {network} --engine nats --topology single-node \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    lab.peering(&network, "customer", &["172.16.0.0/16"]);
    let url = lab.cli.json("lab service add customer/src nats")["url"]
        .as_str()
        .unwrap()
        .to_string();
    eventually("the lab source accepts a fill", || {
        lab.cli
            .run("lab service fill customer/src nats --stream ORDERS --count 200000 --size 64")
            .code
            == Some(0)
    });
    let id = id_of(&lab.cli.json(&format!(
        "migration create move --cluster {cluster} --source {url}"
    )));
    until(&lab, &id, "copying", PATIENCE, |m| {
        m["progress"]["phase"] == "copying" && m["progress"]["lag_events"].as_u64() > Some(0)
    });
    let src_ns = lab.names.lab_host_ns("customer", "src");
    cut(&src_ns, true);
    let cut_at = Instant::now();
    let degraded = until(&lab, &id, "degraded", CUT, |m| {
        !m["progress"]["degraded"].is_null()
    });
    let degraded_after = cut_at.elapsed();
    let reason = degraded["progress"]["degraded"].as_str().unwrap();
    assert!(
        reason.contains("source is unreachable") || reason.contains("no progress"),
        "{degraded:#}"
    );
    assert!(
        degraded["status_message"]
            .as_str()
            .unwrap()
            .starts_with("degraded"),
        "{degraded:#}"
    );
    std::thread::sleep(CUT.saturating_sub(cut_at.elapsed()));
    let copied = |m: &Value| -> u64 {
        m["progress"]["streams"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| s["copied_through"].as_u64().unwrap_or(0))
            .sum()
    };
    let before = lab.cli.json(&format!("migration get {id}"));
    let (mark, backlog) = (copied(&before), before["progress"]["lag_events"].clone());
    cut(&src_ns, false);
    let restored_at = Instant::now();
    // More events once the link is back, so that copying again is seen even where the
    // whole fill was copied before the cut took hold (a fast machine copies 200,000 events
    // in about 2.5 s: seen in CI).
    eventually("the lab source takes more events after the cut", || {
        lab.cli
            .run("lab service fill customer/src nats --stream ORDERS --count 1000 --size 64")
            .code
            == Some(0)
    });
    until(&lab, &id, "resumed", PATIENCE, |m| copied(m) > mark);
    let resumed_after = restored_at.elapsed();
    until(&lab, &id, "caught up", PATIENCE, |m| {
        m["progress"]["lag_events"] == 0
            && m["progress"]["degraded"].is_null()
            && ["live", "ready_for_cutover"].contains(&m["status"].as_str().unwrap_or_default())
    });
    let caught_up_after = restored_at.elapsed();
    eprintln!(
        "figures: degraded {:.1} s after the cut; copying again {:.1} s after the link came \
         back; caught up {:.1} s after it (a backlog of {backlog} events)",
        degraded_after.as_secs_f64(),
        resumed_after.as_secs_f64(),
        caught_up_after.as_secs_f64()
    );
    let verified = lab.cli.ok(&format!("migration verify {id}"));
    assert!(verified.contains("\"equal\":true"), "{verified}");
    lab.cli.ok(&format!(
        "migration delete {id} --wait --timeout {WAIT_TIMEOUT}"
    ));
    lab.crash();
}
