//! Cut-over: a durable consumer that processed k of N events on the source continues on the
//! target with exactly events k+1..N, each once; the proof says so before anything is read.
//! A stalled copy (the target down) turns the migration degraded, and it recovers by itself.

mod support;

use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy};
use futures::StreamExt;
use isthmus_migrate::cutover::cutover;
use isthmus_migrate::filler::fill;
use isthmus_migrate::{headers, Mode, Phase, Settings};
use support::*;

const EVENTS: u64 = 2_000;
const PROCESSED: u64 = 737;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_consumer_continues_on_the_target_with_exactly_the_events_it_had_not_processed() {
    let source = NatsServer::start().await;
    let target = NatsServer::start().await;
    let js = source.js().await;
    create_stream(&js, "ORDERS").await;
    fill(&js, &subjects("ORDERS", 5), EVENTS, 128)
        .await
        .unwrap();
    let orders = js.get_stream("ORDERS").await.unwrap();
    let billing = orders
        .create_consumer(pull::Config {
            durable_name: Some("billing".into()),
            ack_policy: AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut batch = billing
        .fetch()
        .max_messages(PROCESSED as usize)
        .messages()
        .await
        .unwrap();
    let mut processed = 0;
    while let Some(message) = batch.next().await {
        message.unwrap().double_ack().await.unwrap();
        processed += 1;
    }
    assert_eq!(processed, PROCESSED);

    let mut migration = start(spec(&source, &target, Mode::Ordered)).await;
    wait_for(&migration, "ready for cut-over", |s| {
        s.phase == Phase::ReadyForCutover
    })
    .await;
    let report = cutover(&migration, None, WAIT).await.unwrap();
    assert_eq!(report.end["ORDERS"], EVENTS);
    let [proof] = report.consumers.as_slice() else {
        panic!("{report:#?}")
    };
    assert_eq!(proof.consumer, "billing");
    assert_eq!(proof.source_ack_floor, PROCESSED);
    assert_eq!(proof.target_start_source_seq, Some(PROCESSED + 1));
    assert_eq!(
        (proof.source_remaining, proof.target_remaining, proof.lag),
        (EVENTS - PROCESSED, EVENTS - PROCESSED, 0)
    );
    assert_eq!(migration.status().phase, Phase::CutOver);

    let moved = target
        .js()
        .await
        .get_stream("ORDERS")
        .await
        .unwrap()
        .get_consumer::<pull::Config>("billing")
        .await
        .unwrap();
    let mut received = Vec::new();
    loop {
        let batch: Vec<u64> = moved
            .fetch()
            .max_messages(500)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .unwrap()
            .then(|m| async move {
                let m = m.unwrap();
                let seq = headers::source_seq(m.headers.as_ref().unwrap()).unwrap();
                m.double_ack().await.unwrap();
                seq
            })
            .collect()
            .await;
        if batch.is_empty() {
            break;
        }
        received.extend(batch);
    }
    let expected: Vec<u64> = ((PROCESSED + 1)..=EVENTS).collect();
    assert!(
        received == expected,
        "received {} events, {:?}..{:?}; expected {}..={EVENTS}",
        received.len(),
        received.first(),
        received.last(),
        PROCESSED + 1
    );
    migration.stop();
    assert_eq!(migration.status().phase, Phase::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_copy_turns_degraded_and_recovers_by_itself() {
    let source = NatsServer::start().await;
    let mut target = NatsServer::start().await;
    let js = source.js().await;
    create_stream(&js, "ORDERS").await;
    fill(&js, &subjects("ORDERS", 2), 100, 64).await.unwrap();
    let mut spec = spec(&source, &target, Mode::Ordered);
    spec.settings = Settings {
        stall_after: Duration::from_secs(2),
        ..spec.settings
    };
    let migration = start(spec).await;
    wait_caught_up(&migration, &js, &["ORDERS"]).await;
    target.kill();
    fill(&js, &subjects("ORDERS", 2), 100, 64).await.unwrap();
    let status = wait_for(&migration, "degraded", |s| s.degraded.is_some()).await;
    assert!(status.degraded.unwrap().contains("100 events to copy"));
    target.restart().await;
    wait_caught_up(&migration, &js, &["ORDERS"]).await;
    wait_for(&migration, "recovered", |s| s.degraded.is_none()).await;
}

/// The target stream's duplicate window, as the target states it.
async fn duplicate_window(target: &NatsServer, stream: &str) -> Duration {
    let mut handle = target.js().await.get_stream(stream).await.unwrap();
    handle.info().await.unwrap().config.duplicate_window
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_copy_keeps_ids_one_second_and_the_cutover_restores_the_sources_window() {
    let source = NatsServer::start().await;
    let target = NatsServer::start().await;
    let js = source.js().await;
    create_stream(&js, "EVENTS").await; // the server's default window: 2 minutes
    fill(&js, &subjects("EVENTS", 4), 500, 64).await.unwrap();
    let spec = spec(&source, &target, Mode::Partitioned { partitions: 2 });
    let migration = start(spec.clone()).await;
    wait_caught_up(&migration, &js, &["EVENTS"]).await;
    assert_eq!(
        duplicate_window(&target, "EVENTS").await,
        Duration::from_secs(1),
        "the copy's ids are kept one second, not the source's two minutes"
    );

    let report = cutover(&migration, None, WAIT).await.unwrap();
    assert_eq!(
        duplicate_window(&target, "EVENTS").await,
        Duration::from_secs(120)
    );
    assert_eq!(
        report.duplicate_windows,
        vec!["EVENTS: duplicate window 1s during the copy, now the source's 120s".to_string()]
    );
    // An engine started again after the cut-over accepts the restored window.
    let again = start(spec).await;
    assert_eq!(again.duplicate_windows()["EVENTS"], 120_000_000_000);
    let report = cutover(&again, None, WAIT).await.unwrap();
    assert_eq!(
        report.duplicate_windows,
        vec!["EVENTS: duplicate window already the source's 120s".to_string()]
    );
    assert_eq!(
        duplicate_window(&target, "EVENTS").await,
        Duration::from_secs(120)
    );
}
