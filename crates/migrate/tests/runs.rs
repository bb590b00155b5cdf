//! What partitioned mode's runs rely on in nats-server (module doc of `partitioned.rs`): a
//! publish expecting the stream's last message id (`Nats-Expected-Last-Msg-Id`) is stored
//! only when the message stored last carries that id. A message stored without an id in
//! between, or a refused publish, breaks the chain; and the check holds on a three-node
//! stream, where it is made when the message is applied. If a server version changed any
//! of this, runs would no longer be exactly once, and this test says so.

mod support;

use async_nats::jetstream::message::PublishMessage as Publish;
use async_nats::jetstream::Context;
use support::cluster::NatsCluster;
use support::*;

/// Publishes and returns the stored sequence, or the target's refusal.
async fn send(js: &Context, subject: &str, publish: Publish) -> Result<u64, String> {
    let ack = js
        .send_publish(subject.to_string(), publish.payload("event".into()))
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    Ok(ack.sequence)
}

fn with_id(id: &str) -> Publish {
    Publish::build().message_id(id)
}

async fn a_run_breaks_on_anything_between_its_messages(js: &Context) {
    // A run of subject s0: each message after the first expects the one before it.
    let first = send(js, "runs.s0", with_id("isthmus:1")).await.unwrap();
    let second = send(
        js,
        "runs.s0",
        with_id("isthmus:2").expected_last_message_id("isthmus:1"),
    )
    .await
    .unwrap();
    assert_eq!(second, first + 1);

    // Another writer's message (no id) lands between: the run's next message is refused.
    send(js, "runs.s1", Publish::build()).await.unwrap();
    let refused = send(
        js,
        "runs.s0",
        with_id("isthmus:3").expected_last_message_id("isthmus:2"),
    )
    .await;
    assert!(
        refused.is_err(),
        "stored after a foreign message: {refused:?}"
    );

    // A refused publish is not the last message: expecting its id is refused too.
    let refused = send(
        js,
        "runs.s0",
        with_id("isthmus:3").expected_last_subject_sequence(first),
    )
    .await;
    assert!(refused.is_err(), "a stale subject expectation was stored");
    let after_refusal = send(
        js,
        "runs.s0",
        with_id("isthmus:4").expected_last_message_id("isthmus:3"),
    )
    .await;
    assert!(
        after_refusal.is_err(),
        "stored after a refused message: {after_refusal:?}"
    );

    // Another writer's message with an id: the chain follows the id, not the writer.
    send(js, "runs.s1", with_id("other:1")).await.unwrap();
    let refused = send(
        js,
        "runs.s0",
        with_id("isthmus:3").expected_last_message_id("isthmus:2"),
    )
    .await;
    assert!(refused.is_err(), "stored after another id: {refused:?}");
    let state = js
        .get_stream("RUNS")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .clone();
    assert_eq!(
        state.messages, 4,
        "only the two of the run and the two others"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_stored_only_right_after_its_previous_message() {
    let server = NatsServer::start().await;
    let js = server.js().await;
    create_stream(&js, "RUNS").await;
    a_run_breaks_on_anything_between_its_messages(&js).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_stored_only_right_after_its_previous_message_on_three_replicas() {
    let cluster = NatsCluster::start().await;
    let js = cluster.js().await;
    cluster.create_stream(&js, "RUNS").await;
    a_run_breaks_on_anything_between_its_messages(&js).await;
}
