//! The customer's side of the simulated clouds: a test acts as the customer and the
//! peering's status follows without a manual refresh.

mod support;

use serde_json::json;
use support::{peering_body, TestServer};

const PEER_VPC: &str = "vpc-0abc1234";

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
async fn only_the_superuser_acts_as_the_customer_and_members_only_see_their_peering() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let other = s.project("other").await;
    let outsider = s.token(&other, "admin").await;
    let id = aws_peering(&s, &p).await;
    let path = format!("/v1/projects/{p}/peerings/{id}");
    s.wait_for_status(&path, &["pending_acceptance"]).await;
    // Another project's token does not even see the peering.
    s.get(&outsider, &format!("/v1/sim/peerings/{id}"))
        .await
        .assert_status_problem(404);
    // The peering's own members may read the cloud's view of it, and act on nothing.
    for role in ["viewer", "admin"] {
        let member = s.token(&p, role).await;
        let view = s.get(&member, &format!("/v1/sim/peerings/{id}")).await;
        assert_eq!(view.status, 200, "{role}: {:#}", view.body);
        for action in ["reject", "accept", "delete-peer-side"] {
            s.post(
                &member,
                &format!("/v1/sim/peerings/{id}/{action}"),
                json!(null),
            )
            .await
            .assert_status_problem(403);
        }
    }
    let viewer = s.token(&p, "viewer").await;
    for token in [&outsider, &viewer] {
        s.post(token, &format!("/v1/sim/peerings/{id}/reject"), json!(null))
            .await
            .assert_status_problem(403);
        s.get(token, "/v1/sim/vpcs")
            .await
            .assert_status_problem(403);
        s.post(
            token,
            "/v1/sim/aws/vpcs",
            json!({"account_id": "123456789012", "network_id": "vpc-0abc9999",
                   "region": "us-east-1", "cidr_block": "192.168.9.0/24"}),
        )
        .await
        .assert_status_problem(403);
        s.post(
            token,
            "/v1/sim/faults",
            json!({"operation": "ensure_peering", "count": 1}),
        )
        .await
        .assert_status_problem(403);
    }
    // Nothing they tried changed the clouds.
    let view = s.get(&s.admin, &format!("/v1/sim/peerings/{id}")).await;
    assert_eq!(view.body["state"], "pending-acceptance");
    let vpcs = s.get(&s.admin, "/v1/sim/vpcs").await;
    assert_eq!(
        vpcs.body.as_array().map(Vec::len),
        Some(1),
        "{:#}",
        vpcs.body
    );
    s.wait_for_status(&path, &["pending_acceptance"]).await;
}

fn vpc(account: &str, network: &str, region: &str, cidr: &str) -> serde_json::Value {
    json!({"account_id": account, "network_id": network, "region": region, "cidr_block": cidr})
}

#[tokio::test]
async fn customer_vpcs_take_only_what_the_real_cloud_takes() {
    let s = TestServer::start().await;
    let huge = "1".repeat(64 * 1024);
    let refused = [
        (
            vpc(&huge, "vpc-0abc1234", "us-east-1", "192.168.0.0/24"),
            "account_id",
            "max-length",
        ),
        (
            vpc(
                "123456789012",
                "vpc-0abc\u{1b}[2J",
                "us-east-1",
                "192.168.0.0/24",
            ),
            "network_id",
            "no-whitespace",
        ),
        (
            vpc("12345678901", "vpc-0abc1234", "us-east-1", "192.168.0.0/24"),
            "account_id",
            "aws-account-id",
        ),
        (
            vpc(
                "123456789012",
                "vpc-0customer",
                "us-east-1",
                "192.168.0.0/24",
            ),
            "network_id",
            "aws-vpc-id",
        ),
        (
            vpc(
                "123456789012",
                "<YOUR_ROUTE_TABLE_ID>",
                "us-east-1",
                "192.168.0.0/24",
            ),
            "network_id",
            "aws-vpc-id",
        ),
        (
            vpc("123456789012", "vpc-0abc1234", "mars-1", "192.168.0.0/24"),
            "region",
            "known-region",
        ),
        (
            vpc("123456789012", "vpc-0abc1234", "us-east-1", "10.0.0.0/8"),
            "cidr_block",
            "vpc-size",
        ),
    ];
    for (body, field, rule) in refused {
        let r = s.post(&s.admin, "/v1/sim/aws/vpcs", body).await;
        let e = r.assert_problem(422, field, rule);
        assert!(e["message"].as_str().unwrap().len() < 400, "{e:#}");
    }
    let r = s
        .post(
            &s.admin,
            "/v1/sim/aws/vpcs",
            vpc(
                "123456789012",
                "vpc-0abc1234",
                "us-east-7",
                "192.168.0.0/24",
            ),
        )
        .await;
    let e = r.assert_problem(422, "region", "known-region");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("did you mean 'us-east-1'?"),
        "{e:#}"
    );
    s.post(
        &s.admin,
        "/v1/sim/gcp/vpcs",
        vpc("1acme", "default", "us-central1", "10.0.0.0/8"),
    )
    .await
    .assert_problem(422, "account_id", "gcp-project-id");
    let azure_sub = "0b1f6471-1bf0-4dda-aec3-111122223333";
    let r = s
        .post(
            &s.admin,
            "/v1/sim/azure/vpcs",
            vpc(azure_sub, "app-vnet", "westeuropea", "10.0.0.0/16"),
        )
        .await;
    let e = r.assert_problem(422, "region", "known-region");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("did you mean 'westeurope'?"),
        "{e:#}"
    );
    assert_eq!(
        s.get(&s.admin, "/v1/sim/vpcs").await.body,
        json!([]),
        "nothing refused was stored"
    );
    let vnet_id = format!(
        "/subscriptions/{azure_sub}/resourceGroups/app-rg/providers/Microsoft.Network/virtualNetworks/app-vnet"
    );
    for (cloud, body) in [
        (
            "aws",
            vpc(
                "123456789012",
                "vpc-0abc1234",
                "us-east-1",
                "192.168.0.0/24",
            ),
        ),
        (
            "gcp",
            vpc("acme-prod", "default", "us-central1", "10.0.0.0/8"),
        ),
        (
            "azure",
            vpc(azure_sub, &vnet_id, "westeurope", "10.1.0.0/16"),
        ),
    ] {
        let r = s
            .post(&s.admin, &format!("/v1/sim/{cloud}/vpcs"), body)
            .await;
        assert_eq!(r.status, 201, "{cloud}: {:#}", r.body);
    }
}

