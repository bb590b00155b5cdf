//! A purged source on the `local` provider, through the real binary: a migration copies a
//! lab source and is deleted (the copy stays in the target); the source then loses the
//! messages the next copy would resume from. A new migration into the same target resumes
//! from the target's last message and fails — `error`, with the expected and the first
//! available positions — instead of silently skipping what was purged.

mod lab_host;
mod local_support;
mod migration_support;
mod support;

use local_support::{eventually, LocalLab};
use migration_support::{on_source, SOURCE_IP};
use support::{id_of, WAIT_TIMEOUT};

#[test]
fn a_source_purged_past_the_resume_point_fails_with_the_positions() {
    let mut lab = LocalLab::start("isthj2");
    lab.lab_vpc("customer", "172.16.0.0/16", &[("src", SOURCE_IP)]);
    let network = lab.project_and_network("172.29.98.0/24");
    let cluster = lab.cli.json(&format!(
        "cluster create events --network {network} --engine nats --topology single-node \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    let cluster_id = id_of(&cluster);
    lab.peering(&network, "customer", &["172.16.0.0/16"]);
    let service = lab.cli.json("lab service add customer/src nats");
    let server = service["url"].as_str().unwrap().to_string();
    eventually("the lab source accepts a fill", || {
        lab.cli
            .run("lab service fill customer/src nats --stream ORDERS --count 1000 --subjects 4")
            .code
            == Some(0)
    });
    let first = lab.cli.json(&format!(
        "migration create first --cluster {cluster_id} --source {server} \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    let first_id = id_of(&first);
    eventually("the first migration copied all 1,000", || {
        let m = lab.cli.json(&format!("migration get {first_id}"));
        m["progress"]["streams"][0]["copied_through"] == 1000
    });
    lab.cli.ok(&format!(
        "migration delete {first_id} --wait --timeout {WAIT_TIMEOUT}"
    ));

    // 500 more events (#1001..#1500), then everything below #1201 purged.
    lab.cli
        .ok("lab service fill customer/src nats --stream ORDERS --count 500 --subjects 4");
    let src_ns = lab.names.lab_host_ns("customer", "src");
    let first_left = on_source(&src_ns, |js| async move {
        let mut stream = js.get_stream("ORDERS").await?;
        stream
            .purge()
            .sequence(1201)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        Ok(stream.info().await?.state.first_sequence)
    })
    .unwrap();
    assert_eq!(first_left, 1201);

    let again = lab.cli.json(&format!(
        "migration create again --cluster {cluster_id} --source {server}"
    ));
    let id = id_of(&again);
    let failed = lab.cli.poll_status("migration", &id, &["error"]);
    let message = failed["status_message"].as_str().unwrap();
    assert!(
        message.contains("1001") && message.contains("1201"),
        "the failure names the expected and the first available positions: {failed:#}"
    );
    assert_eq!(failed["progress"]["phase"], "failed", "{failed:#}");
    eprintln!("purged source: {message}");
}
