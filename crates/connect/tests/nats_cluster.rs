//! A real three-node NATS cluster (nats-server from Debian) on loopback, started from the
//! engine's launch recipe with CA-issued certificates: TLS everywhere, routes between all
//! members, JetStream on, and a message published on one node arrives on another.

mod support;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use isthmus_connect::engines::{nats_launch, CertRenewal, LaunchContext, Peer, RenderedLaunch};
use isthmus_connect::pki::tls::client_config_trusting;
use isthmus_connect::pki::{cert_info, Ca, NodeIdentity};
use rustls::pki_types::ServerName;
use support::tls::https_get;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Child;
use tokio_rustls::TlsConnector;

const CLUSTER_ID: &str = "c0ffee00000000000000";
const ZONE: &str = "isthmus.internal";
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Bounded waits: a healthy cluster forms in a few seconds.
const POLLS: usize = 150;
const POLL_EVERY: Duration = Duration::from_millis(200);

fn nats_server() -> PathBuf {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("nats-server"))
        .find(|p| p.is_file());
    found.expect(
        "nats-server is not installed (scripts/setup installs it: apt-get install nats-server)",
    )
}

fn node_name(n: u32) -> String {
    format!("{CLUSTER_ID}-{n}.{ZONE}")
}

/// Three free loopback ports per node (client, cluster, monitor), all held until chosen.
fn free_ports(nodes: u32) -> Vec<BTreeMap<String, u16>> {
    let held: Vec<_> = (0..nodes * 3)
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

struct Node {
    ctx: LaunchContext,
    launch: RenderedLaunch,
    process: Child,
}

fn start_node(ctx: LaunchContext) -> Node {
    std::fs::create_dir_all(&ctx.data_dir).unwrap();
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
        process,
    }
}

fn contexts(dir: &Path, ca: &Ca) -> Vec<LaunchContext> {
    let ports = free_ports(3);
    (0..3u32)
        .map(|n| {
            let data_dir = dir.join(format!("node-{n}"));
            std::fs::create_dir_all(&data_dir).unwrap();
            let (cert, key) = (data_dir.join("node.pem"), data_dir.join("node.key"));
            ca.issue_node_cert(
                &NodeIdentity {
                    node_dns: node_name(n),
                    cluster_dns: format!("{CLUSTER_ID}.{ZONE}"),
                    public_dns: None,
                    ip: LOOPBACK,
                },
                Duration::from_secs(3600),
            )
            .unwrap()
            .write_to(&cert, &key)
            .unwrap();
            LaunchContext {
                cluster_id: CLUSTER_ID.into(),
                node_index: n,
                node_name: node_name(n),
                cluster_name: format!("{CLUSTER_ID}.{ZONE}"),
                node_ip: LOOPBACK,
                data_dir,
                cert,
                key,
                ca: ca.cert_path(),
                peers: (0..3u32)
                    .filter(|p| *p != n)
                    .map(|p| Peer {
                        node_name: node_name(p),
                        ip: LOOPBACK,
                        ports: ports[p as usize].clone(),
                    })
                    .collect(),
                ports: ports[n as usize].clone(),
                membership: Default::default(),
            }
        })
        .collect()
}

fn log_of(node: &Node) -> String {
    std::fs::read_to_string(node.ctx.data_dir.join("nats.log")).unwrap_or_default()
}

