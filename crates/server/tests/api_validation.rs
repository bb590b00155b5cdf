//! Every kind of bad request comes back as an RFC 9457 problem that names the field and
//! the rule it broke, with the status a client can act on.

mod support;

use reqwest::Method;
use serde_json::json;
use support::{cluster_body, network_body, peering_body, TestServer};

#[tokio::test]
async fn a_cidr_with_host_bits_is_refused_with_the_network_it_meant() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let r = s.network(&p, "main", "172.29.98.7/24").await;
    let e = r.assert_problem(422, "cidr_block", "host-bits-set");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("did you mean 172.29.98.0/24"));
    assert_eq!(r.body["type"], "urn:isthmus:problem:validation");
}

#[tokio::test]
async fn a_public_cidr_is_refused_as_outside_the_private_ranges() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    s.network(&p, "main", "8.8.8.0/24")
        .await
        .assert_problem(422, "cidr_block", "private-range");
}

#[tokio::test]
async fn a_route_overlapping_the_network_names_the_route() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let net = s.network(&p, "main", "10.10.0.0/16").await.id();
    let r = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/peerings"),
            peering_body("to-vpc", &net, &["192.168.0.0/24", "10.10.4.0/24"]),
        )
        .await;
    r.assert_problem(422, "routes[1]", "overlaps-network");
}

#[tokio::test]
async fn an_unknown_engine_is_refused_naming_the_engines_there_are() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let net = s.network(&p, "main", "10.10.0.0/16").await.id();
    let r = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/clusters"),
            cluster_body("db", &net, "oracle"),
        )
        .await;
    let e = r.assert_problem(422, "engine", "known-engine");
    assert!(e["message"].as_str().unwrap().contains("probe"));
}

#[tokio::test]
async fn body_shape_errors_name_the_field_serde_complains_about() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let path = format!("/v1/projects/{p}/networks");

    let mut unknown_field = network_body("main", "10.0.0.0/16");
    unknown_field["colour"] = json!("blue");
    s.post(&s.admin, &path, unknown_field)
        .await
        .assert_problem(422, "colour", "unknown-field");

    let mut unknown_provider = network_body("main", "10.0.0.0/16");
    unknown_provider["provider"] = json!("ibm");
    s.post(&s.admin, &path, unknown_provider)
        .await
        .assert_problem(422, "provider", "unknown-value");

    let missing = json!({ "name": "main", "provider": "aws", "region": "us-east-1" });
    s.post(&s.admin, &path, missing)
        .await
        .assert_problem(422, "cidr_block", "required");
}

#[tokio::test]
async fn broken_json_is_a_validation_problem_of_the_body() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let r = s
        .raw(
            Method::POST,
            &format!("/v1/projects/{p}/networks"),
            Some(&s.admin),
            Some(br#"{"name": "main", "provider": "#.to_vec()),
            &[],
        )
        .await;
    r.assert_problem(422, "body", "json-syntax");
}

#[tokio::test]
async fn an_overlapping_network_is_a_conflict_that_names_the_other_network() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let first = s.network(&p, "alpha", "10.0.0.0/16").await.id();
    let r = s.network(&p, "beta", "10.0.128.0/17").await;
    r.assert_problem(409, "cidr_block", "network-overlap");
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("alpha") && detail.contains(&first),
        "{detail}"
    );
}

#[tokio::test]
async fn a_network_with_clusters_cannot_be_deleted_and_the_conflict_names_them() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let net = s.network(&p, "main", "10.20.0.0/16").await.id();
    let cluster = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/clusters"),
            cluster_body("orders-db", &net, "probe"),
        )
        .await;
    assert_eq!(cluster.status, 201, "{:#}", cluster.body);
    let r = s
        .delete(&s.admin, &format!("/v1/projects/{p}/networks/{net}"))
        .await;
    r.assert_problem(409, "", "network-has-clusters");
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("orders-db") && detail.contains(&cluster.id()),
        "{detail}"
    );
}

