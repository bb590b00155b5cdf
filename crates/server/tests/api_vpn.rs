//! VPN gateways and clients through the API on a simulated cloud (aws): the gateway
//! comes up with an endpoint and key, ranges and grants are checked, a client's config
//! routes only its granted cluster's nodes, a generated private key is answered once and
//! kept nowhere, rotation keeps address and grants, and DELETE revokes.

mod support;

use std::net::Ipv4Addr;

use serde_json::{json, Value};
use support::{cluster_body, Reply, TestServer};

/// A ready aws network; its id.
async fn aws_network(s: &TestServer, p: &str, name: &str, cidr: &str) -> String {
    let net = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/networks"),
            json!({"name": name, "provider": "aws", "region": "us-east-1", "cidr_block": cidr}),
        )
        .await;
    assert_eq!(net.status, 201, "{:#}", net.body);
    net.id()
}

/// A running cluster on `network`; its body.
async fn running_cluster(s: &TestServer, p: &str, name: &str, network: &str) -> Value {
    let c = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/clusters"),
            cluster_body(name, network, "probe"),
        )
        .await;
    assert_eq!(c.status, 201, "{:#}", c.body);
    s.wait_for_status(
        &format!("/v1/projects/{p}/clusters/{}", c.id()),
        &["running"],
    )
    .await
    .body
}

fn node_ips(cluster: &Value) -> Vec<Ipv4Addr> {
    cluster["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["ip"].as_str().unwrap().parse().unwrap())
        .collect()
}

async fn gateway(s: &TestServer, p: &str, network: &str, cidr: &str) -> Reply {
    s.post(
        &s.admin,
        &format!("/v1/projects/{p}/vpn-gateways"),
        json!({"name": "laptops", "network_id": network, "client_cidr": cidr}),
    )
    .await
}

/// The config download, as text.
async fn config(s: &TestServer, path: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", s.base))
        .bearer_auth(&s.admin)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.text().await.expect("text"))
}

fn allowed_ips(config: &str) -> Vec<String> {
    let line = config
        .lines()
        .find_map(|l| l.strip_prefix("AllowedIPs = "))
        .unwrap_or_else(|| panic!("no AllowedIPs in {config}"));
    line.split(", ").map(str::to_string).collect()
}

fn covers(prefix: &str, ip: Ipv4Addr) -> bool {
    let (net, len) = prefix.split_once('/').unwrap();
    let net: Ipv4Addr = net.parse().unwrap();
    let len: u32 = len.parse().unwrap();
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(net) & mask == u32::from(ip) & mask
}