#[tokio::test]
async fn peer_fields_are_checked_against_the_cloud_of_the_network() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let net = s.network(&p, "main", "10.0.0.0/16").await.id();
    let path = format!("/v1/projects/{p}/peerings");
    let peer = |account: &str, network: &str, region: &str| {
        json!({"name": "to-customer", "network_id": net, "routes": ["192.168.0.0/24"],
               "peer": {"account_id": account, "network_id": network, "region": region}})
    };
    let refused = [
        (
            peer(
                "123456789012",
                "vpc-0abc1234",
                r"</dev/null;touch${IFS}/tmp/x;:\>",
            ),
            "peer.region",
            "region-syntax",
        ),
        (
            peer("123456789012", "vpc-0abc1234", "<us-east-1>"),
            "peer.region",
            "region-syntax",
        ),
        (
            peer("123456789012", "vpc-0abc1234", "mars-1"),
            "peer.region",
            "known-region",
        ),
        (
            peer("acme", "vpc-0abc1234", "us-east-1"),
            "peer.account_id",
            "aws-account-id",
        ),
        (
            peer("123456789012", "<PCX_ID_SHOWN_ONCE_REQUESTED>", "us-east-1"),
            "peer.network_id",
            "aws-vpc-id",
        ),
    ];
    for (body, field, rule) in refused {
        s.post(&s.admin, &path, body)
            .await
            .assert_problem(422, field, rule);
    }
    let listed = s.get(&s.admin, &path).await;
    assert_eq!(listed.body["items"], json!([]), "{:#}", listed.body);
}

#[tokio::test]
async fn network_regions_come_from_the_cloud_catalog_and_aws_vpcs_are_16_to_28() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let path = format!("/v1/projects/{p}/networks");
    let net = |provider: &str, region: &str, cidr: &str| json!({"name": "n", "provider": provider, "region": region, "cidr_block": cidr});
    s.post(&s.admin, &path, net("aws", "mars-1", "10.0.0.0/16"))
        .await
        .assert_problem(422, "region", "known-region");
    let r = s
        .post(&s.admin, &path, net("gcp", "us-central-1", "10.0.0.0/16"))
        .await;
    let e = r.assert_problem(422, "region", "known-region");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("did you mean 'us-central1'?"),
        "{e:#}"
    );
    s.post(&s.admin, &path, net("aws", "us-east-1", "10.0.0.0/8"))
        .await
        .assert_problem(422, "cidr_block", "vpc-size");
    let r = s
        .post(&s.admin, &path, net("azure", "westeurope", "10.0.0.0/8"))
        .await;
    assert_eq!(r.status, 201, "{:#}", r.body);
}

#[tokio::test]
async fn faults_name_a_known_operation() {
    let s = TestServer::start().await;
    let r = s
        .post(
            &s.admin,
            "/v1/sim/faults",
            json!({"operation": "ensure_peerings", "count": 1}),
        )
        .await;
    let e = r.assert_problem(422, "operation", "known-operation");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("did you mean 'ensure_peering'?"),
        "{e:#}"
    );
    let r = s
        .post(
            &s.admin,
            "/v1/sim/faults",
            json!({"operation": "ensure_peering", "count": 1}),
        )
        .await;
    assert_eq!(r.status, 204);
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
async fn a_local_network_on_a_server_without_the_local_provider_is_refused_saying_why() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let path = format!("/v1/projects/{p}/networks");
    let r = s
        .post(
            &s.admin,
            &path,
            json!({"name": "lab", "provider": "local", "region": "host", "cidr_block": "10.99.0.0/24"}),
        )
        .await;
    let error = r.assert_problem(422, "provider", "provider-unavailable");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("cannot make local networks") && message.contains("local provider"),
        "{message}"
    );
    // Nothing was stored.
    assert_eq!(s.get(&s.admin, &path).await.body["items"], json!([]));
}
