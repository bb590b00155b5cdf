//! A clustered source that loses a node mid-copy (nats-server 2.9, streams of three
//! replicas): the engine's client is connected to the node that dies, reconnects to
//! another, and its reading consumer — one replica on a random peer of the stream, perhaps
//! the dead one — must be made again where it can live. Both modes reach the source's end
//! while a writer keeps appending, and the target equals the source: no duplicate, no gap.

mod support;

use std::time::Duration;

use isthmus_migrate::filler::{fill, SteadyWriter};
use isthmus_migrate::verify::verify;
use isthmus_migrate::{Mode, Spec};
use support::cluster::NatsCluster;
use support::*;

/// The node the engine connects to, and the one that dies.
const VICTIM: usize = 1;

fn spec_for(cluster: &NatsCluster, target: &NatsServer, stream: &str, mode: Mode) -> Spec {
    let mut spec = spec(target, target, mode);
    spec.source = cluster.endpoint_of(VICTIM);
    spec.streams = vec![stream.to_string()];
    spec.settings.source_stall = Duration::from_secs(5);
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_modes_reach_the_end_of_a_clustered_source_that_loses_the_node_they_read_from() {
    let mut cluster = NatsCluster::start().await;
    let target = NatsServer::start().await;
    let js = cluster.js().await;
    for name in ["ORDERS", "EVENTS"] {
        cluster.create_stream(&js, name).await;
        fill(&js, &subjects(name, 64), 20_000, 256).await.unwrap();
    }
    let writer = SteadyWriter::start(js.clone(), subjects("ORDERS", 64), 300, 256);
    let ordered = start(spec_for(&cluster, &target, "ORDERS", Mode::Ordered)).await;
    let partitioned = start(spec_for(
        &cluster,
        &target,
        "EVENTS",
        Mode::Partitioned { partitions: 8 },
    ))
    .await;
    for migration in [&ordered, &partitioned] {
        wait_for(migration, "copying", |s| s.streams[0].copied > 0).await;
    }
    cluster.kill(VICTIM);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let written = writer.stop().await;
    assert!(written > 0, "the writer appended during the copy");

    let target_js = target.js().await;
    for (migration, name, mode) in [
        (&ordered, "ORDERS", Mode::Ordered),
        (&partitioned, "EVENTS", Mode::Partitioned { partitions: 8 }),
    ] {
        let status = wait_caught_up(migration, &js, &[name]).await;
        eprintln!(
            "{name}: caught up at #{}; last retried after: {:?}",
            status.streams[0].copied_through, status.streams[0].last_error
        );
        let report = verify(&js, &target_js, mode, &Default::default(), name)
            .await
            .unwrap();
        assert_eq!(report.duplicates, 0, "{report:#?}");
        assert_eq!(report.missing, 0, "{report:#?}");
        assert!(report.equal, "{report:#?}");
        assert_eq!(report.target_count, report.source_count, "{report:#?}");
    }
}
