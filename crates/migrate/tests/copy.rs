//! A migration copies configurations, history and the live tail of several streams into the
//! target, in ordered and partitioned mode, while a writer keeps appending: afterwards the
//! target holds every source event exactly once, in order, with the same content.

mod support;

use isthmus_migrate::filler::{fill, SteadyWriter};
use isthmus_migrate::verify::verify;
use isthmus_migrate::{Mode, Phase};
use support::*;

const STREAMS: [&str; 3] = ["ORDERS", "PAYMENTS", "AUDIT"];
const EVENTS_PER_STREAM: u64 = 3_000;

async fn copies_everything(mode: Mode) {
    let source = NatsServer::start().await;
    let target = NatsServer::start().await;
    let js = source.js().await;
    for name in STREAMS {
        create_stream(&js, name).await;
        fill(&js, &subjects(name, 8), EVENTS_PER_STREAM, 256)
            .await
            .unwrap();
    }
    // Deleted source messages are not copied, and reported.
    let orders = js.get_stream("ORDERS").await.unwrap();
    for seq in [10, 11, 500] {
        orders.delete_message(seq).await.unwrap();
    }
    let writer = SteadyWriter::start(js.clone(), subjects("PAYMENTS", 4), 500, 256);
    let migration = start(spec(&source, &target, mode)).await;
    wait_for(&migration, "live", |s| {
        matches!(s.phase, Phase::Live | Phase::ReadyForCutover)
    })
    .await;
    let during = writer.stop().await;
    assert!(during > 0, "the writer appended during the copy");
    let status = wait_caught_up(&migration, &js, &STREAMS).await;
    let orders_status = status
        .streams
        .iter()
        .find(|s| s.stream == "ORDERS")
        .unwrap();
    assert_eq!(orders_status.source_gaps, 3, "{orders_status:?}");

    let target_js = target.js().await;
    for name in STREAMS {
        let report = verify(&js, &target_js, mode, &Default::default(), name)
            .await
            .unwrap();
        assert!(report.equal, "{report:#?}");
        assert_eq!(report.target_count, report.source_count);
        assert_eq!(
            (report.duplicates, report.missing, report.out_of_order),
            (0, 0, 0)
        );
        assert_eq!(report.ranges_differing, 0);
        let expected = if name == "ORDERS" {
            EVENTS_PER_STREAM - 3
        } else {
            EVENTS_PER_STREAM
        };
        assert!(report.source_count >= expected, "{report:#?}");
    }
    // The configuration was copied first and as asked.
    let copied = target_js
        .get_stream("AUDIT")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .config
        .clone();
    assert_eq!(copied.subjects, vec!["audit.>".to_string()]);
    let status = wait_for(&migration, "ready for cut-over", |s| {
        s.phase == Phase::ReadyForCutover
    })
    .await;
    assert_eq!(status.lag_events, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_mode_copies_history_and_live_tail_of_several_streams_exactly() {
    copies_everything(Mode::Ordered).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_mode_copies_history_and_live_tail_of_several_streams_exactly() {
    copies_everything(Mode::Partitioned { partitions: 4 }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_source_fails_the_migration_with_the_expected_and_first_available_positions() {
    let source = NatsServer::start().await;
    let target = NatsServer::start().await;
    let js = source.js().await;
    create_stream(&js, "ORDERS").await;
    fill(&js, &subjects("ORDERS", 2), 100, 64).await.unwrap();
    let migration = start(spec(&source, &target, Mode::Ordered)).await;
    wait_caught_up(&migration, &js, &["ORDERS"]).await;
    drop(migration);
    // While no migration runs, 50 more events are written and the source is purged.
    fill(&js, &subjects("ORDERS", 2), 50, 64).await.unwrap();
    js.get_stream("ORDERS")
        .await
        .unwrap()
        .purge()
        .await
        .unwrap();
    let migration = start(spec(&source, &target, Mode::Ordered)).await;
    let status = wait_for(&migration, "failed", |s| {
        matches!(s.phase, Phase::Failed(_))
    })
    .await;
    let Phase::Failed(reason) = status.phase else {
        unreachable!()
    };
    assert!(
        reason.contains("expected #101") && reason.contains("first available #151"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_configuration_the_target_would_not_keep_is_refused_naming_the_field() {
    let target = NatsServer::start().await;
    let js = target.js().await;
    // nats-server 2.9.10 does not know `first_seq` and would create the stream from 1.
    let asked = serde_json::json!({
        "name": "LEDGER", "subjects": ["ledger.>"], "retention": "limits", "storage": "file",
        "max_msgs": -1, "max_bytes": -1, "max_age": 0, "max_consumers": -1, "discard": "old",
        "first_seq": 1000
    });
    let error = isthmus_migrate::streams::ensure_target_stream(&js, &asked, None)
        .await
        .unwrap_err();
    let mismatch = error
        .downcast_ref::<isthmus_migrate::streams::ConfigMismatch>()
        .unwrap_or_else(|| panic!("{error:#}"));
    assert_eq!(mismatch.field, "first_seq");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_skip_by_subject_and_header_and_count_each_reason_in_both_modes() {
    for mode in [Mode::Ordered, Mode::Partitioned { partitions: 2 }] {
        let source = NatsServer::start().await;
        let target = NatsServer::start().await;
        let js = source.js().await;
        create_stream(&js, "ORDERS").await;
        fill(&js, &subjects("ORDERS", 4), 400, 64).await.unwrap();
        for _ in 0..10 {
            let mut staging = async_nats::HeaderMap::new();
            staging.insert("Env", "staging");
            js.publish_with_headers("orders.s0", staging, "test order".into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
        // The last message is filtered: the copy must still count as caught up.
        js.publish("orders.s3", "last".into())
            .await
            .unwrap()
            .await
            .unwrap();
        let mut spec = spec(&source, &target, mode);
        spec.filters = isthmus_migrate::Filters {
            exclude_subjects: vec!["orders.s3".into()],
            exclude_headers: [("Env".to_string(), "staging".to_string())].into(),
            ..Default::default()
        };
        let migration = start(spec.clone()).await;
        let status = wait_caught_up(&migration, &js, &["ORDERS"]).await;
        let filtered = &status.streams[0].filtered;
        assert_eq!(
            filtered.get("subject_excluded"),
            Some(&101),
            "{mode:?}: {filtered:?}"
        );
        assert_eq!(
            filtered.get("header_excluded"),
            Some(&10),
            "{mode:?}: {filtered:?}"
        );
        let target_js = target.js().await;
        let report = verify(&js, &target_js, mode, &spec.filters, "ORDERS")
            .await
            .unwrap();
        assert!(report.equal, "{mode:?}: {report:#?}");
        assert_eq!(report.target_count, 300);
    }
}
