//! Two replicators of the same migration at once (an operator's mistake, or an old one that
//! did not die): every publish carries the target state it expects, so they cannot
//! interleave or duplicate — the target still holds every event exactly once. KV buckets,
//! being streams, are copied with the rest and read back as buckets on the target.

mod support;

use isthmus_migrate::filler::{fill, SteadyWriter};
use isthmus_migrate::verify::verify;
use isthmus_migrate::Mode;
use support::*;

async fn two_replicators_do_not_interleave(mode: Mode) {
    let source = NatsServer::start().await;
    let target = NatsServer::start().await;
    let js = source.js().await;
    create_stream(&js, "ORDERS").await;
    fill(&js, &subjects("ORDERS", 8), 10_000, 128)
        .await
        .unwrap();
    let writer = SteadyWriter::start(js.clone(), subjects("ORDERS", 8), 500, 128);
    let (first, second) = tokio::join!(
        start(spec(&source, &target, mode)),
        start(spec(&source, &target, mode))
    );
    wait_caught_up(&first, &js, &["ORDERS"]).await;
    writer.stop().await;
    wait_caught_up(&first, &js, &["ORDERS"]).await;
    wait_caught_up(&second, &js, &["ORDERS"]).await;
    let report = verify(&js, &target.js().await, mode, &Default::default(), "ORDERS")
        .await
        .unwrap();
    assert!(report.equal, "{report:#?}");
    assert_eq!((report.duplicates, report.missing), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ordered_replicators_at_once_leave_every_event_once_in_order() {
    two_replicators_do_not_interleave(Mode::Ordered).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_partitioned_replicators_at_once_leave_every_event_once() {
    two_replicators_do_not_interleave(Mode::Partitioned { partitions: 3 }).await;
}

/// The stream a KV bucket is (what `create_key_value` makes; the workspace's client has no
/// `kv` feature, and the migration sees only the stream anyway).
async fn create_bucket(js: &async_nats::jetstream::Context, bucket: &str) {
    js.create_stream(async_nats::jetstream::stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 3,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: async_nats::jetstream::stream::DiscardPolicy::New,
        ..Default::default()
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kv_bucket_is_copied_with_its_limits_values_and_delete_markers() {
    let source = NatsServer::start().await;
    let target = NatsServer::start().await;
    let js = source.js().await;
    create_bucket(&js, "settings").await;
    for round in 0..4 {
        for key in ["theme", "locale", "plan"] {
            js.publish(
                format!("$KV.settings.{key}"),
                format!("{key}-{round}").into(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        }
    }
    let mut delete = async_nats::HeaderMap::new();
    delete.insert("KV-Operation", "DEL");
    js.publish_with_headers("$KV.settings.plan", delete, "".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let migration = start(spec(&source, &target, Mode::Ordered)).await;
    wait_caught_up(&migration, &js, &["KV_settings"]).await;
    let target_js = target.js().await;
    let mut copied = target_js.get_stream("KV_settings").await.unwrap();
    let config = copied.info().await.unwrap().config.clone();
    assert_eq!(config.max_messages_per_subject, 3);
    assert!(config.allow_rollup && config.deny_delete && config.allow_direct);
    let theme = copied
        .get_last_raw_message_by_subject("$KV.settings.theme")
        .await
        .unwrap();
    assert_eq!(theme.payload, "theme-3".as_bytes());
    let plan = copied
        .get_last_raw_message_by_subject("$KV.settings.plan")
        .await
        .unwrap();
    assert_eq!(plan.headers.get("KV-Operation").unwrap().as_str(), "DEL");
    let state = copied.info().await.unwrap().state.clone();
    assert_eq!(
        state.messages, 9,
        "three values per key, as the bucket keeps"
    );
    let report = verify(
        &js,
        &target_js,
        Mode::Ordered,
        &Default::default(),
        "KV_settings",
    )
    .await
    .unwrap();
    assert!(report.equal, "{report:#?}");
}
