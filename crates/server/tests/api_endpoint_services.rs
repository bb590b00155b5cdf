//! Private endpoints through the API, on each simulated cloud: a customer's endpoint
//! becomes a connection of the service that follows that cloud's handshake (with the
//! cloud's own word beside ours), the operator accepts or rejects it, and the customer's
//! commands shrink as it goes.

mod support;

use serde_json::{json, Value};
use support::{cluster_body, Reply, TestServer};

struct Cloud {
    name: &'static str,
    region: &'static str,
    principal: &'static str,
    account: &'static str,
    stranger: &'static str,
    words: [&'static str; 4], // pending, available, rejected, disconnected
}

const AWS: Cloud = Cloud {
    name: "aws",
    region: "us-east-1",
    principal: "arn:aws:iam::123456789012:root",
    account: "123456789012",
    stranger: "999999999999",
    words: ["pendingAcceptance", "available", "rejected", "deleted"],
};
const GCP: Cloud = Cloud {
    name: "gcp",
    region: "europe-west1",
    principal: "customer-prod",
    account: "customer-prod",
    stranger: "someone-else",
    words: ["PENDING", "ACCEPTED", "REJECTED", "CLOSED"],
};
const AZURE: Cloud = Cloud {
    name: "azure",
    region: "westeurope",
    principal: "6a0b1c2d-3e4f-4a5b-8c7d-1e2f3a4b5c6d",
    account: "6a0b1c2d-3e4f-4a5b-8c7d-1e2f3a4b5c6d",
    stranger: "00000000-1111-2222-3333-444444444444",
    words: ["Pending", "Approved", "Rejected", "Disconnected"],
};

/// A running cluster on `cloud` and an endpoint service for it; (service path, body).
async fn published(s: &TestServer, p: &str, cloud: &Cloud) -> (String, Value) {
    let net = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/networks"),
            json!({"name": "main", "provider": cloud.name, "region": cloud.region, "cidr_block": "10.0.0.0/16"}),
        )
        .await;
    assert_eq!(net.status, 201, "{:#}", net.body);
    let cluster = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/clusters"),
            cluster_body("orders", &net.id(), "probe"),
        )
        .await;
    assert_eq!(cluster.status, 201, "{:#}", cluster.body);
    let svc = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/endpoint-services"),
            json!({"name": "orders-pl", "cluster_id": cluster.id(), "allowed_principals": [cloud.principal]}),
        )
        .await;
    assert_eq!(svc.status, 201, "{:#}", svc.body);
    let path = format!("/v1/projects/{p}/endpoint-services/{}", svc.id());
    let body = s.wait_for_status(&path, &["available"]).await.body;
    (path, body)
}

async fn endpoint(s: &TestServer, cloud: &Cloud, account: &str, service: &Value) -> Reply {
    s.post(
        &s.admin,
        "/v1/sim/endpoints",
        json!({"cloud": cloud.name, "account": account, "network": "customer-net",
               "region": cloud.region, "service": service["service_name"]}),
    )
    .await
}

