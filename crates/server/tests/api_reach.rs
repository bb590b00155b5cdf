//! `POST /v1/projects/{p}/reachability` on the simulated AWS cloud: the verdict follows the
//! peering's handshake, a denial names its reason and fix, and names that do not resolve
//! are a 404.

mod support;

use serde_json::{json, Value};
use support::{cluster_body, peering_body, TestServer};

struct Setup {
    project: String,
    peering: String,
    cluster: String,
}

/// A network with a probe cluster, peered to a simulated customer VPC 192.168.0.0/24
/// that has not accepted yet.
async fn setup(s: &TestServer) -> Setup {
    let p = s.project("acme").await;
    let net = s.network(&p, "main", "10.0.0.0/16").await.id();
    s.wait_for_status(&format!("/v1/projects/{p}/networks/{net}"), &["active"])
        .await;
    let vpc = s
        .post(
            &s.admin,
            "/v1/sim/aws/vpcs",
            json!({"account_id": "123456789012", "network_id": "vpc-0abc1234",
                   "region": "us-east-1", "cidr_block": "192.168.0.0/24"}),
        )
        .await;
    assert_eq!(vpc.status, 201, "{:#}", vpc.body);
    let peering = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/peerings"),
            peering_body("to-customer", &net, &["192.168.0.0/24"]),
        )
        .await
        .id();
    s.wait_for_status(
        &format!("/v1/projects/{p}/peerings/{peering}"),
        &["pending_acceptance"],
    )
    .await;
    let cluster = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/clusters"),
            cluster_body("orders", &net, "probe"),
        )
        .await
        .id();
    s.wait_for_status(
        &format!("/v1/projects/{p}/clusters/{cluster}"),
        &["running"],
    )
    .await;
    Setup {
        project: p,
        peering,
        cluster,
    }
}

async fn reach(s: &TestServer, p: &str, body: Value) -> support::Reply {
    s.post(&s.admin, &format!("/v1/projects/{p}/reachability"), body)
        .await
}

#[tokio::test]
async fn the_verdict_follows_the_peering_handshake() {
    let s = TestServer::start().await;
    let Setup {
        project: p,
        peering,
        cluster,
    } = setup(&s).await;

    let pending = reach(&s, &p, json!({"from": "192.168.0.5", "to": cluster})).await;
    assert_eq!(pending.status, 200, "{:#}", pending.body);
    assert_eq!(pending.body["allowed"], false);
    assert_eq!(pending.body["port"], 8443);
    let v = &pending.body["verdicts"][0];
    assert_eq!(v["reason"], "peering-not-active");
    let fix = v["fix"]["summary"].as_str().unwrap();
    assert!(
        fix.starts_with("peering to-customer is pending_acceptance")
            && fix.contains("the customer must still: Accept the peering connection"),
        "{fix}"
    );

    let accepted = s
        .post(
            &s.admin,
            &format!("/v1/sim/peerings/{peering}/accept"),
            json!(null),
        )
        .await;
    assert_eq!(accepted.status, 200, "{:#}", accepted.body);
    s.wait_for_status(&format!("/v1/projects/{p}/peerings/{peering}"), &["active"])
        .await;

    let allowed = reach(
        &s,
        &p,
        json!({"from": "192.168.0.5", "to": cluster, "port": 8443}),
    )
    .await;
    assert_eq!(allowed.body["allowed"], true, "{:#}", allowed.body);
    let hops: Vec<&str> = allowed.body["verdicts"][0]["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hop"].as_str().unwrap())
        .collect();
    assert_eq!(
        hops,
        [
            "source",
            "peering",
            "route_matched",
            "firewall",
            "destination"
        ]
    );

    let wrong_port = reach(
        &s,
        &p,
        json!({"from": "192.168.0.5", "to": cluster, "port": 5432}),
    )
    .await;
    assert_eq!(wrong_port.body["verdicts"][0]["reason"], "port-not-served");

    let outsider = reach(&s, &p, json!({"from": "192.168.1.5", "to": cluster})).await;
    assert_eq!(outsider.body["verdicts"][0]["reason"], "no-peering");
}

#[tokio::test]
async fn names_that_do_not_resolve_are_not_found_and_bad_sources_invalid() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    reach(
        &s,
        &p,
        json!({"from": "192.168.0.5", "to": "nosuch.isthmus.internal"}),
    )
    .await
    .assert_status_problem(404);
    reach(&s, &p, json!({"from": "not a source", "to": "x"}))
        .await
        .assert_problem(422, "from", "source-syntax");
    let doc = s.get(&s.admin, "/v1/openapi.json").await.body;
    assert!(doc["paths"]["/v1/projects/{p}/reachability"]["post"].is_object());
}