async fn wait_ready(node: &Node, ca_pem: &str) {
    let mut last = None;
    for _ in 0..POLLS {
        match node.launch.ready.check(ca_pem).await {
            Ok(()) => return,
            Err(error) => last = Some(format!("{error:#}")),
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    panic!(
        "{} never became ready: {last:?}\n{}",
        node.ctx.node_name,
        log_of(node)
    );
}

async fn monitor_json(node: &Node, ca_pem: &str, path: &str) -> serde_json::Value {
    let addr = node.ctx.addr("monitor").unwrap();
    let (status, body) = https_get(addr, ca_pem, &node.ctx.node_name, path)
        .await
        .unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// A NATS client connection: INFO arrives in plain text, then the client upgrades to TLS.
async fn nats_connect(
    addr: SocketAddr,
    ca_pem: &str,
    server_name: &str,
) -> BufReader<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut info = Vec::new();
    loop {
        let byte = tcp.read_u8().await.unwrap();
        info.push(byte);
        if byte == b'\n' {
            break;
        }
    }
    let info = String::from_utf8(info).unwrap();
    assert!(info.starts_with("INFO "), "{info}");
    assert!(
        info.contains("\"tls_required\":true"),
        "clients must use TLS: {info}"
    );
    let connector = TlsConnector::from(client_config_trusting(ca_pem).unwrap());
    let name = ServerName::try_from(server_name.to_string()).unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("TLS to NATS");
    tls.write_all(
        b"CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":true}\r\nPING\r\n",
    )
    .await
    .unwrap();
    let mut stream = BufReader::new(tls);
    assert_eq!(read_line(&mut stream).await, "PONG");
    stream
}

async fn read_line<S: tokio::io::AsyncRead + Unpin>(stream: &mut BufReader<S>) -> String {
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_line(&mut line))
        .await
        .expect("NATS answered")
        .unwrap();
    line.trim_end().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nats_nodes_form_a_tls_cluster_with_jetstream() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::load_or_create(&dir.path().join("ca")).unwrap();
    let ca_pem = ca.cert_pem().to_string();
    let nodes: Vec<Node> = contexts(dir.path(), &ca)
        .into_iter()
        .map(start_node)
        .collect();
    for node in &nodes {
        wait_ready(node, &ca_pem).await;
    }

    // Every member routes to the two others.
    for node in &nodes {
        let mut routes = 0;
        for _ in 0..POLLS {
            routes = monitor_json(node, &ca_pem, "/routez").await["num_routes"]
                .as_u64()
                .unwrap_or(0);
            if routes == 2 {
                break;
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        assert_eq!(routes, 2, "{}\n{}", node.ctx.node_name, log_of(node));
    }

    // JetStream runs as one three-member meta cluster.
    let mut cluster_size = 0;
    for _ in 0..POLLS {
        let jsz = monitor_json(&nodes[0], &ca_pem, "/jsz").await;
        cluster_size = jsz["meta_cluster"]["cluster_size"].as_u64().unwrap_or(0);
        if cluster_size == 3 && jsz["meta_cluster"]["leader"].is_string() {
            break;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    assert_eq!(cluster_size, 3);

    // A message published on node 2 reaches a subscriber on node 0.
    let client_addr = |n: usize| nodes[n].ctx.addr("client").unwrap();
    let mut subscriber = nats_connect(client_addr(0), &ca_pem, &node_name(0)).await;
    subscriber
        .get_mut()
        .write_all(b"SUB greetings 1\r\nPING\r\n")
        .await
        .unwrap();
    assert_eq!(read_line(&mut subscriber).await, "PONG");
    let mut publisher = nats_connect(client_addr(2), &ca_pem, &node_name(2)).await;
    let mut received = None;
    for _ in 0..POLLS {
        // Interest crosses the route asynchronously: publish until it has.
        publisher
            .get_mut()
            .write_all(b"PUB greetings 5\r\nhello\r\nPING\r\n")
            .await
            .unwrap();
        assert_eq!(read_line(&mut publisher).await, "PONG");
        let mut line = String::new();
        if let Ok(Ok(_)) = tokio::time::timeout(POLL_EVERY, subscriber.read_line(&mut line)).await {
            received = Some((
                line.trim_end().to_string(),
                read_line(&mut subscriber).await,
            ));
            break;
        }
    }
    assert_eq!(
        received,
        Some(("MSG greetings 1 5".to_string(), "hello".to_string()))
    );
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_cannot_reach_nats() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::load_or_create(&dir.path().join("ca")).unwrap();
    let stranger = Ca::load_or_create(&dir.path().join("stranger")).unwrap();
    let mut ctx = contexts(dir.path(), &ca).remove(0);
    ctx.peers.clear(); // a single node
    let node = start_node(ctx);
    wait_ready(&node, ca.cert_pem()).await;
    let monitor = node.ctx.addr("monitor").unwrap();
    let refused = https_get(monitor, stranger.cert_pem(), &node.ctx.node_name, "/varz").await;
    assert!(
        refused.is_err(),
        "verification against another CA must fail"
    );
    let wrong_name = https_get(monitor, ca.cert_pem(), &node_name(1), "/varz").await;
    assert!(wrong_name.is_err(), "another node's name must fail");
}

#[tokio::test]
async fn a_renewed_certificate_is_picked_up_on_sighup_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::load_or_create(&dir.path().join("ca")).unwrap();
    let mut ctx = contexts(dir.path(), &ca).remove(0);
    ctx.peers.clear();
    let mut node = start_node(ctx);
    wait_ready(&node, ca.cert_pem()).await;
    let monitor = node.ctx.addr("monitor").unwrap();
    let name = node.ctx.node_name.clone();
    let serial_now = || async {
        let stream = support::tls::connect(monitor, ca.cert_pem(), &name)
            .await
            .unwrap();
        cert_info(&support::tls::peer_cert_pem(&stream))
            .unwrap()
            .serial
    };
    let before = serial_now().await;

    let renewed = ca
        .issue_node_cert(
            &NodeIdentity {
                node_dns: node_name(0),
                cluster_dns: format!("{CLUSTER_ID}.{ZONE}"),
                public_dns: None,
                ip: LOOPBACK,
            },
            Duration::from_secs(7200),
        )
        .unwrap();
    renewed.write_to(&node.ctx.cert, &node.ctx.key).unwrap();
    assert_eq!(node.launch.on_cert_renewal, CertRenewal::SignalHup);
    let pid = node.process.id().expect("nats-server is running");
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    let expected = cert_info(&renewed.cert_pem).unwrap().serial;
    let mut seen = before.clone();
    for _ in 0..POLLS {
        seen = serial_now().await;
        if seen == expected {
            break;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    assert_ne!(before, expected);
    assert_eq!(seen, expected, "{}", log_of(&node));
    let exited = node.process.try_wait().unwrap();
    assert!(
        exited.is_none(),
        "the same process kept serving: {exited:?}"
    );
    wait_ready(&node, ca.cert_pem()).await;
}
