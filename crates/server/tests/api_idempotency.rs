//! An `Idempotency-Key` makes a retried create safe: the same key and body give back the
//! first result, a different body with the same key is refused.

mod support;

use reqwest::Method;
use serde_json::json;
use support::{network_body, TestServer};

#[tokio::test]
async fn the_same_key_and_body_create_one_network() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let path = format!("/v1/projects/{p}/networks");
    let body = network_body("main", "10.0.0.0/16");
    let key = [("idempotency-key", "create-main-1")];

    let first = s
        .call(Method::POST, &path, &s.admin, Some(body.clone()), &key)
        .await;
    assert_eq!(first.status, 201, "{:#}", first.body);
    let again = s
        .call(Method::POST, &path, &s.admin, Some(body), &key)
        .await;
    assert!([200, 201].contains(&again.status), "{:#}", again.body);
    assert_eq!(again.id(), first.id());

    let list = s.get(&s.admin, &path).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let path = format!("/v1/projects/{p}/networks");
    let key = [("idempotency-key", "create-main-2")];

    let first = s
        .call(
            Method::POST,
            &path,
            &s.admin,
            Some(network_body("main", "10.0.0.0/16")),
            &key,
        )
        .await;
    assert_eq!(first.status, 201, "{:#}", first.body);
    let other = s
        .call(
            Method::POST,
            &path,
            &s.admin,
            Some(network_body("other", "10.9.0.0/16")),
            &key,
        )
        .await;
    other.assert_problem(422, "Idempotency-Key", "idempotency-mismatch");
    assert_eq!(
        other.body["type"],
        "urn:isthmus:problem:idempotency-mismatch"
    );

    let list = s.get(&s.admin, &path).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn keys_are_scoped_to_the_token_that_sent_them() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let operator = s.token(&p, "operator").await;
    let path = format!("/v1/projects/{p}/networks");
    let key = [("idempotency-key", "shared-key")];

    let mine = s
        .call(
            Method::POST,
            &path,
            &s.admin,
            Some(network_body("a", "10.0.0.0/16")),
            &key,
        )
        .await;
    let theirs = s
        .call(
            Method::POST,
            &path,
            &operator,
            Some(network_body("b", "10.1.0.0/16")),
            &key,
        )
        .await;
    assert_eq!(
        (mine.status, theirs.status),
        (201, 201),
        "{:#}",
        theirs.body
    );
    assert_ne!(mine.id(), theirs.id());
}

#[tokio::test]
async fn creates_without_a_key_are_not_deduplicated() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let path = format!("/v1/projects/{p}/clusters");
    let net = s.network(&p, "main", "10.0.0.0/16").await.id();
    // The same request but for the name (names are unique per kind in a project).
    let body = |name: &str| json!({"name": name, "network_id": net, "engine": "probe", "topology": "single-node"});
    let a = s.post(&s.admin, &path, body("db")).await;
    let b = s.post(&s.admin, &path, body("db2")).await;
    assert_eq!((a.status, b.status), (201, 201));
    assert_ne!(a.id(), b.id());
}