#[tokio::test]
async fn vpn_gateways_and_clients_on_a_simulated_cloud() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let net = aws_network(&s, &p, "main", "10.0.0.0/16").await;
    let other_net = aws_network(&s, &p, "other", "10.1.0.0/16").await;
    let orders = running_cluster(&s, &p, "orders", &net).await;
    let billing = running_cluster(&s, &p, "billing", &net).await;
    let elsewhere = running_cluster(&s, &p, "elsewhere", &other_net).await;

    // The gateway comes up with where to connect and its public key.
    let g = gateway(&s, &p, &net, "10.99.0.0/24").await;
    assert_eq!(g.status, 201, "{:#}", g.body);
    let gpath = format!("/v1/projects/{p}/vpn-gateways/{}", g.id());
    let ready = s.wait_for_status(&gpath, &["ready", "error"]).await.body;
    assert_eq!(ready["status"], "ready", "{ready:#}");
    let endpoint = ready["endpoint"].as_str().expect("endpoint");
    assert!(endpoint.ends_with(":51820"), "{endpoint}");
    let gateway_key = ready["public_key"]
        .as_str()
        .expect("public_key")
        .to_string();
    assert_eq!(gateway_key.len(), 44, "{gateway_key}");

    // One gateway per network; a range the network routes is refused, naming the field.
    gateway(&s, &p, &net, "10.98.0.0/24")
        .await
        .assert_status_problem(409);
    gateway(&s, &p, &other_net, "10.1.5.0/24")
        .await
        .assert_problem(422, "client_cidr", "no-overlap");

    // A client granted `orders` only: an address in the range, a config routing only
    // orders' nodes; the generated private key is answered once.
    let clients = format!("{gpath}/clients");
    let created = s
        .post(
            &s.admin,
            &clients,
            json!({"name": "alice", "grants": [{"cluster_id": orders["id"], "ports": [5432]}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    let private_key = created.body["private_key"]
        .as_str()
        .expect("the generated private key, once")
        .to_string();
    let public_key = created.body["public_key"].as_str().unwrap().to_string();
    assert_ne!(private_key, public_key);
    let address: Ipv4Addr = created.body["address"].as_str().unwrap().parse().unwrap();
    assert!(covers("10.99.0.0/24", address), "{address}");
    let cid = created.id();
    let cpath = format!("/v1/projects/{p}/vpn-clients/{cid}");
    let seen = s.get(&s.admin, &cpath).await;
    assert_eq!(seen.status, 200);
    assert!(seen.body.get("private_key").is_none(), "{:#}", seen.body);
    assert!(!seen.body.to_string().contains(&private_key));
    let listed = s.get(&s.admin, &clients).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert!(!listed.body.to_string().contains(&private_key));

    let (status, text) = config(&s, &format!("{clients}/{cid}/config")).await;
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains(&private_key), "{text}");
    assert!(text.contains("<the private key"), "{text}");
    assert!(
        text.contains(&format!("PublicKey = {gateway_key}")),
        "{text}"
    );
    assert!(text.contains(&format!("Endpoint = {endpoint}")), "{text}");
    assert!(text.contains(&format!("Address = {address}/32")), "{text}");
    let allowed = allowed_ips(&text);
    for ip in node_ips(&orders) {
        assert!(allowed.iter().any(|a| covers(a, ip)), "{ip} in {allowed:?}");
    }
    for ip in node_ips(&billing).into_iter().chain(node_ips(&elsewhere)) {
        assert!(
            !allowed.iter().any(|a| covers(a, ip)),
            "{ip} in {allowed:?}"
        );
    }

    // A grant to a cluster of another network is refused, naming the field.
    s.post(
        &s.admin,
        &clients,
        json!({"name": "bob", "grants": [{"cluster_id": elsewhere["id"], "ports": [5432]}]}),
    )
    .await
    .assert_problem(422, "grants[0].cluster_id", "same-network");

    // Rotation: a new key (generated, answered once), same address and grants.
    let rotated = s
        .post(&s.admin, &format!("{clients}/{cid}/rotate"), json!({}))
        .await;
    assert_eq!(rotated.status, 202, "{:#}", rotated.body);
    let new_private = rotated.body["private_key"]
        .as_str()
        .expect("new private key");
    assert_ne!(new_private, private_key);
    assert_ne!(rotated.body["public_key"], public_key.as_str());
    assert_eq!(rotated.body["address"], created.body["address"]);
    assert_eq!(rotated.body["grants"], created.body["grants"]);
    let seen = s.get(&s.admin, &cpath).await;
    assert!(seen.body.get("private_key").is_none(), "{:#}", seen.body);
    assert_eq!(seen.body["public_key"], rotated.body["public_key"]);

    // A client that brings its own key gets no private key back.
    let own = s
        .post(
            &s.admin,
            &clients,
            json!({"name": "carol", "public_key": gateway_key_of_client(), "grants": []}),
        )
        .await;
    assert_eq!(own.status, 201, "{:#}", own.body);
    assert!(own.body.get("private_key").is_none(), "{:#}", own.body);

    // DELETE revokes: the client goes away, with when it was revoked, and leaves the
    // list; its status says `deleted` like every kind's, `revoked_at` when.
    let d = s.delete(&s.admin, &cpath).await;
    assert_eq!(d.status, 202, "{:#}", d.body);
    let revoked = s.wait_for_status(&cpath, &["deleted"]).await.body;
    assert!(revoked["revoked_at"].is_string(), "{revoked:#}");
    let listed = s.get(&s.admin, &clients).await.body;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["id"] != cid.as_str()),
        "{listed:#}"
    );
}

/// A valid WireGuard public key a laptop could have made (32 bytes, base64).
fn gateway_key_of_client() -> &'static str {
    "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
}
