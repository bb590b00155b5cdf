//! Who gets in, as the API states it: public access with its allow-list and endpoint,
//! the private allow-list, and transit routes. Invalid lists are refused as problem+json
//! naming the entry at fault; accepted-but-risky lists come back with warnings; turning
//! public access on gives the cluster an endpoint whose name the platform DNS answers,
//! and turning it off takes both away.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, Instant};

use hickory_server::proto::op::{Message, Query, ResponseCode};
use hickory_server::proto::rr::{Name, RData, RecordType};
use serde_json::{json, Value};
use support::{cluster_body, peering_body, TestServer};
use tokio::net::UdpSocket;

const ZONE: &str = "isthmus.internal";
/// A guard against hanging, not a speed assertion.
const PATIENCE: Duration = Duration::from_secs(5);

/// A project with an AWS network and a single-node cluster on it: (project, cluster path).
async fn cluster(server: &TestServer, name: &str) -> (String, String) {
    let project = server.project(name).await;
    let network = server.network(&project, "prod", "10.40.0.0/16").await;
    assert_eq!(network.status, 201, "{:#}", network.body);
    let created = server
        .post(
            &server.admin,
            &format!("/v1/projects/{project}/clusters"),
            cluster_body("orders", &network.id(), "probe"),
        )
        .await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    let path = format!("/v1/projects/{project}/clusters/{}", created.id());
    (project, path)
}

fn entries(cidrs: impl IntoIterator<Item = String>) -> Vec<Value> {
    cidrs
        .into_iter()
        .map(|cidr| json!({ "cidr": cidr, "comment": "" }))
        .collect()
}

fn public(enabled: bool, cidrs: &[&str]) -> Value {
    json!({ "public_access": { "enabled": enabled,
        "allowlist": entries(cidrs.iter().map(|c| c.to_string())) } })
}

fn warnings(cluster: &Value) -> Vec<String> {
    cluster["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| w.as_str().expect("a warning is text").to_string())
        .collect()
}

#[tokio::test]
async fn an_allowlist_over_8000_entries_is_refused() {
    let server = TestServer::start().await;
    let (_, path) = cluster(&server, "big").await;
    let many = entries((0..8_001u32).map(|i| format!("{}/32", Ipv4Addr::from(0x0a00_0000 + i))));
    let reply = server
        .patch(
            &server.admin,
            &path,
            json!({ "public_access": { "enabled": true, "allowlist": many } }),
        )
        .await;
    reply.assert_problem(422, "public_access.allowlist", "max-entries");

    let exactly = entries((0..8_000u32).map(|i| format!("{}/32", Ipv4Addr::from(0x0a00_0000 + i))));
    let reply = server
        .patch(
            &server.admin,
            &path,
            json!({ "private_allowlist": exactly }),
        )
        .await;
    assert_eq!(
        reply.status, 200,
        "8,000 entries are allowed: {:#}",
        reply.body
    );
    assert_eq!(
        reply.body["private_allowlist"].as_array().unwrap().len(),
        8_000
    );
}

#[tokio::test]
async fn a_bad_or_repeated_allowlist_entry_is_named_by_its_index() {
    let server = TestServer::start().await;
    let (_, path) = cluster(&server, "entries").await;
    let reply = server
        .patch(
            &server.admin,
            &path,
            public(
                true,
                &[
                    "203.0.113.0/24",
                    "198.51.100.0/24",
                    "192.0.2.0/24",
                    "10.0.0.1/8",
                ],
            ),
        )
        .await;
    let error = reply.assert_problem(422, "public_access.allowlist[3].cidr", "host-bits-set");
    assert!(
        error["message"].as_str().unwrap().contains("10.0.0.1/8"),
        "{error:#}"
    );

    let reply = server
        .patch(
            &server.admin,
            &path,
            json!({ "private_allowlist": entries(["172.16.0.0/16".into(), "172.16.0.0/16".into()]) }),
        )
        .await;
    reply.assert_problem(422, "private_allowlist[1].cidr", "duplicate-entry");
}

#[tokio::test]
async fn an_empty_or_everyone_public_list_is_accepted_with_a_warning() {
    let server = TestServer::start().await;
    let (_, path) = cluster(&server, "warned").await;
    let empty = server.patch(&server.admin, &path, public(true, &[])).await;
    assert_eq!(empty.status, 200, "{:#}", empty.body);
    let said = warnings(&empty.body);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("nobody can connect"), "{said:?}");

    let everyone = server
        .patch(&server.admin, &path, public(true, &["0.0.0.0/0"]))
        .await;
    assert_eq!(everyone.status, 200, "{:#}", everyone.body);
    let said = warnings(&everyone.body);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].contains("0.0.0.0/0") && said[0].contains("every address"),
        "{said:?}"
    );

    let narrowed = server
        .patch(&server.admin, &path, public(true, &["203.0.113.0/24"]))
        .await;
    assert_eq!(warnings(&narrowed.body), Vec::<String>::new());
}

