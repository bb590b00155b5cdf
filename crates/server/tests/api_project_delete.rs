//! `DELETE /v1/projects/{p}` (issue 17, item 11): admin only; an empty project goes (204)
//! with its memberships, and its events stay in the log; one with live objects is a 409
//! naming them, unless `cascade=true`, which marks them all for deletion (202, listing
//! what remains) until a later delete finds the project empty.

mod support;

use support::{cluster_body, TestServer};

#[tokio::test]
async fn only_an_admin_deletes_and_an_empty_project_goes_with_its_roles() {
    let s = TestServer::start().await;
    let p = s.project("short-lived").await;
    let operator = s.token(&p, "operator").await;
    let refused = s.delete(&operator, &format!("/v1/projects/{p}")).await;
    refused.assert_status_problem(403);

    let gone = s.delete(&s.admin, &format!("/v1/projects/{p}")).await;
    assert_eq!(gone.status, 204, "{:#}", gone.body);
    s.get(&s.admin, &format!("/v1/projects/{p}"))
        .await
        .assert_status_problem(404);
    // The operator's role went with it: the project is no longer among its projects.
    let listed = s.get(&operator, "/v1/projects").await;
    assert_eq!(listed.status, 200);
    assert!(
        listed.body["items"].as_array().unwrap().is_empty(),
        "{:#}",
        listed.body
    );
    // The log keeps the project's history, ending with its delete.
    let events = s.state().store.events_after(0, 1000).await.unwrap();
    let last = events
        .iter()
        .rfind(|e| e.resource_id == p)
        .expect("an event of the project");
    assert_eq!(last.action, "project.delete");
}

#[tokio::test]
async fn live_objects_refuse_the_delete_by_name_unless_cascade_takes_them_all() {
    let s = TestServer::start().await;
    let p = s.project("full").await;
    let net = s.network(&p, "prod", "10.1.0.0/16").await.id();
    s.wait_for_status(&format!("/v1/projects/{p}/networks/{net}"), &["active"])
        .await;
    let cluster = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/clusters"),
            cluster_body("orders", &net, "probe"),
        )
        .await;
    assert_eq!(cluster.status, 201, "{:#}", cluster.body);

    let refused = s.delete(&s.admin, &format!("/v1/projects/{p}")).await;
    refused.assert_status_problem(409);
    let detail = refused.body["detail"].as_str().unwrap();
    for named in ["network 'prod'", "cluster 'orders'", "cascade=true"] {
        assert!(detail.contains(named), "{named} in {detail}");
    }
    assert_eq!(refused.body["errors"][0]["rule"], "project-not-empty");

    let path = format!("/v1/projects/{p}?cascade=true");
    let first = s.delete(&s.admin, &path).await;
    assert_eq!(first.status, 202, "{:#}", first.body);
    let remaining: Vec<&str> = first.body["remaining"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(remaining.contains(&"orders"), "{remaining:?}");
    // Repeated until the controller has removed everything: then 204.
    let mut last = first;
    for _ in 0..600 {
        if last.status == 204 {
            break;
        }
        assert_eq!(last.status, 202, "{:#}", last.body);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        last = s.delete(&s.admin, &path).await;
    }
    assert_eq!(last.status, 204, "{:#}", last.body);
    s.get(&s.admin, &format!("/v1/projects/{p}"))
        .await
        .assert_status_problem(404);
}
