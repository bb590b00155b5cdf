//! Connecting to a cluster, through the real binary: the CA to trust (`isthmus ca get`),
//! the URIs to connect with (`isthmus cluster addresses`), and the `probe` engine's node
//! process started with exactly the command line the controller renders for it.

mod support;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use isthmus_connect::engines::{probe_launch, LaunchContext};
use isthmus_connect::pki::tls::client_config_trusting;
use isthmus_connect::pki::{Ca, NodeIdentity};
use isthmus_connect::probe::ProbeReply;
use serde_json::Value;
use support::{id_of, Sandbox, Server, BIN, PATIENCE};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

#[test]
fn ca_get_prints_or_saves_the_installation_ca_for_members_only() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let cli = admin.in_project(&id_of(&admin.json("project create tls")));
    let stored = std::fs::read_to_string(sandbox.data.path().join("ca/ca.pem"))
        .expect("the server created its CA in <data-dir>/ca");

    let printed = cli.ok("ca get");
    assert_eq!(printed, stored);
    assert!(printed.starts_with("-----BEGIN CERTIFICATE-----"));

    let file = sandbox.home.path().join("isthmus-ca.pem");
    let written = cli.ok(&format!("ca get -f {}", file.display()));
    assert_eq!(written, "", "with -f nothing goes to stdout");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), stored);

    // A token of another project learns nothing about this one.
    let other = admin.in_project(&id_of(&admin.json("project create elsewhere")));
    let secret = other.json("token create reader --role viewer")["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let outsider = cli.with_token(&secret);
    let stderr = outsider.fails("ca get");
    assert!(stderr.contains("not found"), "{stderr}");
}

#[test]
fn cluster_addresses_lists_the_uris_a_client_connects_with() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let cli = admin.in_project(&id_of(&admin.json("project create apps")));
    let network =
        cli.json("network create prod --provider aws --region us-east-1 --cidr 10.20.0.0/16");
    let cluster = cli.json(&format!(
        "cluster create events --network {} --engine nats --topology three-node-multi-zone",
        id_of(&network)
    ));
    let id = id_of(&cluster);

    // Scripts get what the API holds, each address labelled with where it works from
    // (all private here: public access is off).
    let as_json = cli.json(&format!("cluster addresses {id}"));
    let addresses = as_json.as_array().expect("a list of addresses");
    assert!(!addresses.is_empty());
    let unlabelled: Vec<Value> = addresses
        .iter()
        .map(|a| {
            assert_eq!(a["scope"], "private", "{a}");
            serde_json::json!({ "name": a["name"], "uri": a["uri"] })
        })
        .collect();
    assert_eq!(Value::Array(unlabelled), cluster["addresses"]);

    // People get one line per URI under SCOPE, NAME and URI.
    let table = cli.ok(&format!("cluster addresses {id}"));
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["SCOPE", "NAME", "URI"]);
    let rows: Vec<(String, String)> = lines
        .map(|l| {
            let mut cells = l.split_whitespace();
            assert_eq!(cells.next(), Some("private"), "{l}");
            let name = cells.next().unwrap().to_string();
            (name, cells.next().unwrap().to_string())
        })
        .collect();
    let expected: Vec<(String, String)> = addresses
        .iter()
        .map(|a| (text(&a["name"]), text(&a["uri"])))
        .collect();
    assert_eq!(rows, expected);
    // Every URI reaches the cluster by its platform DNS name.
    let dns_name = text(&cluster["dns_name"]);
    assert!(
        rows.iter().any(|(_, uri)| uri.contains(&dns_name)),
        "{table}"
    );

    let yaml = cli.ok(&format!("cluster addresses {id} -o yaml"));
    assert!(yaml.contains(&format!("uri: {}", expected[0].1)), "{yaml}");
}

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not text: {v}"))
        .to_string()
}

/// The node process; killed when the test ends, however it ends.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

fn node_context(dir: &Path, port: u16) -> LaunchContext {
    LaunchContext {
        cluster_id: "c0ffee".into(),
        node_index: 1,
        node_name: "c0ffee-1.isthmus.internal".into(),
        cluster_name: "c0ffee.isthmus.internal".into(),
        node_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        data_dir: dir.to_path_buf(),
        cert: dir.join("node.pem"),
        key: dir.join("node.key"),
        ca: dir.join("ca/ca.pem"),
        peers: Vec::new(),
        ports: BTreeMap::from([("https".to_string(), port)]),
        membership: Default::default(),
    }
}

#[tokio::test]
async fn probe_serves_its_identity_over_tls_with_the_controllers_command_line() {
    let dir = tempfile::tempdir().expect("node dir");
    let ctx = node_context(dir.path(), free_port());
    let ca = Ca::load_or_create(&dir.path().join("ca")).expect("CA");
    ca.issue_node_cert(
        &NodeIdentity {
            node_dns: ctx.node_name.clone(),
            cluster_dns: ctx.cluster_name.clone(),
            public_dns: None,
            ip: ctx.node_ip,
        },
        Duration::from_secs(3600),
    )
    .expect("issue node certificate")
    .write_to(&ctx.cert, &ctx.key)
    .expect("write node certificate");

    let launch = probe_launch(Path::new(BIN)).render(&ctx).expect("render");
    let _node = Node(
        Command::new(&launch.program)
            .args(&launch.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn isthmus probe"),
    );
    // The controller's own readiness check: a handshake verified with the node name.
    let deadline = Instant::now() + PATIENCE;
    while let Err(error) = launch.ready.check(ca.cert_pem()).await {
        assert!(
            Instant::now() < deadline,
            "the probe never became ready: {error:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let reply = ask_identity(launch.ready.addr, &ctx.node_name, ca.cert_pem()).await;
    assert_eq!(reply.engine, "probe");
    assert_eq!(reply.identity.cluster_id, ctx.cluster_id);
    assert_eq!(reply.identity.node_index, ctx.node_index);
    assert_eq!(reply.identity.names, [ctx.node_name, ctx.cluster_name]);
}

/// One request line over TLS (verified against the CA as `server_name`), one JSON line back.
async fn ask_identity(addr: SocketAddr, server_name: &str, ca_pem: &str) -> ProbeReply {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let connector = TlsConnector::from(client_config_trusting(ca_pem).expect("client config"));
    let name = ServerName::try_from(server_name.to_string()).expect("server name");
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
    tls.write_all(b"who\n").await.expect("send");
    let mut line = String::new();
    BufReader::new(tls)
        .read_line(&mut line)
        .await
        .expect("read identity");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not an identity ({e}): {line}"))
}