#[tokio::test]
async fn transit_routes_are_refused_on_non_transitive_aws_and_may_not_overlap_routes() {
    let server = TestServer::start().await;
    let project = server.project("transit").await;
    let aws = server.network(&project, "aws", "10.50.0.0/16").await;
    let mut body = peering_body("to-hub", &aws.id(), &["172.16.0.0/16"]);
    body["transit_routes"] = json!(["172.20.0.0/24"]);
    let reply = server
        .post(
            &server.admin,
            &format!("/v1/projects/{project}/peerings"),
            body,
        )
        .await;
    let error = reply.assert_problem(422, "transit_routes", "non-transitive");
    assert!(
        error["message"].as_str().unwrap().contains("AWS"),
        "{error:#}"
    );

    let azure = server
        .post(
            &server.admin,
            &format!("/v1/projects/{project}/networks"),
            json!({ "name": "azure", "provider": "azure", "region": "eastus", "cidr_block": "10.60.0.0/16" }),
        )
        .await;
    assert_eq!(azure.status, 201, "{:#}", azure.body);
    let mut body = peering_body("to-hub", &azure.id(), &["172.16.0.0/16"]);
    body["peer"] = json!({ "account_id": "0b1f6471-1bf0-4dda-aec3-111122223333", "network_id": "hub-vnet", "region": "eastus" });
    body["transit_routes"] = json!(["172.16.8.0/24"]);
    body["allow_gateway_transit"] = json!(true);
    let reply = server
        .post(
            &server.admin,
            &format!("/v1/projects/{project}/peerings"),
            body.clone(),
        )
        .await;
    reply.assert_problem(422, "transit_routes[0]", "route-overlap");

    body["transit_routes"] = json!(["172.20.0.0/24"]);
    let created = server
        .post(
            &server.admin,
            &format!("/v1/projects/{project}/peerings"),
            body,
        )
        .await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    assert_eq!(created.body["transit_routes"], json!(["172.20.0.0/24"]));
}

/// The A records of `name` from the platform DNS, or its response code.
async fn resolve(server: SocketAddr, name: &str) -> Result<Vec<Ipv4Addr>, ResponseCode> {
    let mut message = Message::query();
    message.metadata.id = 5150;
    message.add_query(Query::query(
        Name::from_str(name).expect("name"),
        RecordType::A,
    ));
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind client");
    socket
        .send_to(&message.to_vec().expect("encode"), server)
        .await
        .expect("send query");
    let mut buf = vec![0u8; 4096];
    let (len, _) = tokio::time::timeout(PATIENCE, socket.recv_from(&mut buf))
        .await
        .expect("the platform DNS answers")
        .expect("receive");
    let reply = Message::from_vec(&buf[..len]).expect("decode");
    match reply.metadata.response_code {
        ResponseCode::NoError => Ok(reply
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect()),
        code => Err(code),
    }
}

