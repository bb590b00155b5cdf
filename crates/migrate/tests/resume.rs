//! Partitioned mode over many subjects: a copy that starts on an empty target looks up no
//! subject's last copy (none can exist), and one that resumes into a target holding part
//! of the copy looks them up in batches. Either way every event ends in the target once:
//! a second engine started where the first stopped, over 1,024 subjects, leaves no
//! duplicate, no gap and every subject in order.

mod support;

use isthmus_migrate::filler::fill;
use isthmus_migrate::verify::verify;
use isthmus_migrate::Mode;
use support::*;

const SUBJECTS: usize = 1024;
const EVENTS: u64 = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_copy_over_many_subjects_resumes_into_a_partial_target_exactly_once() {
    let source = NatsServer::start().await;
    let target = NatsServer::start().await;
    let js = source.js().await;
    create_stream(&js, "ORDERS").await;
    fill(&js, &subjects("ORDERS", SUBJECTS), EVENTS, 64)
        .await
        .unwrap();
    let mode = Mode::Partitioned { partitions: 8 };

    // The first engine stops part-way: the target holds some subjects' copies, and
    // faster partitions' copies beyond the low-water mark.
    let first = start(spec(&source, &target, mode)).await;
    let stopped_at = wait_for(&first, "a part copied", |s| {
        s.streams.iter().any(|s| s.copied_through >= EVENTS / 4)
    })
    .await;
    drop(first);
    let partial = stopped_at.streams[0].copied_through;
    assert!(partial < EVENTS, "stopped part-way: {stopped_at:?}");

    let second = start(spec(&source, &target, mode)).await;
    let status = wait_caught_up(&second, &js, &["ORDERS"]).await;
    eprintln!(
        "first engine stopped at #{partial}; the second found {} already present",
        status.streams[0].already_present
    );
    let report = verify(&js, &target.js().await, mode, &Default::default(), "ORDERS")
        .await
        .unwrap();
    assert!(report.equal, "{report:#?}");
    assert_eq!(
        (report.source_count, report.target_count),
        (EVENTS, EVENTS),
        "{report:#?}"
    );
    assert_eq!(
        (report.duplicates, report.missing, report.out_of_order),
        (0, 0, 0),
        "{report:#?}"
    );
}
