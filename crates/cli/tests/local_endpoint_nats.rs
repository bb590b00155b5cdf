//! A NATS client in a customer's lab VPC reaches every node of a three-node JetStream
//! cluster through a private endpoint, with no peering, on the platform's very CIDR: the
//! published connection string's node names resolve inside the VPC to the endpoint's
//! address of each node, and TLS verifies each node by its name. It writes through one node
//! and reads back through another.

mod lab_host;
mod local_support;
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, stream};
use async_nats::ConnectOptions;
use isthmus_connect::pki::tls::client_config_trusting;
use local_support::{eventually, node_ips, LocalLab};
use serde_json::Value;
use support::{id_of, WAIT_TIMEOUT};
use tokio_rustls::rustls::ClientConfig;

const ORDER: &[u8] = b"order 1 through the endpoint";

fn connection_uris(cluster: &Value) -> Vec<String> {
    let addresses = cluster["addresses"].as_array().expect("addresses");
    let string = addresses
        .iter()
        .find(|a| a["name"] == "connection_string")
        .and_then(|a| a["uri"].as_str())
        .unwrap_or_else(|| panic!("no connection_string in {addresses:?}"));
    string.split(',').map(str::to_string).collect()
}

/// A client of the node at `uri` alone, verifying it as the URI's host name.
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

#[test]
fn a_nats_client_in_the_lab_vpc_uses_every_node_through_the_endpoint_with_tls_verified() {
    let mut lab = LocalLab::start("isthe5");
    let network = lab.project_and_network("172.29.94.0/24");
    let cluster = lab.cli.json(&format!(
        "cluster create events --network {network} --engine nats \
         --topology three-node-multi-zone --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(cluster["status"], "running", "{cluster:#}");
    // The same CIDR as the platform, and the client holds node 0's address.
    let ips = node_ips(&cluster);
    lab.lab_vpc("customer", "172.29.94.0/24", &[("app", &ips[0])]);
    let service = lab.cli.json(&format!(
        "endpoint-service create events-pl --cluster {} --principal customer --no-acceptance \
         --wait --timeout {WAIT_TIMEOUT}",
        id_of(&cluster)
    ));
    let name = service["service_name"].as_str().unwrap();
    lab.cli.ok(&format!(
        "lab endpoint create customer nats --service {name}"
    ));
    eventually("the connection is available", || {
        let list = lab
            .cli
            .json(&format!("endpoint-service connections {}", id_of(&service)));
        list[0]["status"] == "available"
    });
    let ca_file = lab.sandbox.home.path().join("isthmus-ca.pem");
    lab.cli.ok(&format!("ca get -f {}", ca_file.display()));
    let tls = client_config_trusting(&std::fs::read_to_string(&ca_file).unwrap()).unwrap();
    let tls = ClientConfig::clone(&tls);
    let ns = lab.names.lab_host_ns("customer", "app");
    let uris = connection_uris(&cluster);
    assert_eq!(uris.len(), 3, "{uris:?}");

    // Every node, by the name the connection string gives, through the endpoint.
    let mut servers = BTreeSet::new();
    for uri in &uris {
        let (uri, tls) = (uri.clone(), tls.clone());
        let mut server = None;
        eventually(&format!("the lab host talks to {uri}"), || {
            let (uri, tls) = (uri.clone(), tls.clone());
            server = lab_host::run(&ns, move || async move {
                Ok(connect(&uri, tls).await?.server_info().server_name)
            })
            .inspect_err(|e| eprintln!("not yet: {e:#}"))
            .ok();
            server.is_some()
        });
        servers.insert(server.unwrap());
    }
    assert_eq!(servers.len(), 3, "three distinct nodes: {servers:?}");
    // What a node hands clients that discover the cluster: the nodes' names, which lead
    // through the endpoint here (their addresses would be the VPC's own hosts).
    let (uri, tls_d) = (uris[0].clone(), tls.clone());
    let discovered = lab_host::run(&ns, move || async move {
        Ok(connect(&uri, tls_d).await?.server_info().connect_urls)
    })
    .expect("server info");
    let advertised: BTreeSet<String> = discovered.into_iter().collect();
    let names: BTreeSet<String> = uris
        .iter()
        .map(|u| u.trim_start_matches("tls://").to_string())
        .collect();
    assert!(
        !advertised.is_empty() && advertised.is_subset(&names),
        "discovered {advertised:?}, names {names:?}"
    );

    eventually("a replicated stream through the first node", || {
        let (uri, tls) = (uris[0].clone(), tls.clone());
        lab_host::run(&ns, move || async move {
            jetstream::new(connect(&uri, tls).await?)
                .get_or_create_stream(stream::Config {
                    name: "ORDERS".into(),
                    subjects: vec!["orders.>".into()],
                    num_replicas: 3,
                    ..Default::default()
                })
                .await
                .context("create the stream")?;
            Ok(())
        })
        .inspect_err(|e| eprintln!("not yet: {e:#}"))
        .is_ok()
    });
    let (uri, tls_w) = (uris[0].clone(), tls.clone());
    let (writer, seq) = lab_host::run(&ns, move || async move {
        let client = connect(&uri, tls_w).await?;
        let server = client.server_info().server_name;
        let ack = jetstream::new(client)
            .publish("orders.new", ORDER.into())
            .await?
            .await?;
        Ok((server, ack.sequence))
    })
    .expect("publish through the first node");
    let (uri, tls_r) = (uris[2].clone(), tls.clone());
    let (reader, message) = lab_host::run(&ns, move || async move {
        let client = connect(&uri, tls_r).await?;
        let server = client.server_info().server_name;
        let stream = jetstream::new(client).get_stream("ORDERS").await?;
        Ok((server, stream.get_raw_message(seq).await?))
    })
    .expect("read through the third node");
    assert_ne!(reader, writer, "the read goes through another node");
    assert_eq!(&message.payload[..], ORDER);
}