async fn resolve_until(
    server: SocketAddr,
    name: &str,
    wanted: &Result<Vec<Ipv4Addr>, ResponseCode>,
) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let got = resolve(server, name).await;
        if &got == wanted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: {got:?}, wanted {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn toggling_public_access_gives_and_takes_the_endpoint_and_its_name() {
    let server = TestServer::start().await;
    let (_, path) = cluster(&server, "toggle").await;
    let before = server.get(&server.admin, &path).await;
    assert_eq!(
        before.body["public_endpoint"],
        Value::Null,
        "off by default"
    );
    let id = before.id();
    let name = format!("public-{id}.{ZONE}.");

    let on = server
        .patch(&server.admin, &path, public(true, &["203.0.113.0/24"]))
        .await;
    assert_eq!(on.status, 200, "{:#}", on.body);
    assert!(
        on.body["generation"].as_u64() > before.body["generation"].as_u64(),
        "the controller re-applies the cluster"
    );
    let endpoint = &on.body["public_endpoint"];
    assert_eq!(endpoint["dns_name"], format!("public-{id}.{ZONE}"));
    let ip: Ipv4Addr = endpoint["ip"].as_str().unwrap().parse().unwrap();
    assert!(isthmus_core::rules::public_pool().contains_addr(ip), "{ip}");
    resolve_until(server.dns_addr(), &name, &Ok(vec![ip])).await;

    let off = server
        .patch(&server.admin, &path, public(false, &["203.0.113.0/24"]))
        .await;
    assert_eq!(off.status, 200, "{:#}", off.body);
    assert_eq!(off.body["public_endpoint"], Value::Null);
    resolve_until(server.dns_addr(), &name, &Err(ResponseCode::NXDomain)).await;
    // The private names are untouched.
    assert!(resolve(server.dns_addr(), &format!("{id}.{ZONE}."))
        .await
        .is_ok());
}

#[tokio::test]
async fn the_controller_reapplies_a_running_cluster_after_an_access_change() {
    let server = TestServer::start().await;
    let (project, path) = cluster(&server, "reapply").await;
    let networks = server
        .get(&server.admin, &format!("/v1/projects/{project}/networks"))
        .await;
    let network = networks.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    server
        .wait_for_status(
            &format!("/v1/projects/{project}/networks/{network}"),
            &["active"],
        )
        .await;
    server.wait_for_status(&path, &["running"]).await;

    let changed = server
        .patch(
            &server.admin,
            &path,
            json!({ "public_access": { "enabled": true, "allowlist": entries(["203.0.113.0/24".into()]) },
                    "private_allowlist": entries(["172.16.0.0/16".into()]) }),
        )
        .await;
    assert_eq!(changed.status, 200, "{:#}", changed.body);
    let generation = changed.body["generation"].as_u64().unwrap();
    assert!(changed.body["observed_generation"].as_u64().unwrap() < generation);

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = server.get(&server.admin, &path).await.body;
        if now["observed_generation"].as_u64() == Some(generation) {
            assert_eq!(now["status"], "running", "re-applied in place: {now:#}");
            assert_eq!(now["public_endpoint"], changed.body["public_endpoint"]);
            break;
        }
        assert!(Instant::now() < deadline, "never re-applied: {now:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn egress(cidr: &str, ports: Value, comment: &str) -> Value {
    json!({ "cidr": cidr, "ports": ports, "comment": comment })
}

#[tokio::test]
async fn the_egress_allowlist_has_the_allowlists_rules() {
    let server = TestServer::start().await;
    let (_, path) = cluster(&server, "egress").await;
    let many: Vec<Value> = (0..8_001u32)
        .map(|i| {
            egress(
                &format!("{}/32", Ipv4Addr::from(0x0a00_0000 + i)),
                json!([]),
                "",
            )
        })
        .collect();
    server
        .patch(&server.admin, &path, json!({ "egress_allowlist": many }))
        .await
        .assert_problem(422, "egress_allowlist", "max-entries");
    let cases = [
        (
            vec![
                egress("192.168.1.0/24", json!([443]), ""),
                egress("192.168.1.0/24", json!([80]), ""),
            ],
            "egress_allowlist[1].cidr",
            "duplicate-entry",
        ),
        (
            vec![egress(
                "192.168.1.0/24",
                json!((1..=150u16).collect::<Vec<_>>()),
                "",
            )],
            "egress_allowlist[0].ports",
            "max-ports",
        ),
        (
            vec![egress("192.168.1.0/24", json!([443, 443]), "")],
            "egress_allowlist[0].ports",
            "duplicate-port",
        ),
        (
            vec![egress("192.168.1.0/24", json!([0]), "")],
            "egress_allowlist[0].ports",
            "port-range",
        ),
        (
            vec![egress("192.168.1.0/24", json!([70000]), "")],
            "egress_allowlist[0].ports[0]",
            "invalid-value",
        ),
        (
            vec![egress("192.168.1.0/24", json!([]), "db\u{1b}[31m")],
            "egress_allowlist[0].comment",
            "printable",
        ),
        (
            vec![egress("192.168.1.0/24", json!([]), &"x".repeat(257))],
            "egress_allowlist[0].comment",
            "comment",
        ),
    ];
    let before = server.get(&server.admin, &path).await.body;
    for (list, field, rule) in cases {
        server
            .patch(&server.admin, &path, json!({ "egress_allowlist": list }))
            .await
            .assert_problem(422, field, rule);
    }
    // The controller may move the cluster on (status, version) meanwhile;
    // what a refused request must not touch is the spec and its list.
    let after = server.get(&server.admin, &path).await.body;
    assert_eq!(
        after["generation"], before["generation"],
        "nothing was stored"
    );
    assert_eq!(after["egress_allowlist"], before["egress_allowlist"]);
}

#[tokio::test]
async fn an_egress_entry_no_peering_routes_is_accepted_with_a_warning() {
    let server = TestServer::start().await;
    let (project, path) = cluster(&server, "egress-warn").await;
    let network = server.get(&server.admin, &path).await.body["network_id"]
        .as_str()
        .unwrap()
        .to_string();
    let peering = server
        .post(
            &server.admin,
            &format!("/v1/projects/{project}/peerings"),
            peering_body("to-app", &network, &["192.168.0.0/16"]),
        )
        .await;
    assert_eq!(peering.status, 201, "{:#}", peering.body);
    let reply = server
        .patch(
            &server.admin,
            &path,
            json!({ "egress_allowlist": [
                egress("192.168.7.0/24", json!([5432]), "app"),
                egress("172.20.0.0/16", json!([]), "nowhere"),
            ] }),
        )
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    let w = warnings(&reply.body);
    assert_eq!(w.len(), 1, "{w:#?}");
    assert!(
        w[0].starts_with("egress_allowlist[1] 172.20.0.0/16 lies outside"),
        "{w:#?}"
    );
}
