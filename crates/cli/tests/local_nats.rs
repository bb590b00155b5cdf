//! The real engine on the `local` provider: a three-node NATS JetStream cluster, each node
//! in its own namespace with a certificate from the installation CA. A client on a peered
//! lab host follows the published connection string (DNS names, TLS verified against the
//! downloaded CA), writes to a replicated stream through one node and reads it back
//! through another.

mod local_support;
mod nats_client;
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use isthmus_connect::pki::tls::client_config_trusting;
use isthmus_driver_local::probe;
use local_support::{eventually, LocalLab};
use nats_client::{base64, Nats};
use serde_json::Value;
use support::{id_of, WAIT_TIMEOUT};

const HOST: &str = "customer/app";

/// `host:port` of every `tls://` URI in the published connection string.
fn connection_targets(cluster: &Value) -> Vec<(String, u16)> {
    let addresses = cluster["addresses"].as_array().expect("addresses");
    let string = addresses
        .iter()
        .find(|a| a["name"] == "connection_string")
        .and_then(|a| a["uri"].as_str())
        .unwrap_or_else(|| panic!("no connection_string in {addresses:?}"));
    string
        .split(',')
        .map(|uri| {
            let rest = uri.strip_prefix("tls://").expect("a tls:// URI");
            let (host, port) = rest.rsplit_once(':').expect("host:port");
            (host.to_string(), port.parse().expect("a port"))
        })
        .collect()
}

/// The lab host's view of `name` (its resolver is the lab VPC's platform DNS).
fn resolve_one(lab: &LocalLab, name: &str) -> Option<String> {
    let run = lab.lab_exec(HOST, &["getent", "ahostsv4", name]);
    (run.code == Some(0))
        .then(|| run.stdout.split_whitespace().next().map(str::to_string))
        .flatten()
}

#[test]
fn a_client_on_the_lab_host_writes_through_one_nats_node_and_reads_through_another() {
    let mut lab = LocalLab::start("isthn1");
    lab.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.0.10")]);
    let network = lab.project_and_network("172.29.95.0/24");
    let cluster = lab.cli.json(&format!(
        "cluster create events --network {network} --engine nats \
         --topology three-node-multi-zone --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(cluster["status"], "running", "{cluster:#}");
    lab.peering(&network, "customer", &["172.16.0.0/16"]);
    let ca_file = lab.sandbox.home.path().join("isthmus-ca.pem");
    lab.cli.ok(&format!("ca get -f {}", ca_file.display()));
    let tls = client_config_trusting(&std::fs::read_to_string(&ca_file).unwrap()).unwrap();
    let ns = lab.names.lab_host_ns("customer", "app");

    let targets = connection_targets(&cluster);
    assert_eq!(targets.len(), 3, "{targets:?}");
    let connect = |(host, port): &(String, u16)| -> anyhow::Result<Nats> {
        let ip =
            resolve_one(&lab, host).ok_or_else(|| anyhow::anyhow!("{host} does not resolve"))?;
        let addr = SocketAddr::new(ip.parse()?, *port);
        let tcp = probe::connect(&ns, addr, Duration::from_secs(5))?;
        Nats::handshake(tcp, host, tls.clone())
    };

    // A stream replicated on all three nodes, created and written through the first.
    let mut writer = None;
    eventually("JetStream accepts a replicated stream", || {
        let Ok(mut nats) = connect(&targets[0]) else {
            return false;
        };
        let created = nats.request(
            "$JS.API.STREAM.CREATE.ORDERS",
            br#"{"name":"ORDERS","subjects":["orders.>"],"num_replicas":3,"storage":"file"}"#,
        );
        let ok = created.is_ok_and(|r| {
            let reply: Value = serde_json::from_slice(&r).unwrap_or_default();
            reply["config"]["name"] == "ORDERS" || reply["error"]["err_code"] == 10058
            // already exists (an earlier attempt)
        });
        writer = ok.then_some(nats);
        ok
    });
    let mut writer = writer.expect("a connection to the first node");
    let ack: Value = serde_json::from_slice(
        &writer
            .request("orders.new", b"order 1 from the lab")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(ack["stream"], "ORDERS", "{ack}");
    let seq = ack["seq"].as_u64().expect("a sequence number");

    // Read back through another node, verified as that node.
    let mut reader = connect(&targets[2]).expect("connect to the third node");
    let got: Value = serde_json::from_slice(
        &reader
            .request(
                "$JS.API.STREAM.MSG.GET.ORDERS",
                format!(r#"{{"seq":{seq}}}"#).as_bytes(),
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(got["message"]["subject"], "orders.new", "{got}");
    assert_eq!(
        got["message"]["data"],
        base64(b"order 1 from the lab"),
        "{got}"
    );

    // A name the certificate does not carry fails verification.
    let (host, port) = &targets[1];
    let ip = resolve_one(&lab, host).expect("the second node resolves");
    let tcp = probe::connect(
        &ns,
        SocketAddr::new(ip.parse().unwrap(), *port),
        Duration::from_secs(5),
    )
    .unwrap();
    // The handshake exchanges CONNECT and PING/PONG, so TLS has finished (or failed) by then.
    let refused = Nats::handshake(tcp, &format!("not-{host}"), tls.clone())
        .err()
        .map(|e| format!("{e:#}"));
    assert!(
        refused
            .as_deref()
            .is_some_and(|e| e.contains("certificate")),
        "a client verifying not-{host} must reject the certificate: {refused:?}"
    );

    lab.cli.ok(&format!(
        "cluster delete {} --wait --timeout {WAIT_TIMEOUT}",
        id_of(&cluster)
    ));
}
