//! The real engine on the `local` provider: a three-node NATS JetStream cluster, each node
//! in its own namespace with a certificate from the installation CA. A client on a peered
//! lab host — the official NATS client, `async-nats` — follows the published connection
//! string (DNS names resolved by the platform DNS, TLS verified against the downloaded
//! CA), writes to a replicated stream through one node and reads it back through another.

mod lab_host;
mod local_support;
mod support;

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, stream};
use async_nats::ConnectOptions;
use isthmus_connect::pki::tls::client_config_trusting;
use local_support::{eventually, LocalLab};
use serde_json::Value;
use support::{id_of, WAIT_TIMEOUT};
use tokio_rustls::rustls::ClientConfig;

const STREAM: &str = "ORDERS";
const ORDER: &[u8] = b"order 1 from the lab";

/// The `tls://host:port` URIs of the published connection string.
fn connection_uris(cluster: &Value) -> Vec<String> {
    let addresses = cluster["addresses"].as_array().expect("addresses");
    let string = addresses
        .iter()
        .find(|a| a["name"] == "connection_string")
        .and_then(|a| a["uri"].as_str())
        .unwrap_or_else(|| panic!("no connection_string in {addresses:?}"));
    string.split(',').map(str::to_string).collect()
}

/// A client of the node at `uri` alone (not failing over to the servers the cluster
/// advertises), which verifies the node as the URI's host name with `tls`.
async fn connect(uri: &str, tls: ClientConfig) -> anyhow::Result<async_nats::Client> {
    ConnectOptions::new()
        .require_tls(true)
        .tls_client_config(tls)
        .ignore_discovered_servers()
        .connection_timeout(Duration::from_secs(5))
        .connect(uri)
        .await
        .with_context(|| format!("connect to {uri}"))
}

/// Creates the test's stream through the node at `uri`, replicated on three nodes (or
/// finds it, made by an earlier attempt).
async fn create_replicated_stream(uri: String, tls: ClientConfig) -> anyhow::Result<()> {
    let js = jetstream::new(connect(&uri, tls).await?);
    js.get_or_create_stream(stream::Config {
        name: STREAM.to_string(),
        subjects: vec!["orders.>".to_string()],
        num_replicas: 3,
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .context("create the stream")?;
    Ok(())
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
    let tls = ClientConfig::clone(&tls);
    let ns = lab.names.lab_host_ns("customer", "app");

    let uris = connection_uris(&cluster);
    assert_eq!(uris.len(), 3, "{uris:?}");
    assert!(uris.iter().all(|u| u.starts_with("tls://")), "{uris:?}");

    // A stream replicated on all three nodes, created through the first once the lab
    // host's peering, resolver and JetStream's meta group are all up.
    eventually(
        "the lab host creates a replicated stream through the first node",
        || {
            let (uri, tls) = (uris[0].clone(), tls.clone());
            lab_host::run(&ns, move || create_replicated_stream(uri, tls))
                .inspect_err(|e| eprintln!("not yet: {e:#}"))
                .is_ok()
        },
    );

    let (uri, tls_for_writer) = (uris[0].clone(), tls.clone());
    let (writer, ack) = lab_host::run(&ns, move || async move {
        let client = connect(&uri, tls_for_writer).await?;
        let server = client.server_info().server_name;
        let ack = jetstream::new(client)
            .publish("orders.new", ORDER.into())
            .await
            .context("publish")?
            .await
            .context("JetStream acknowledgement")?;
        Ok((server, ack))
    })
    .expect("publish through the first node");
    assert_eq!(ack.stream, STREAM, "{ack:?}");

    // Read back through the third node, verified as that node.
    let (uri, tls_for_reader, seq) = (uris[2].clone(), tls.clone(), ack.sequence);
    let (reader, replicas, message) = lab_host::run(&ns, move || async move {
        let client = connect(&uri, tls_for_reader).await?;
        let server = client.server_info().server_name;
        let mut stream = jetstream::new(client).get_stream(STREAM).await?;
        let replicas = stream.info().await?.config.num_replicas;
        let message = stream
            .get_raw_message(seq)
            .await
            .context("get the message")?;
        Ok((server, replicas, message))
    })
    .expect("read through the third node");
    assert_ne!(reader, writer, "the read must go through another node");
    assert_eq!(replicas, 3);
    assert_eq!(message.subject.as_str(), "orders.new");
    assert_eq!(&message.payload[..], ORDER);

    // A client that trusts only the system's CAs, not the installation CA, is refused.
    let uri = uris[1].clone();
    let refused = lab_host::run(&ns, move || async move {
        let untrusting = ConnectOptions::new()
            .require_tls(true)
            .ignore_discovered_servers()
            .connection_timeout(Duration::from_secs(5))
            .connect(uri.as_str())
            .await;
        Ok(untrusting.err().map(|e| e.to_string()))
    })
    .unwrap();
    assert!(
        refused
            .as_deref()
            .is_some_and(|e| e.contains("certificate")),
        "a client without the installation CA must reject the node's certificate: {refused:?}"
    );

    lab.cli.ok(&format!(
        "cluster delete {} --wait --timeout {WAIT_TIMEOUT}",
        id_of(&cluster)
    ));
}
