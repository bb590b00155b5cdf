//! Transforms, in both modes: subjects renamed (messages, the target stream's subjects and
//! a moved consumer's filter), headers and payload rewritten by a script, messages the
//! script leaves out counted; `verify` compares the target with the transformed source.

mod support;

use async_nats::jetstream::consumer::{pull, AckPolicy};
use futures::StreamExt;
use isthmus_migrate::filler::fill;
use isthmus_migrate::transform::{Rename, Transform, TransformSpec, SCRIPT_SKIPPED};
use isthmus_migrate::verify::verify_transformed;
use isthmus_migrate::{Mode, Phase};
use support::*;

const EVENTS: u64 = 2_000;

fn transform() -> TransformSpec {
    TransformSpec {
        subjects: vec![Rename {
            from: "orders.*".into(),
            to: "sales.$1".into(),
        }],
        script: Some(
            r#"
            if subject == "orders.s7" { return false; }
            headers["Copied-From"] = subject;
            payload.push(33);
            "#
            .into(),
        ),
    }
}

async fn transforms(mode: Mode) {
    let source = NatsServer::start().await;
    let target = NatsServer::start().await;
    let js = source.js().await;
    create_stream(&js, "ORDERS").await;
    fill(&js, &subjects("ORDERS", 8), EVENTS, 64).await.unwrap();
    // A durable consumer of one subject that processed nothing yet.
    js.get_stream("ORDERS")
        .await
        .unwrap()
        .create_consumer(pull::Config {
            durable_name: Some("s3".into()),
            filter_subject: "orders.s3".into(),
            ack_policy: AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut spec = spec(&source, &target, mode);
    spec.transform = transform();
    let migration = start(spec).await;
    let status = wait_caught_up(&migration, &js, &["ORDERS"]).await;
    let orders = &status.streams[0];
    let skipped = orders.filtered.get(SCRIPT_SKIPPED).copied().unwrap_or(0);
    assert_eq!(skipped, EVENTS / 8, "{orders:?}");

    let target_js = target.js().await;
    let report = verify_transformed(
        &js,
        &target_js,
        mode,
        &Default::default(),
        &Transform::new(&transform()).unwrap(),
        "ORDERS",
    )
    .await
    .unwrap();
    assert!(report.equal, "{report:#?}");
    assert_eq!(report.target_count, EVENTS - EVENTS / 8, "{report:#?}");
    // Unchanged, the copies would differ from the source: verify sees the transform.
    let plain =
        isthmus_migrate::verify::verify(&js, &target_js, mode, &Default::default(), "ORDERS")
            .await
            .unwrap();
    assert!(!plain.equal);

    let mut target_stream = target_js.get_stream("ORDERS").await.unwrap();
    let config = target_stream.info().await.unwrap().config.clone();
    assert_eq!(config.subjects, ["orders.>", "sales.*"]);
    let copy = target_stream.get_raw_message(1).await.unwrap();
    assert!(copy.subject.starts_with("sales.s"), "{}", copy.subject);
    let headers = copy.headers;
    let from = headers.get("Copied-From").unwrap().as_str().to_string();
    assert_eq!(from.replace("orders.", "sales."), copy.subject.as_str());
    let original = js
        .get_stream("ORDERS")
        .await
        .unwrap()
        .get_raw_message(1)
        .await
        .unwrap();
    assert_eq!(copy.payload.len(), original.payload.len() + 1);
    assert_eq!(copy.payload.last(), Some(&b'!'));

    // The cut-over moves the consumer with its filter renamed.
    let report =
        isthmus_migrate::cutover::cutover(&migration, None, std::time::Duration::from_secs(30))
            .await
            .unwrap();
    assert_eq!(migration.status().phase, Phase::CutOver, "{report:?}");
    let moved = target_stream
        .get_consumer::<pull::Config>("s3")
        .await
        .unwrap();
    assert_eq!(moved.cached_info().config.filter_subject, "sales.s3");
    let mut messages = moved.fetch().max_messages(5).messages().await.unwrap();
    let first = messages.next().await.unwrap().unwrap();
    assert_eq!(first.subject.as_str(), "sales.s3");
}

#[tokio::test]
async fn ordered_copies_are_renamed_and_scripted() {
    transforms(Mode::Ordered).await;
}

#[tokio::test]
async fn partitioned_copies_are_renamed_and_scripted() {
    transforms(Mode::Partitioned { partitions: 4 }).await;
}
