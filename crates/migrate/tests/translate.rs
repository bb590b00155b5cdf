//! Checkpoint translation is exact: for random source positions, the target position found
//! holds the copy of exactly that source message, in both modes, with source deletions making
//! target sequences differ from source sequences.

mod support;

use isthmus_migrate::filler::fill;
use isthmus_migrate::headers;
use isthmus_migrate::translate::translate;
use isthmus_migrate::Mode;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::*;

const EVENTS: u64 = 5_000;

fn positions() -> usize {
    if std::env::var("ISTHMUS_LONG").is_ok_and(|v| v == "1") {
        10_000
    } else {
        1_000
    }
}

async fn translates_exactly(mode: Mode) {
    let seed: u64 = rand::random();
    let mut rng = StdRng::seed_from_u64(seed);
    let source = NatsServer::start().await;
    let target = NatsServer::start().await;
    let js = source.js().await;
    create_stream(&js, "ORDERS").await;
    fill(&js, &subjects("ORDERS", 12), EVENTS, 64)
        .await
        .unwrap();
    let orders = js.get_stream("ORDERS").await.unwrap();
    let mut deleted = std::collections::BTreeSet::new();
    while deleted.len() < 200 {
        let seq = rng.gen_range(1..=EVENTS);
        if deleted.insert(seq) {
            orders.delete_message(seq).await.unwrap();
        }
    }
    let migration = start(spec(&source, &target, mode)).await;
    wait_caught_up(&migration, &js, &["ORDERS"]).await;
    let target_js = target.js().await;
    let copies = target_js.get_stream_no_info("ORDERS").await.unwrap();
    let mut differing = 0;
    for _ in 0..positions() {
        let seq = rng.gen_range(1..=EVENTS);
        if deleted.contains(&seq) {
            continue;
        }
        let found = translate(&js, &target_js, mode, "ORDERS", seq)
            .await
            .unwrap();
        assert!(found.exact, "seed {seed}: {found:?}");
        let at = found.target_seq.unwrap();
        differing += u64::from(at != seq);
        let copy = copies.get_raw_message(at).await.unwrap();
        let original = orders.get_raw_message(seq).await.unwrap();
        assert_eq!(headers::source_seq(&copy.headers), Some(seq), "seed {seed}");
        assert_eq!(
            (copy.subject, copy.payload),
            (original.subject, original.payload)
        );
    }
    assert!(
        differing > 0,
        "target positions differ from source positions"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_translation_finds_the_exact_copy_of_random_source_positions() {
    translates_exactly(Mode::Ordered).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_translation_finds_the_exact_copy_of_random_source_positions() {
    translates_exactly(Mode::Partitioned { partitions: 4 }).await;
}