#[tokio::test]
async fn a_stale_if_match_is_refused_and_leaves_the_network_unchanged() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let created = s.network(&p, "before", "10.30.0.0/16").await;
    assert!(created.header("etag").is_some(), "ETag on create");
    let path = format!("/v1/projects/{p}/networks/{}", created.id());
    // The controller's status writes move the version too: start from the settled network.
    let settled = s.wait_for_status(&path, &["active"]).await;
    let etag = settled.header("etag").expect("ETag on get").to_string();

    let renamed = s
        .call(
            Method::PATCH,
            &path,
            &s.admin,
            Some(json!({"name": "after"})),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(renamed.status, 200, "{:#}", renamed.body);
    assert_ne!(
        renamed.header("etag"),
        Some(etag.as_str()),
        "the version moved on"
    );

    // The first ETag is stale now.
    let stale = s
        .call(
            Method::PATCH,
            &path,
            &s.admin,
            Some(json!({"name": "lost"})),
            &[("if-match", &etag)],
        )
        .await;
    stale.assert_status_problem(412);
    assert_eq!(
        stale.body["type"],
        "urn:isthmus:problem:precondition-failed"
    );
    let stale_delete = s
        .call(
            Method::DELETE,
            &path,
            &s.admin,
            None,
            &[("if-match", &etag)],
        )
        .await;
    stale_delete.assert_status_problem(412);

    // Neither stale write happened (the controller may still move status and version).
    let now = s.get(&s.admin, &path).await;
    assert_eq!(now.body["name"], "after");
    assert_ne!(now.body["status"], "deleting");
}

#[tokio::test]
async fn an_immutable_field_in_an_update_is_named() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let id = s.network(&p, "main", "10.40.0.0/16").await.id();
    s.patch(
        &s.admin,
        &format!("/v1/projects/{p}/networks/{id}"),
        json!({"cidr_block": "10.41.0.0/16"}),
    )
    .await
    .assert_problem(422, "cidr_block", "immutable");
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_as_too_large() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let mut big = network_body("main", "10.0.0.0/16");
    big["name"] = json!("x".repeat(1024 * 1024 + 1));
    let r = s
        .post(&s.admin, &format!("/v1/projects/{p}/networks"), big)
        .await;
    r.assert_status_problem(413);
    assert_eq!(r.body["type"], "urn:isthmus:problem:payload-too-large");
    let list = s.get(&s.admin, &format!("/v1/projects/{p}/networks")).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn names_with_invisible_or_direction_changing_characters_are_refused() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let net = s.network(&p, "main", "10.0.0.0/16").await.id();
    for bad in [
        "gpj.\u{202e}exe",
        "zero\u{200b}width",
        "\u{2066}isolated\u{2069}",
        "\u{feff}bom",
        "line\u{2028}break",
    ] {
        let answers = [
            s.post(&s.admin, "/v1/projects", json!({ "name": bad }))
                .await,
            s.network(&p, bad, "10.1.0.0/16").await,
            s.patch(
                &s.admin,
                &format!("/v1/projects/{p}/networks/{net}"),
                json!({ "name": bad }),
            )
            .await,
            s.post(
                &s.admin,
                &format!("/v1/projects/{p}/clusters"),
                cluster_body(bad, &net, "probe"),
            )
            .await,
            s.post(
                &s.admin,
                &format!("/v1/projects/{p}/peerings"),
                peering_body(bad, &net, &["192.168.0.0/16"]),
            )
            .await,
            s.post(
                &s.admin,
                &format!("/v1/projects/{p}/tokens"),
                json!({ "name": bad, "role": "viewer" }),
            )
            .await,
        ];
        for r in &answers {
            let e = r.assert_problem(422, "name", "printable");
            assert!(e["message"].as_str().unwrap().contains("U+"), "{bad:?}");
        }
    }
    // Nothing was stored under such a name.
    let nets = s.get(&s.admin, &format!("/v1/projects/{p}/networks")).await;
    assert_eq!(nets.body["items"].as_array().unwrap().len(), 1);
}

/// A network's delete never takes its peerings silently: a 409 names them unless the
/// caller says `cascade=true`.
#[tokio::test]
async fn a_network_with_peerings_is_deleted_only_with_cascade_and_the_conflict_names_them() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let net = s.network(&p, "main", "10.20.0.0/16").await.id();
    let peering = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/peerings"),
            peering_body("to-app", &net, &["192.168.0.0/24"]),
        )
        .await;
    assert_eq!(peering.status, 201, "{:#}", peering.body);
    let path = format!("/v1/projects/{p}/networks/{net}");

    let r = s.delete(&s.admin, &path).await;
    r.assert_problem(409, "", "network-has-peerings");
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("to-app") && detail.contains(&peering.id()),
        "{detail}"
    );
    assert!(detail.contains("cascade=true"), "{detail}");
    let untouched = s.get(&s.admin, &path).await;
    assert_ne!(untouched.body["status"], "deleting", "{:#}", untouched.body);

    let r = s.delete(&s.admin, &format!("{path}?cascade=maybe")).await;
    r.assert_problem(422, "cascade", "boolean");

    let r = s.delete(&s.admin, &format!("{path}?cascade=true")).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    let peering_now = s
        .get(
            &s.admin,
            &format!("/v1/projects/{p}/peerings/{}", peering.id()),
        )
        .await;
    assert!(
        ["deleting", "deleted"].contains(&peering_now.body["status"].as_str().unwrap()),
        "{:#}",
        peering_now.body
    );
}
