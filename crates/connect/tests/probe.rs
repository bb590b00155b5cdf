//! The probe engine over real TLS on loopback: it tells clients who it is, and a renewed
//! certificate is served without a restart.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use isthmus_connect::pki::{cert_info, Ca, NodeIdentity};
use isthmus_connect::probe::{ProbeConfig, ProbeIdentity, ProbeReply, ProbeServer};
use support::tls::{connect, peer_cert_pem};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const NODE: &str = "c0ffee00000000000000-1.isthmus.internal";
const CLUSTER: &str = "c0ffee00000000000000.isthmus.internal";

struct RunningProbe {
    _dir: tempfile::TempDir,
    ca: Ca,
    addr: SocketAddr,
    cert_path: PathBuf,
    key_path: PathBuf,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for RunningProbe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn identity() -> NodeIdentity {
    NodeIdentity {
        node_dns: NODE.into(),
        cluster_dns: CLUSTER.into(),
        public_dns: None,
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

async fn start_probe(lifetime: Duration) -> RunningProbe {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::load_or_create(&dir.path().join("ca")).unwrap();
    let cert_path = dir.path().join("node.pem");
    let key_path = dir.path().join("node.key");
    ca.issue_node_cert(&identity(), lifetime)
        .unwrap()
        .write_to(&cert_path, &key_path)
        .unwrap();
    let server = ProbeServer::bind(ProbeConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        cert_path: cert_path.clone(),
        key_path: key_path.clone(),
        identity: ProbeIdentity {
            cluster_id: "c0ffee00000000000000".into(),
            node_index: 1,
            names: vec![NODE.into(), CLUSTER.into()],
        },
    })
    .await
    .unwrap();
    let addr = server.local_addrs()[0];
    RunningProbe {
        _dir: dir,
        ca,
        addr,
        cert_path,
        key_path,
        task: tokio::spawn(server.serve()),
    }
}

async fn ask<S>(stream: &mut BufReader<S>) -> ProbeReply
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    stream.get_mut().write_all(b"who\n").await.unwrap();
    let mut line = String::new();
    stream.read_line(&mut line).await.unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
}

#[tokio::test]
async fn a_client_verifying_against_the_ca_learns_the_node_identity() {
    let probe = start_probe(Duration::from_secs(3600)).await;
    let stream = connect(probe.addr, probe.ca.cert_pem(), NODE)
        .await
        .unwrap();
    let mut stream = BufReader::new(stream);
    let reply = ask(&mut stream).await;
    assert_eq!(reply.engine, "probe");
    assert_eq!(reply.identity.cluster_id, "c0ffee00000000000000");
    assert_eq!(reply.identity.node_index, 1);
    assert_eq!(
        reply.identity.names,
        vec![NODE.to_string(), CLUSTER.to_string()]
    );
    // The same connection keeps answering.
    assert_eq!(ask(&mut stream).await, reply);
}

#[tokio::test]
async fn the_cluster_name_verifies_too_but_another_name_does_not() {
    let probe = start_probe(Duration::from_secs(3600)).await;
    assert!(connect(probe.addr, probe.ca.cert_pem(), CLUSTER)
        .await
        .is_ok());
    let wrong = connect(
        probe.addr,
        probe.ca.cert_pem(),
        "c0ffee00000000000000-2.isthmus.internal",
    )
    .await;
    let error = wrong.expect_err("another node's name must not verify");
    assert!(error.to_string().contains("not valid for name"), "{error}");
}

#[tokio::test]
async fn an_http_get_gets_the_identity_as_an_http_response() {
    let probe = start_probe(Duration::from_secs(3600)).await;
    let mut stream = connect(probe.addr, probe.ca.cert_pem(), NODE)
        .await
        .unwrap();
    stream
        .write_all(format!("GET / HTTP/1.1\r\nHost: {NODE}\r\nAccept: */*\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP head and body");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("Content-Type: application/json"), "{head}");
    let reply: ProbeReply = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(reply.identity.node_index, 1);
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let probe = start_probe(Duration::from_secs(3600)).await;
    let first = connect(probe.addr, probe.ca.cert_pem(), NODE)
        .await
        .unwrap();
    let old = cert_info(&peer_cert_pem(&first)).unwrap();
    let mut open_before_renewal = BufReader::new(first);

    let renewed = probe
        .ca
        .issue_node_cert(&identity(), Duration::from_secs(7200))
        .unwrap();
    renewed.write_to(&probe.cert_path, &probe.key_path).unwrap();
    let new = cert_info(&renewed.cert_pem).unwrap();
    assert_ne!(old.serial, new.serial);

    // The files are checked every second; poll (bounded) until a new handshake sees them.
    let mut seen = old.clone();
    for _ in 0..100 {
        let stream = connect(probe.addr, probe.ca.cert_pem(), NODE)
            .await
            .unwrap();
        seen = cert_info(&peer_cert_pem(&stream)).unwrap();
        if seen.serial == new.serial {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen.serial, new.serial);
    assert_eq!(seen.not_after, renewed.not_after);
    // A connection made before the renewal is still served.
    assert_eq!(ask(&mut open_before_renewal).await.identity.node_index, 1);
    assert!(!probe.task.is_finished(), "the probe kept running");
}

#[tokio::test]
async fn a_broken_certificate_file_leaves_the_previous_one_in_service() {
    let probe = start_probe(Duration::from_secs(3600)).await;
    let before = connect(probe.addr, probe.ca.cert_pem(), NODE)
        .await
        .unwrap();
    let serial = cert_info(&peer_cert_pem(&before)).unwrap().serial;
    std::fs::write(&probe.cert_path, "not a certificate").unwrap();
    // Give the watcher its chance to (fail to) reload.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = connect(probe.addr, probe.ca.cert_pem(), NODE)
        .await
        .unwrap();
    assert_eq!(cert_info(&peer_cert_pem(&after)).unwrap().serial, serial);
}
