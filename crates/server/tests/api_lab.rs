//! The lab API on a server without the local provider (as the in-process test server runs):
//! every change is refused with a clear 409 rather than half-done, changes are the
//! superuser's only, and the routes are in the OpenAPI document.

mod support;

use serde_json::json;
use support::TestServer;

#[tokio::test]
async fn without_the_local_provider_lab_changes_are_a_conflict_that_says_why() {
    let s = TestServer::start().await;
    let r = s
        .post(
            &s.admin,
            "/v1/lab/vpcs",
            json!({"name": "customer", "cidr_block": "172.16.0.0/16"}),
        )
        .await;
    r.assert_problem(409, "provider", "local-provider-unavailable");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("local provider"),
        "{:#}",
        r.body
    );
    for (path, body) in [
        ("/v1/lab/vpcs/customer/hosts", json!({"name": "app"})),
        (
            "/v1/lab/vpcs/customer/hosts/app/exec",
            json!({"argv": ["true"]}),
        ),
    ] {
        s.post(&s.admin, path, body).await.assert_problem(
            409,
            "provider",
            "local-provider-unavailable",
        );
    }
    s.delete(&s.admin, "/v1/lab/vpcs/customer")
        .await
        .assert_problem(409, "provider", "local-provider-unavailable");
    // The list says so too, rather than an empty list beside a refused create.
    s.get(&s.admin, "/v1/lab/vpcs").await.assert_problem(
        409,
        "provider",
        "local-provider-unavailable",
    );
}

#[tokio::test]
async fn only_the_superuser_may_change_lab_vpcs_or_run_commands() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let admin = s.token(&p, "admin").await;
    let r = s
        .post(
            &admin,
            "/v1/lab/vpcs",
            json!({"name": "customer", "cidr_block": "172.16.0.0/16"}),
        )
        .await;
    r.assert_status_problem(403);
    s.post(
        &admin,
        "/v1/lab/vpcs/customer/hosts/app/exec",
        json!({"argv": ["id"]}),
    )
    .await
    .assert_status_problem(403);
    // Reading the list is fine for any token (here it says the local provider is off).
    s.get(&admin, "/v1/lab/vpcs").await.assert_problem(
        409,
        "provider",
        "local-provider-unavailable",
    );
}

#[tokio::test]
async fn the_lab_routes_are_in_the_openapi_document() {
    let s = TestServer::start().await;
    let doc = s.get(&s.admin, "/v1/openapi.json").await.body;
    for path in [
        "/v1/lab/vpcs",
        "/v1/lab/vpcs/{name}",
        "/v1/lab/vpcs/{name}/hosts",
        "/v1/lab/vpcs/{name}/hosts/{host}",
        "/v1/lab/vpcs/{name}/hosts/{host}/exec",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
}

#[tokio::test]
async fn a_lab_command_timeout_above_the_maximum_is_refused_by_name() {
    let s = TestServer::start().await;
    let exec = "/v1/lab/vpcs/customer/hosts/app/exec";
    for bad in [0, 3601] {
        s.post(
            &s.admin,
            exec,
            json!({"argv": ["true"], "timeout_seconds": bad}),
        )
        .await
        .assert_problem(422, "timeout_seconds", "range");
    }
    // Within bounds, the request gets as far as the (missing) local provider.
    s.post(
        &s.admin,
        exec,
        json!({"argv": ["true"], "timeout_seconds": 3600}),
    )
    .await
    .assert_problem(409, "provider", "local-provider-unavailable");
}

#[tokio::test]
async fn with_no_lab_every_lab_route_is_a_not_found_problem_that_says_why() {
    let s = TestServer::start_with(|c| c.lab = false).await;
    let answers = [
        s.get(&s.admin, "/v1/lab/vpcs").await,
        s.post(
            &s.admin,
            "/v1/lab/vpcs",
            json!({"name": "customer", "cidr_block": "172.16.0.0/16"}),
        )
        .await,
        s.delete(&s.admin, "/v1/lab/vpcs/customer").await,
        s.post(
            &s.admin,
            "/v1/lab/vpcs/customer/hosts",
            json!({"name": "app"}),
        )
        .await,
        s.delete(&s.admin, "/v1/lab/vpcs/customer/hosts/app").await,
        s.post(
            &s.admin,
            "/v1/lab/vpcs/customer/hosts/app/exec",
            json!({"argv": ["id"]}),
        )
        .await,
        s.get(&s.admin, "/v1/lab/internet/hosts").await,
        s.post(
            &s.admin,
            "/v1/lab/internet/hosts",
            json!({"name": "laptop"}),
        )
        .await,
        s.delete(&s.admin, "/v1/lab/internet/hosts/laptop").await,
    ];
    for r in &answers {
        r.assert_status_problem(404);
        let detail = r.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("lab API is disabled"), "{detail}");
    }
    // The rest of the API is served as usual.
    assert_eq!(s.get(&s.admin, "/v1/projects").await.status, 200);
}
