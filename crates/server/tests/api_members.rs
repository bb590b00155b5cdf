//! A project's last admin cannot leave it without an admin: removing or demoting it is a
//! 409 problem+json that names the rule; with a second admin, it may go.

mod support;

use reqwest::Method;
use serde_json::json;
use support::TestServer;

#[tokio::test]
async fn the_last_admin_cannot_remove_or_demote_itself() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let created = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/tokens"),
            json!({"name": "owner", "role": "admin"}),
        )
        .await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    let owner = created.body["secret"].as_str().unwrap().to_string();
    let owner_id = created.body["token"]["id"].as_str().unwrap().to_string();
    let me = format!("/v1/projects/{p}/members/{owner_id}");

    let removed = s.delete(&owner, &me).await;
    removed.assert_problem(409, "token_id", "last-admin");
    let demoted = s
        .call(
            Method::PUT,
            &me,
            &owner,
            Some(json!({"role": "viewer"})),
            &[],
        )
        .await;
    demoted.assert_problem(409, "token_id", "last-admin");
    // Not by the superuser either: the project would be left without an admin.
    s.delete(&s.admin, &me)
        .await
        .assert_problem(409, "token_id", "last-admin");
    // Still an admin.
    assert_eq!(
        s.get(&owner, &format!("/v1/projects/{p}/members"))
            .await
            .status,
        200
    );

    // With a second admin, the first may leave.
    let second = s.token(&p, "admin").await;
    let removed = s.delete(&owner, &me).await;
    assert_eq!(removed.status, 204, "{:#}", removed.body);
    let members = s.get(&second, &format!("/v1/projects/{p}/members")).await;
    assert_eq!(members.status, 200);
    assert_eq!(
        members.body.as_array().unwrap().len(),
        1,
        "{:#}",
        members.body
    );
}
