//! The data half of a cluster's move (issue 19), on real nats-server processes on
//! loopback, started from the engine's launch recipe with CA-issued certificates: three
//! old members as a cluster made before moves existed has them (no tags, no system
//! user), three new ones that keep the old members' DNS names under member names of
//! their own, tagged with the target network. While a writer publishes (each message
//! with its id, retried until acknowledged) and a durable consumer acknowledges,
//! `place_streams` moves the stream onto the new members, `placement` says when it is
//! there, `retire_members` takes the old members out of the meta group, and the old
//! members stop. Every acknowledged write is in the stream and delivered exactly once;
//! JetStream still answers with only the new members left. The writer's error window and
//! the time to place the data are printed (figures, not assertions).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy, stream};
use futures::StreamExt;
use isthmus_connect::engines::{nats_launch, LaunchContext, Membership, Peer, RenderedLaunch};
use isthmus_connect::pki::{Ca, NodeIdentity};
use isthmus_server::nodes::jetstream_move::{
    connect, data_round, member_reports, network_tag, retire_members,
};
use tokio::process::Child;

const CLUSTER_ID: &str = "d00d0000000000000000";
const ZONE: &str = "isthmus.internal";
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const PASSWORD: &str = "move-test-password";

fn nats_server() -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("nats-server"))
        .find(|p| p.is_file())
        .expect("nats-server is not installed (scripts/setup installs it)")
}

/// `<id>-<n>.<zone>`: the old member n and the new member that replaces it share it.
fn dns_name(n: u32) -> String {
    format!("{CLUSTER_ID}-{n}.{ZONE}")
}

struct Node {
    ctx: LaunchContext,
    launch: RenderedLaunch,
    process: Option<Child>,
}

impl Node {
    fn url(&self) -> String {
        format!("tls://{}", self.ctx.addr("client").unwrap())
    }
    fn log(&self) -> String {
        std::fs::read_to_string(self.ctx.data_dir.join("nats.log")).unwrap_or_default()
    }
    async fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = p.kill().await;
        }
    }
}

