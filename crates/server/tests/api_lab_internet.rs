//! The lab's internet through the API on a server without the local provider (as the
//! in-process test server runs): host changes and commands are refused with a 409 that
//! says why, nothing is stored half-made, changes are the superuser's only, and the
//! routes and the new fields are in the OpenAPI document.

mod support;

use serde_json::json;
use support::TestServer;

#[tokio::test]
async fn without_the_local_provider_internet_host_changes_are_a_conflict_that_says_why() {
    let s = TestServer::start().await;
    let added = s
        .post(
            &s.admin,
            "/v1/lab/internet/hosts",
            json!({"name": "laptop"}),
        )
        .await;
    added.assert_problem(409, "provider", "local-provider-unavailable");
    s.delete(&s.admin, "/v1/lab/internet/hosts/laptop")
        .await
        .assert_problem(409, "provider", "local-provider-unavailable");
    s.post(
        &s.admin,
        "/v1/lab/vpcs/internet/hosts/laptop/exec",
        json!({"argv": ["true"]}),
    )
    .await
    .assert_problem(409, "provider", "local-provider-unavailable");
    // The list says the local provider is off rather than showing an empty list.
    s.get(&s.admin, "/v1/lab/internet/hosts")
        .await
        .assert_problem(409, "provider", "local-provider-unavailable");
}

#[tokio::test]
async fn only_the_superuser_may_add_internet_hosts_and_anyone_may_list_them() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let admin = s.token(&p, "admin").await;
    s.post(&admin, "/v1/lab/internet/hosts", json!({"name": "laptop"}))
        .await
        .assert_status_problem(403);
    s.delete(&admin, "/v1/lab/internet/hosts/laptop")
        .await
        .assert_status_problem(403);
    // Any token may list (here: told the local provider is off, not forbidden).
    s.get(&admin, "/v1/lab/internet/hosts")
        .await
        .assert_problem(409, "provider", "local-provider-unavailable");
}

#[tokio::test]
async fn the_internet_routes_and_access_fields_are_in_the_openapi_document() {
    let s = TestServer::start().await;
    let doc = s.get(&s.admin, "/v1/openapi.json").await.body;
    assert!(doc["paths"]["/v1/lab/internet/hosts"]["get"].is_object());
    assert!(doc["paths"]["/v1/lab/internet/hosts"]["post"].is_object());
    assert!(doc["paths"]["/v1/lab/internet/hosts/{name}"]["delete"].is_object());
    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [
        ("LabVpcCreate", "behind"),
        ("Cluster", "public_endpoint"),
        ("Cluster", "private_allowlist"),
        ("Cluster", "warnings"),
        ("ClusterUpdate", "private_allowlist"),
        ("Peering", "transit_routes"),
        ("PeeringCreate", "transit_routes"),
    ] {
        assert!(
            schemas[schema]["properties"][field].is_object(),
            "{schema}.{field} missing from the OpenAPI document"
        );
    }
}
