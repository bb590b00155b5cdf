//! Every API path takes a name or an id: `/v1/projects/{p}/networks/web` is the network
//! called `web`. Names are unique per kind in a project (409 `name-taken` on `name`), and
//! no name may have the form of an id (422 `id-form`), so a path segment is never
//! ambiguous.

mod support;

use serde_json::json;
use support::{network_body, peering_body, TestServer};

#[tokio::test]
async fn a_network_is_read_changed_and_deleted_by_its_name() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let id = s.network(&p, "web", "10.1.0.0/16").await.id();
    let base = format!("/v1/projects/{p}/networks");

    let by_name = s.get(&s.admin, &format!("{base}/web")).await;
    assert_eq!(by_name.status, 200, "{:#}", by_name.body);
    assert_eq!(by_name.id(), id);
    assert_eq!(s.get(&s.admin, &format!("{base}/{id}")).await.id(), id);

    let renamed = s
        .patch(&s.admin, &format!("{base}/web"), json!({"name": "front"}))
        .await;
    assert_eq!(renamed.status, 200, "{:#}", renamed.body);
    assert_eq!(renamed.body["name"], "front");
    // The old name names nothing now.
    s.get(&s.admin, &format!("{base}/web"))
        .await
        .assert_status_problem(404);

    let deleting = s.delete(&s.admin, &format!("{base}/front")).await;
    assert_eq!(deleting.status, 202, "{:#}", deleting.body);
    assert_eq!(deleting.id(), id);
}

#[tokio::test]
async fn a_second_object_of_a_name_is_a_conflict_naming_the_field() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let first = s.network(&p, "web", "10.1.0.0/16").await.id();
    let again = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/networks"),
            network_body("web", "10.2.0.0/16"),
        )
        .await;
    again.assert_problem(409, "name", "name-taken");
    let detail = again.body["detail"].as_str().unwrap();
    assert!(detail.contains(&first), "{detail}");

    // A rename onto it too.
    let other = s.network(&p, "db", "10.3.0.0/16").await.id();
    s.patch(
        &s.admin,
        &format!("/v1/projects/{p}/networks/{other}"),
        json!({"name": "web"}),
    )
    .await
    .assert_problem(409, "name", "name-taken");

    // A name in an id's form would make paths ambiguous.
    s.post(
        &s.admin,
        &format!("/v1/projects/{p}/networks"),
        network_body("cs2g6h2u1s9n0h1k6f3g", "10.4.0.0/16"),
    )
    .await
    .assert_problem(422, "name", "id-form");
}

#[tokio::test]
async fn bespoke_routes_take_names_too() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let net = s.network(&p, "web", "10.1.0.0/16").await.id();
    let peering = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/peerings"),
            peering_body("to-customer", &net, &["192.168.0.0/24"]),
        )
        .await;
    assert_eq!(peering.status, 201, "{:#}", peering.body);
    let refreshed = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/peerings/to-customer/refresh"),
            json!({}),
        )
        .await;
    assert_eq!(refreshed.status, 202, "{:#}", refreshed.body);
    assert_eq!(refreshed.id(), peering.id());
    // A name with a space, escaped in the path.
    let spaced = s.network(&p, "blue team", "10.2.0.0/16").await.id();
    assert_eq!(
        s.get(&s.admin, &format!("/v1/projects/{p}/networks/blue%20team"))
            .await
            .id(),
        spaced
    );
}