/// The lines of the nodes' logs about JetStream's meta group and stream moves.
fn logs<'a>(nodes: impl Iterator<Item = &'a Node>) -> String {
    let mut out = String::new();
    for node in nodes {
        out.push_str(&format!("--- node {}\n", node.ctx.node_index));
        for line in node.log().lines().filter(|l| {
            let l = l.to_lowercase();
            l.contains("leader")
                || l.contains("meta")
                || l.contains("peer")
                || l.contains("[err]")
                || l.contains("[wrn]")
                || l.contains("move")
        }) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Six nodes' ports (client, cluster, monitor), each held until all are chosen.
fn free_ports() -> Vec<BTreeMap<String, u16>> {
    let held: Vec<_> = (0..18)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = held
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    ports
        .chunks(3)
        .map(|p| {
            BTreeMap::from([
                ("client".to_string(), p[0]),
                ("cluster".to_string(), p[1]),
                ("monitor".to_string(), p[2]),
            ])
        })
        .collect()
}

/// Node `index` (0..3 old, 3..6 new; new node i replaces old node i - 3), routed to `peers`.
fn context(
    dir: &Path,
    ca: &Ca,
    ports: &[BTreeMap<String, u16>],
    index: u32,
    peers: &[u32],
) -> LaunchContext {
    let name = dns_name(index % 3);
    let data_dir = dir.join(format!("node-{index}"));
    std::fs::create_dir_all(&data_dir).unwrap();
    let (cert, key) = (data_dir.join("node.pem"), data_dir.join("node.key"));
    ca.issue_node_cert(
        &NodeIdentity {
            node_dns: name.clone(),
            cluster_dns: format!("{CLUSTER_ID}.{ZONE}"),
            public_dns: None,
            ip: LOOPBACK,
        },
        Duration::from_secs(3600),
    )
    .unwrap()
    .write_to(&cert, &key)
    .unwrap();
    let membership = if index < 3 {
        Membership::default()
    } else {
        Membership {
            member_name: Some(format!("{name}~{index}")),
            tags: vec![network_tag("target")],
            system_password: Some(PASSWORD.into()),
        }
    };
    LaunchContext {
        cluster_id: CLUSTER_ID.into(),
        node_index: index,
        node_name: name.clone(),
        cluster_name: format!("{CLUSTER_ID}.{ZONE}"),
        node_ip: LOOPBACK,
        data_dir,
        cert,
        key,
        ca: ca.cert_path(),
        peers: peers
            .iter()
            .filter(|p| **p != index)
            .map(|p| Peer {
                node_name: dns_name(p % 3),
                ip: LOOPBACK,
                ports: ports[*p as usize].clone(),
            })
            .collect(),
        ports: ports[index as usize].clone(),
        membership,
    }
}

fn spawn(ctx: LaunchContext) -> Node {
    let launch = nats_launch(&nats_server()).render(&ctx).unwrap();
    launch.write_files().unwrap();
    let log = std::fs::File::create(ctx.data_dir.join("nats.log")).unwrap();
    let process = launch
        .command()
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .expect("spawn nats-server");
    Node {
        ctx,
        launch,
        process: Some(process),
    }
}

/// Members are ready once JetStream is: for a cluster's first members, once they met.
async fn wait_ready(node: &Node, ca_pem: &str) {
    let mut last = String::new();
    for _ in 0..150 {
        match node.launch.ready.check(ca_pem).await {
            Ok(()) => return,
            Err(e) => last = format!("{e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{} never ready: {last}\n{}", node.ctx.node_name, node.log());
}

/// A client as an application has one: it knows the servers it was given (standing in
/// for the cluster's name, which resolves to the old nodes before the switch and the
/// new ones after it) and reconnects quickly.
async fn app_client(urls: &[String], ca: &Path) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .add_root_certificates(ca.to_path_buf())
        .require_tls(true)
        .ignore_discovered_servers()
        .reconnect_delay_callback(|_| Duration::from_millis(100))
        .connect(urls.to_vec())
        .await
        .expect("connect the application")
}

/// What the writer saw: the ids acknowledged, and its error windows.
#[derive(Default)]
struct Written {
    acked: BTreeSet<u64>,
    /// (first failure, next success) of each run of failures.
    windows: Vec<Duration>,
}

/// What the consumer processed, in order, and how many deliveries it skipped as already
/// processed.
#[derive(Default)]
struct Received {
    processed: Vec<u64>,
    last_seq: u64,
    redelivered: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_moves_to_new_members_under_a_writer_and_a_consumer_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::load_or_create(&dir.path().join("ca")).unwrap();
    let ca_pem = ca.cert_pem().to_string();
    let ports = free_ports();
    let mut old: Vec<Node> = (0..3)
        .map(|i| spawn(context(dir.path(), &ca, &ports, i, &[0, 1, 2])))
        .collect();
    for node in &old {
        wait_ready(node, &ca_pem).await;
    }

    // The application: a replicated stream, a durable consumer, a steady writer.
    let every: Vec<u32> = (0..6).collect();
    let urls = |nodes: &[u32]| -> Vec<String> {
        nodes
            .iter()
            .map(|n| format!("tls://127.0.0.1:{}", ports[*n as usize]["client"]))
            .collect()
    };
    let admin = app_client(&urls(&[0]), &ca.cert_path()).await;
    let js = jetstream::new(admin.clone());
    let mut created = None;
    for _ in 0..100 {
        match js
            .create_stream(stream::Config {
                name: "ORDERS".into(),
                subjects: vec!["orders.>".into()],
                num_replicas: 3,
                ..Default::default()
            })
            .await
        {
            Ok(s) => {
                created = Some(s);
                break;
            }
            // JetStream's meta group elects its leader a moment after the members meet.
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let orders = created.expect("the stream was created");
    orders
        .create_consumer(pull::Config {
            durable_name: Some("billing".into()),
            ack_policy: AckPolicy::Explicit,
            // In order, one at a time: a delivery lost while the consumer's leader moves is
            // sent again after `ack_wait`, before anything after it (with more in flight,
            // it would come after later messages, or after the consumer stopped).
            max_ack_pending: 1,
            ack_wait: Duration::from_secs(2),
            num_replicas: 3,
            ..Default::default()
        })
        .await
        .unwrap();

    // Clients are handed an old node and a new one: what the cluster's name gives them
    // before and after the switch.
    let app_urls = urls(&[0, 3]);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let written = Arc::new(Mutex::new(Written::default()));
    let writer = {
        let (stop, written) = (stop.clone(), written.clone());
        let js = jetstream::new(app_client(&app_urls, &ca.cert_path()).await);
        tokio::spawn(async move {
            let mut id = 0u64;
            let mut failing_since: Option<Instant> = None;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let publish = jetstream::message::PublishMessage::build()
                    .payload(id.to_string().into())
                    .message_id(id.to_string());
                let acked = match js.send_publish("orders.new", publish).await {
                    Ok(ack) => tokio::time::timeout(Duration::from_secs(2), ack)
                        .await
                        .is_ok_and(|a| a.is_ok()),
                    Err(_) => false,
                };
                if acked {
                    {
                        let mut w = written.lock().unwrap();
                        w.acked.insert(id);
                        if let Some(since) = failing_since.take() {
                            w.windows.push(since.elapsed());
                        }
                    }
                    id += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                } else {
                    // The same id again: the stream drops a repeat of a write that did land.
                    failing_since.get_or_insert_with(Instant::now);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        })
    };
    let received = Arc::new(Mutex::new(Received::default()));
    let consumer = {
        let (stop, received) = (stop.clone(), received.clone());
        let js = jetstream::new(app_client(&app_urls, &ca.cert_path()).await);
        tokio::spawn(async move {
            let mut idle_after_stop = 0;
            loop {
                let Ok(stream) = js.get_stream("ORDERS").await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let Ok(billing) = stream.get_consumer::<pull::Config>("billing").await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let Ok(mut batch) = billing
                    .fetch()
                    .max_messages(50)
                    .expires(Duration::from_millis(500))
                    .messages()
                    .await
                else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let mut got = 0;
                while let Some(Ok(message)) = batch.next().await {
                    let id: u64 = std::str::from_utf8(&message.payload)
                        .unwrap()
                        .parse()
                        .unwrap();
                    // An application that must not process a message twice remembers the
                    // last stream sequence it processed: JetStream redelivers a message
                    // whose acknowledgement it lost (which a move can do), under the same
                    // stream sequence.
                    let seq = message.info().map(|i| i.stream_sequence).unwrap_or(0);
                    {
                        let mut r = received.lock().unwrap();
                        if seq > r.last_seq {
                            r.last_seq = seq;
                            r.processed.push(id);
                        } else {
                            r.redelivered += 1;
                        }
                    }
                    let _ = message.double_ack().await;
                    got += 1;
                }
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    idle_after_stop = if got == 0 { idle_after_stop + 1 } else { 0 };
                    // Longer than `ack_wait`: a lost delivery comes again meanwhile.
                    if idle_after_stop >= 8 {
                        return;
                    }
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The new members join the old ones (routes to all six), tagged with the target, one
    // at a time as the controller starts them (NATS's advice): three fresh members
    // started at once can elect a meta leader of their own beside the old one, and a
    // split meta group answers listings and placements from either side.
    let mut new: Vec<Node> = Vec::new();
    for i in 3..6 {
        let node = spawn(context(dir.path(), &ca, &ports, i, &every));
        wait_ready(&node, &ca_pem).await;
        new.push(node);
    }
    let new_members: BTreeSet<String> = new
        .iter()
        .map(|n| n.ctx.membership.member_name.clone().unwrap())
        .collect();
    // The platform asks through a member that has been in the cluster all along: a member
    // that joined a moment ago may not know the streams yet.
    let platform = connect(&old[0].url(), &ca.cert_path(), None).await.unwrap();
    let began = Instant::now();
    // The controller's step, repeated until done: place the streams (asked again each
    // time, as a listing can come back short while the members change), until every
    // stream is on the new members and the old members report holding nothing.
    let sys = connect(&new[0].url(), &ca.cert_path(), Some(PASSWORD))
        .await
        .unwrap();
    let old_members: Vec<String> = (0..3).map(dns_name).collect();
    // What each round saw, for the failure message: nats-server's answers during
    // membership changes are what this test probes.
    let mut rounds: Vec<String> = Vec::new();
    loop {
        let round = data_round(
            &platform,
            &sys,
            &network_tag("target"),
            &new_members,
            &old_members,
        )
        .await;
        let reports = member_reports(&sys, |heard| heard.len() >= 6).await;
        rounds.push(format!(
            "{:.1}s {round:?} members {reports:?}",
            began.elapsed().as_secs_f64()
        ));
        if matches!(round, Ok(None)) {
            break;
        }
        if began.elapsed() > Duration::from_secs(90) {
            panic!(
                "the stream never left the old members:\n{}\n{}",
                rounds.join("\n"),
                logs(old.iter().chain(&new))
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Placed because it was asked to be: its placement names the target's tag.
    let config = jetstream::new(platform.clone())
        .get_stream("ORDERS")
        .await
        .unwrap()
        .cached_info()
        .config
        .clone();
    assert_eq!(
        config.placement.map(|p| p.tags),
        Some(vec![network_tag("target")]),
        "the stream was asked onto the target's members:\n{}",
        rounds.join("\n")
    );
    let placed_in = began.elapsed();

    // The old members leave the meta group, then stop.
    retire_members(&sys, &old_members).await.unwrap();
    let switched = Instant::now();
    for node in &mut old {
        node.stop().await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.await.unwrap();
    tokio::time::timeout(Duration::from_secs(60), consumer)
        .await
        .expect("the consumer drained the stream")
        .unwrap();

    let written = std::mem::take(&mut *written.lock().unwrap());
    let received = std::mem::take(&mut *received.lock().unwrap());
    let unique: BTreeSet<u64> = received.processed.iter().copied().collect();
    let lost: Vec<_> = written.acked.difference(&unique).collect();
    if !lost.is_empty() {
        // Whether the stream lost the write, or only its delivery went missing.
        let js = jetstream::new(connect(&new[1].url(), &ca.cert_path(), None).await.unwrap());
        let mut orders = js.get_stream("ORDERS").await.unwrap();
        let state = orders.info().await.map(|i| i.state.clone());
        let mut held = Vec::new();
        for seq in 1..=received.last_seq + 50 {
            if let Ok(m) = orders.get_raw_message(seq).await {
                let id = String::from_utf8_lossy(&m.payload).to_string();
                if lost.iter().any(|l| l.to_string() == id) {
                    held.push((seq, id));
                }
            }
        }
        panic!(
            "acknowledged writes never delivered: {lost:?}; {} acked (max {:?}), {} processed \
             (last seq {}), {} skipped as repeats; the stream: {state:?}, holds the lost ones \
             at {held:?}",
            written.acked.len(),
            written.acked.last(),
            received.processed.len(),
            received.last_seq,
            received.redelivered,
        );
    }
    assert_eq!(
        received.processed,
        (0..received.processed.len() as u64).collect::<Vec<_>>(),
        "each message processed once, in the order written, with no gap"
    );
    assert!(
        written.acked.len() > 100,
        "the writer kept writing: {}",
        written.acked.len()
    );

    // JetStream answers with the old members gone: the meta group kept its quorum.
    let after = jetstream::new(connect(&new[1].url(), &ca.cert_path(), None).await.unwrap());
    let mut info = after.get_stream("ORDERS").await.unwrap();
    let info = info.info().await.unwrap().clone();
    assert_eq!(info.state.messages as usize, written.acked.len());
    let cluster = info.cluster.clone().unwrap();
    let mut holders: BTreeSet<String> = cluster.replicas.iter().map(|r| r.name.clone()).collect();
    holders.insert(cluster.leader.clone().unwrap());
    assert_eq!(
        holders, new_members,
        "the stream lives on the new members only"
    );
    // The meta group elects its leader among the new members first.
    let mut audit = Err(String::new());
    for _ in 0..60 {
        audit = match after.get_stream("ORDERS").await {
            Ok(orders) => orders
                .create_consumer(pull::Config {
                    durable_name: Some("audit".into()),
                    ..Default::default()
                })
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if audit.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    audit.expect("a consumer is created with only the new members left");

    let worst = written.windows.iter().max().copied().unwrap_or_default();
    println!(
        "move data: placed on the new members in {placed_in:?}; {} writes acknowledged; \
         writer error windows {:?} (worst {worst:?}); {} deliveries repeated by JetStream \
         (skipped by sequence); old members stopped {:?} before the end",
        written.acked.len(),
        written.windows,
        received.redelivered,
        switched.elapsed()
    );
    for node in &mut new {
        node.stop().await;
    }
}
