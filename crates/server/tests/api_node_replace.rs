//! Replacing a node through the API on a simulated cloud (aws): the node keeps its index,
//! zone and DNS name and gets a new address in the same network; the cluster is
//! `updating` (a second replace is a 409) until the new instance runs; the platform DNS
//! moves the node's name to the new address; a VPN client granted the cluster is not
//! touched, and its gateway's view (the config download) routes the new address, not the
//! old one; the change is in the audit log. A bad index is a 404 or a 422.

mod support;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::dns::query_a;
use support::TestServer;

fn node(cluster: &Value, index: usize) -> (Ipv4Addr, String, String) {
    let n = &cluster["nodes"][index];
    (
        n["ip"].as_str().unwrap().parse().unwrap(),
        n["dns_name"].as_str().unwrap().to_string(),
        n["zone"].as_str().unwrap().to_string(),
    )
}

fn covers(prefix: &str, ip: Ipv4Addr) -> bool {
    let (net, len) = prefix.split_once('/').unwrap();
    let (net, len): (Ipv4Addr, u32) = (net.parse().unwrap(), len.parse().unwrap());
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(net) & mask == u32::from(ip) & mask
}

async fn config(s: &TestServer, path: &str) -> String {
    reqwest::Client::new()
        .get(format!("{}{path}", s.base))
        .bearer_auth(&s.admin)
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text")
}

#[tokio::test]
async fn a_replaced_node_gets_a_new_address_under_the_same_name_and_grants_follow_it() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let net = s.network(&p, "main", "10.40.0.0/24").await;
    assert_eq!(net.status, 201, "{:#}", net.body);
    let created = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/clusters"),
            json!({"name": "orders", "network_id": net.id(), "engine": "probe",
                   "topology": "three-node-multi-zone"}),
        )
        .await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    let cpath = format!("/v1/projects/{p}/clusters/{}", created.id());
    let cluster = s.wait_for_status(&cpath, &["running"]).await.body;

    // A VPN client granted the cluster.
    let g = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/vpn-gateways"),
            json!({"name": "laptops", "network_id": net.id(), "client_cidr": "10.99.0.0/24"}),
        )
        .await;
    assert_eq!(g.status, 201, "{:#}", g.body);
    let gpath = format!("/v1/projects/{p}/vpn-gateways/{}", g.id());
    s.wait_for_status(&gpath, &["ready"]).await;
    let alice = s
        .post(
            &s.admin,
            &format!("{gpath}/clients"),
            json!({"name": "alice", "grants": [{"cluster_id": cluster["id"], "ports": [8443]}]}),
        )
        .await;
    assert_eq!(alice.status, 201, "{:#}", alice.body);
    let alice_path = format!("/v1/projects/{p}/vpn-clients/{}", alice.id());
    let alice_before = s.get(&s.admin, &alice_path).await.body;

    // Bad indexes: none such is a 404, not a number a 422 naming the path field.
    let replace = |index: &str| format!("{cpath}/nodes/{index}/replace");
    let missing = s.post(&s.admin, &replace("3"), json!({})).await;
    assert_eq!(missing.status, 404, "{:#}", missing.body);
    s.post(&s.admin, &replace("first"), json!({}))
        .await
        .assert_problem(422, "index", "node-index");
    // A viewer may not replace nodes.
    let viewer = s.token(&p, "viewer").await;
    assert_eq!(s.post(&viewer, &replace("1"), json!({})).await.status, 403);

    // Slow instances, so the cluster is still updating when the second request comes.
    let latency = s
        .call(
            reqwest::Method::PUT,
            "/v1/sim/latency",
            &s.admin,
            Some(json!({"millis": 1500})),
            &[],
        )
        .await;
    assert_eq!(latency.status, 204, "{:#}", latency.body);
    let (old_ip, name, zone) = node(&cluster, 1);
    let by_name = format!("/v1/projects/{p}/clusters/orders/nodes/1/replace");
    let replaced = s.post(&s.admin, &by_name, json!({})).await;
    assert_eq!(replaced.status, 202, "{:#}", replaced.body);
    let (new_ip, new_name, new_zone) = node(&replaced.body, 1);
    assert_ne!(new_ip, old_ip);
    assert_eq!(
        (new_name.as_str(), new_zone.as_str()),
        (name.as_str(), zone.as_str())
    );
    let taken: Vec<Ipv4Addr> = (0..3).map(|i| node(&cluster, i).0).collect();
    assert!(!taken.contains(&new_ip), "{new_ip} was in use");
    assert!(
        new_ip.octets()[..3] == [10, 40, 0],
        "{new_ip} is in the network"
    );
    assert_eq!(replaced.body["status"], "updating", "{:#}", replaced.body);
    assert_eq!(node(&replaced.body, 0), node(&cluster, 0));
    assert_eq!(node(&replaced.body, 2), node(&cluster, 2));
    s.post(&s.admin, &replace("0"), json!({}))
        .await
        .assert_problem(409, "", "cluster-not-running");

    let running = s.wait_for_status(&cpath, &["running", "error"]).await.body;
    assert_eq!(running["status"], "running", "{running:#}");
    assert_eq!(node(&running, 1).0, new_ip);
    assert_eq!(running["nodes"][1]["status"], "running");

    // The node's name moves to the new address; the cluster's name lists it instead.
    let deadline = Instant::now() + Duration::from_secs(5);
    while query_a(s.dns_addr(), &name).await.ips != vec![new_ip] {
        assert!(Instant::now() < deadline, "{name} never moved to {new_ip}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = query_a(s.dns_addr(), running["dns_name"].as_str().unwrap())
        .await
        .ips;
    assert!(all.contains(&new_ip) && !all.contains(&old_ip), "{all:?}");

    // The VPN client is untouched; the config its gateway hands out routes the new
    // address and not the old one.
    let alice_after = s.get(&s.admin, &alice_path).await.body;
    // (Its version moves with the controller's status saves; its spec does not.)
    for field in ["generation", "public_key", "address", "grants"] {
        assert_eq!(alice_after[field], alice_before[field], "{field}");
    }
    let text = config(&s, &format!("{gpath}/clients/{}/config", alice.id())).await;
    let allowed: Vec<&str> = text
        .lines()
        .find_map(|l| l.strip_prefix("AllowedIPs = "))
        .expect("AllowedIPs")
        .split(", ")
        .collect();
    assert!(allowed.iter().any(|a| covers(a, new_ip)), "{text}");
    assert!(!allowed.iter().any(|a| covers(a, old_ip)), "{text}");

    // Audited, with the addresses before and after.
    let events = s
        .get(&s.admin, &format!("/v1/projects/{p}/events"))
        .await
        .body;
    let event = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "cluster.replace_node")
        .unwrap_or_else(|| panic!("no cluster.replace_node event: {events:#}"));
    assert_eq!(event["before"]["nodes"][1]["ip"], old_ip.to_string());
    assert_eq!(event["after"]["nodes"][1]["ip"], new_ip.to_string());
    let items = events["items"].as_array().unwrap();
    assert!(
        !items.iter().any(|e| e["action"] == "vpn_client.update"),
        "nobody changed the client"
    );
}