/// Polls the service until its connection to `endpoint_id` is in `status`.
async fn connection(s: &TestServer, path: &str, endpoint_id: &str, status: &str) -> Value {
    for _ in 0..1200 {
        let list = s.get(&s.admin, &format!("{path}/connections")).await;
        assert_eq!(list.status, 200, "{:#}", list.body);
        if let Some(c) = list
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["endpoint_id"] == endpoint_id && c["status"] == status)
        {
            return c.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{path}: connection {endpoint_id} never became {status}");
}

fn commands(service: &Value) -> Vec<String> {
    service["customer_actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["command"].as_str().unwrap().to_string())
        .collect()
}

async fn the_handshake_of(cloud: Cloud) {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let (path, service) = published(&s, &p, &cloud).await;
    let before = commands(&service);
    assert_eq!(
        before.len(),
        2,
        "create the endpoint, then the name: {before:?}"
    );
    assert!(
        before[0].contains(service["service_name"].as_str().unwrap()),
        "{before:?}"
    );

    // The customer creates an endpoint: it waits for acceptance, in the cloud's words.
    let ep = endpoint(&s, &cloud, cloud.account, &service).await;
    assert_eq!(ep.status, 201, "{:#}", ep.body);
    let ep_id = ep.body["endpoint_id"].as_str().unwrap().to_string();
    let c = connection(&s, &path, &ep_id, "pending_acceptance").await;
    assert_eq!(c["provider_state"], cloud.words[0]);
    assert_eq!(c["principal"], cloud.account);
    let after = commands(&s.get(&s.admin, &path).await.body);
    assert_eq!(
        after,
        before[1..],
        "creating the endpoint is no longer asked for"
    );

    // The operator accepts: available on both sides.
    let cid = c["id"].as_str().unwrap();
    let accepted = s
        .post(
            &s.admin,
            &format!("{path}/connections/{cid}/accept"),
            json!(null),
        )
        .await;
    assert_eq!(accepted.status, 202, "{:#}", accepted.body);
    let c = connection(&s, &path, &ep_id, "available").await;
    assert_eq!(c["provider_state"], cloud.words[1]);
    let views = s.get(&s.admin, "/v1/sim/endpoints").await.body;
    assert_eq!(views[0]["state"], cloud.words[1]);

    // A second endpoint is rejected: its flows are cut, and the answer says so.
    let ep2 = endpoint(&s, &cloud, cloud.account, &service).await;
    let ep2_id = ep2.body["endpoint_id"].as_str().unwrap().to_string();
    let c2 = connection(&s, &path, &ep2_id, "pending_acceptance").await;
    let cid2 = c2["id"].as_str().unwrap();
    let rejected = s
        .post(
            &s.admin,
            &format!("{path}/connections/{cid2}/reject"),
            json!(null),
        )
        .await;
    assert_eq!(rejected.status, 202, "{:#}", rejected.body);
    assert!(rejected.body["warnings"][0]
        .as_str()
        .unwrap()
        .contains("rejected"));
    let c2 = connection(&s, &path, &ep2_id, "rejected").await;
    assert_eq!(c2["provider_state"], cloud.words[2]);
    let now = commands(&s.get(&s.admin, &path).await.body);
    assert!(
        now.last().unwrap().contains(&ep2_id) || now.last().unwrap().contains("delete"),
        "delete the refused endpoint: {now:?}"
    );
    // A rejected connection cannot be accepted later: the customer makes a new one.
    s.post(
        &s.admin,
        &format!("{path}/connections/{cid2}/accept"),
        json!(null),
    )
    .await
    .assert_problem(409, "", "connection-not-open");

    // The customer deletes the first endpoint: the service sees it disconnected.
    let gone = s
        .post(
            &s.admin,
            "/v1/sim/endpoints/delete",
            json!({"endpoint_id": ep_id}),
        )
        .await;
    assert_eq!(gone.status, 200, "{:#}", gone.body);
    let c = connection(&s, &path, &ep_id, "disconnected").await;
    assert_eq!(c["provider_state"], cloud.words[3]);
    assert_eq!(c["status_message"], "the customer deleted the endpoint");
}

#[tokio::test]
async fn the_aws_handshake() {
    the_handshake_of(AWS).await;
}

#[tokio::test]
async fn the_gcp_handshake() {
    the_handshake_of(GCP).await;
}

#[tokio::test]
async fn the_azure_handshake() {
    the_handshake_of(AZURE).await;
}

#[tokio::test]
async fn unknown_services_and_principals_not_allowed_are_refused_as_each_cloud_refuses_them() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let (_, aws) = published(&s, &p, &AWS).await;
    let mut unknown = aws.clone();
    unknown["service_name"] = json!("com.amazonaws.vpce.us-east-1.vpce-svc-00000000000000000");
    let r = endpoint(&s, &AWS, AWS.account, &unknown).await;
    r.assert_status_problem(404);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("InvalidServiceName"),
        "{:#}",
        r.body
    );
    // AWS: the service is not visible to an account it does not allow.
    endpoint(&s, &AWS, AWS.stranger, &aws)
        .await
        .assert_status_problem(409);

    // GCP: the endpoint exists, but the connection needs attention: failed, with why.
    let q = s.project("gcp").await;
    let (path, gcp) = published(&s, &q, &GCP).await;
    let ep = endpoint(&s, &GCP, GCP.stranger, &gcp).await;
    assert_eq!(ep.status, 201, "{:#}", ep.body);
    let id = ep.body["endpoint_id"].as_str().unwrap();
    let c = connection(&s, &path, id, "failed").await;
    assert_eq!(c["provider_state"], "NEEDS_ATTENTION");
    assert!(
        c["status_message"]
            .as_str()
            .unwrap()
            .contains("accept list"),
        "{c:#}"
    );
}

#[tokio::test]
async fn removing_a_principal_rejects_its_connections_and_says_their_flows_are_cut() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let (path, service) = published(&s, &p, &AWS).await;
    let ep = endpoint(&s, &AWS, AWS.account, &service).await;
    let ep_id = ep.body["endpoint_id"].as_str().unwrap().to_string();
    let c = connection(&s, &path, &ep_id, "pending_acceptance").await;
    let cid = c["id"].as_str().unwrap();
    s.post(
        &s.admin,
        &format!("{path}/connections/{cid}/accept"),
        json!(null),
    )
    .await;
    connection(&s, &path, &ep_id, "available").await;
    let updated = s
        .patch(
            &s.admin,
            &path,
            json!({"allowed_principals": ["arn:aws:iam::210987654321:root"]}),
        )
        .await;
    assert_eq!(updated.status, 200, "{:#}", updated.body);
    let warning = updated.body["warnings"][0].as_str().unwrap();
    assert!(warning.contains("established flows are cut"), "{warning}");
    connection(&s, &path, &ep_id, "rejected").await;
}

#[tokio::test]
async fn bad_principals_are_422s_naming_the_field_and_a_cluster_with_a_service_is_not_deleted() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let (path, service) = published(&s, &p, &AWS).await;
    let bad = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/endpoint-services"),
            json!({"name": "x", "cluster_id": service["cluster_id"], "allowed_principals": ["arn:aws:iam::123456789012:root", "*"]}),
        )
        .await;
    bad.assert_problem(422, "allowed_principals[1]", "aws-principal-arn");

    let cluster = format!(
        "/v1/projects/{p}/clusters/{}",
        service["cluster_id"].as_str().unwrap()
    );
    let refused = s.delete(&s.admin, &cluster).await;
    refused.assert_problem(409, "", "cluster-has-endpoint-services");
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(detail.contains("endpoint-services 'orders-pl'"), "{detail}");

    let deleted = s.delete(&s.admin, &path).await;
    assert_eq!(deleted.status, 202, "{:#}", deleted.body);
    s.wait_for_status(&path, &["deleted"]).await;
    assert_eq!(s.delete(&s.admin, &cluster).await.status, 202);
}
