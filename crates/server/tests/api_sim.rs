//! The customer's side of the simulated clouds: a test acts as the customer and the
//! peering's status follows without a manual refresh.

mod support;

use serde_json::json;
use support::{peering_body, TestServer};

const PEER_VPC: &str = "vpc-0abc";

async fn aws_peering(s: &TestServer, p: &str) -> String {
    let net = s.network(p, "main", "10.0.0.0/16").await.id();
    s.wait_for_status(&format!("/v1/projects/{p}/networks/{net}"), &["active"])
        .await;
    let vpc = s
        .post(
            &s.admin,
            "/v1/sim/aws/vpcs",
            json!({"account_id": "123456789012", "network_id": PEER_VPC,
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
        .await;
    assert_eq!(peering.status, 201, "{:#}", peering.body);
    peering.id()
}

#[tokio::test]
async fn an_aws_peering_goes_active_when_the_customer_accepts() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let id = aws_peering(&s, &p).await;
    let path = format!("/v1/projects/{p}/peerings/{id}");
    s.wait_for_status(&path, &["pending_acceptance"]).await;

    let vpcs = s.get(&s.admin, "/v1/sim/vpcs").await;
    assert_eq!(vpcs.body[0]["network_id"], PEER_VPC);

    let accepted = s
        .post(
            &s.admin,
            &format!("/v1/sim/peerings/{id}/accept"),
            json!(null),
        )
        .await;
    assert_eq!(accepted.status, 200, "{:#}", accepted.body);
    assert_eq!(accepted.body["peering_id"], id.as_str());
    s.wait_for_status(&path, &["active"]).await;

    let view = s.get(&s.admin, &format!("/v1/sim/peerings/{id}")).await;
    assert_eq!(view.status, 200);
    assert_eq!(view.body["routes"], json!(["192.168.0.0/24"]));

    // Accepting twice is not something AWS allows either.
    let again = s
        .post(
            &s.admin,
            &format!("/v1/sim/peerings/{id}/accept"),
            json!(null),
        )
        .await;
    again.assert_status_problem(409);
}

#[tokio::test]
async fn a_token_of_another_project_cannot_act_on_a_peering() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let other = s.project("other").await;
    let outsider = s.token(&other, "admin").await;
    let id = aws_peering(&s, &p).await;
    s.get(&outsider, &format!("/v1/sim/peerings/{id}"))
        .await
        .assert_status_problem(404);
    s.post(
        &outsider,
        &format!("/v1/sim/peerings/{id}/reject"),
        json!(null),
    )
    .await
    .assert_status_problem(404);
    // A member of the peering's project may act as its customer.
    let viewer = s.token(&p, "viewer").await;
    s.wait_for_status(
        &format!("/v1/projects/{p}/peerings/{id}"),
        &["pending_acceptance"],
    )
    .await;
    let rejected = s
        .post(
            &viewer,
            &format!("/v1/sim/peerings/{id}/reject"),
            json!(null),
        )
        .await;
    assert_eq!(rejected.status, 200, "{:#}", rejected.body);
}

#[tokio::test]
async fn unknown_clouds_and_actions_are_not_found() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let id = aws_peering(&s, &p).await;
    s.post(
        &s.admin,
        "/v1/sim/ibm/vpcs",
        json!({"account_id": "a", "network_id": "b", "region": "c", "cidr_block": "192.168.1.0/24"}),
    )
    .await
    .assert_status_problem(404);
    s.post(
        &s.admin,
        &format!("/v1/sim/peerings/{id}/shrug"),
        json!(null),
    )
    .await
    .assert_status_problem(404);
}

#[tokio::test]
async fn refresh_answers_with_the_peering_and_is_for_operators() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let id = aws_peering(&s, &p).await;
    let path = format!("/v1/projects/{p}/peerings/{id}/refresh");
    let r = s.post(&s.admin, &path, json!(null)).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    assert_eq!(r.id(), id);
    let viewer = s.token(&p, "viewer").await;
    s.post(&viewer, &path, json!(null))
        .await
        .assert_status_problem(403);
}

#[tokio::test]
async fn a_local_network_is_accepted_though_no_local_driver_exists_yet() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let r = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/networks"),
            json!({"name": "lab", "provider": "local", "region": "host", "cidr_block": "10.99.0.0/24"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    assert_eq!(r.body["provider"], "local");
}
