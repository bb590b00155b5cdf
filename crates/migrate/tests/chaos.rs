//! The replicator and the target server killed at random points, over and over, while a
//! writer keeps appending to the source: every restart resumes from the target's own last
//! message, and at the end the target holds every source event once — no duplicate, no gap.
//! 12 kills per mode here (24 in the suite); `ISTHMUS_LONG=1` makes it 60 per mode.

mod support;

use std::time::Duration;

use isthmus_migrate::filler::{fill, SteadyWriter};
use isthmus_migrate::verify::verify;
use isthmus_migrate::Mode;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::*;

const STREAMS: [&str; 2] = ["ORDERS", "PAYMENTS"];

fn kills() -> usize {
    if std::env::var("ISTHMUS_LONG").is_ok_and(|v| v == "1") {
        60
    } else {
        12
    }
}

async fn survives_random_kills(mode: Mode) {
    let seed: u64 = rand::random();
    eprintln!("seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let source = NatsServer::start().await;
    let mut target = NatsServer::start().await;
    let js = source.js().await;
    for name in STREAMS {
        create_stream(&js, name).await;
        fill(&js, &subjects(name, 16), 20_000, 256).await.unwrap();
    }
    let writer = SteadyWriter::start(js.clone(), subjects("ORDERS", 16), 400, 256);
    let spec = spec(&source, &target, mode);
    let mut migration = Some(start(spec.clone()).await);
    let (mut engine_kills, mut target_kills) = (0, 0);
    for _ in 0..kills() {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(20..300))).await;
        if rng.gen_bool(0.5) {
            // The replicator dies: its tasks are dropped wherever they are.
            drop(migration.take());
            migration = Some(start(spec.clone()).await);
            engine_kills += 1;
        } else {
            target.kill();
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..300))).await;
            target.restart().await;
            target_kills += 1;
        }
    }
    let written = writer.stop().await;
    eprintln!("{engine_kills} replicator kills, {target_kills} target kills, {written} events written during them");
    let migration = migration.unwrap();
    wait_caught_up(&migration, &js, &STREAMS).await;
    let target_js = target.js().await;
    for name in STREAMS {
        let report = verify(&js, &target_js, mode, &Default::default(), name)
            .await
            .unwrap();
        assert_eq!(report.duplicates, 0, "seed {seed}: {report:#?}");
        assert_eq!(report.missing, 0, "seed {seed}: {report:#?}");
        assert!(report.equal, "seed {seed}: {report:#?}");
        assert_eq!(report.target_count, report.source_count);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_copies_survive_the_replicator_and_the_target_killed_at_random_points() {
    survives_random_kills(Mode::Ordered).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_copies_survive_the_replicator_and_the_target_killed_at_random_points() {
    survives_random_kills(Mode::Partitioned { partitions: 4 }).await;
}
