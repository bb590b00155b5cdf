//! Who may do what: bearer tokens, roles per project (viewer < operator < admin), the
//! superuser, and the rule that a project a token has no role in does not exist for it.

mod support;

use reqwest::Method;
use serde_json::json;
use support::{network_body, TestServer};

/// What each role gets for each kind of request, in order viewer, operator, admin.
#[tokio::test]
async fn the_role_matrix() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let roles = ["viewer", "operator", "admin"];
    // (kind of request, expected status for viewer, operator, admin)
    let mut seen: Vec<(&str, [u16; 3])> = Vec::new();
    let mut got = |kind: &'static str, i: usize, status: u16| {
        if let Some(row) = seen.iter_mut().find(|(k, _)| *k == kind) {
            row.1[i] = status;
        } else {
            let mut row = [0; 3];
            row[i] = status;
            seen.push((kind, row));
        }
    };
    for (i, role) in roles.iter().enumerate() {
        let token = s.token(&p, role).await;
        // Each role works on a network of its own, made by the superuser.
        let net = s
            .network(&p, role, &format!("10.{}.0.0/16", 50 + i))
            .await
            .id();
        let one = format!("/v1/projects/{p}/networks/{net}");
        let many = format!("/v1/projects/{p}/networks");

        got("read", i, s.get(&token, &one).await.status);
        got("list", i, s.get(&token, &many).await.status);
        got(
            "events",
            i,
            s.get(&token, &format!("/v1/projects/{p}/events"))
                .await
                .status,
        );
        let cidr = format!("10.{}.0.0/16", 60 + i);
        got(
            "create",
            i,
            s.post(&token, &many, network_body("new", &cidr))
                .await
                .status,
        );
        got(
            "update",
            i,
            s.patch(&token, &one, json!({"name": "renamed"}))
                .await
                .status,
        );
        got("delete", i, s.delete(&token, &one).await.status);
        let new_token = json!({"name": "ci", "role": "viewer"});
        got(
            "tokens",
            i,
            s.post(&token, &format!("/v1/projects/{p}/tokens"), new_token)
                .await
                .status,
        );
        got(
            "members",
            i,
            s.get(&token, &format!("/v1/projects/{p}/members"))
                .await
                .status,
        );
    }
    assert_eq!(
        seen,
        vec![
            ("read", [200, 200, 200]),
            ("list", [200, 200, 200]),
            ("events", [200, 200, 200]),
            ("create", [403, 201, 201]),
            ("update", [403, 200, 200]),
            ("delete", [403, 202, 202]),
            ("tokens", [403, 403, 201]),
            ("members", [403, 403, 200]),
        ]
    );
}

#[tokio::test]
async fn a_role_too_low_is_a_forbidden_problem() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let viewer = s.token(&p, "viewer").await;
    let r = s
        .post(
            &viewer,
            &format!("/v1/projects/{p}/networks"),
            network_body("n", "10.0.0.0/16"),
        )
        .await;
    r.assert_status_problem(403);
    assert_eq!(r.body["type"], "urn:isthmus:problem:forbidden");
}

#[tokio::test]
async fn another_projects_resources_do_not_exist_for_a_token() {
    let s = TestServer::start().await;
    let a = s.project("a").await;
    let b = s.project("b").await;
    let admin_of_a = s.token(&a, "admin").await;
    let b_net = s.network(&b, "b-main", "10.70.0.0/16").await.id();
    let b_one = format!("/v1/projects/{b}/networks/{b_net}");

    let answers = [
        (
            "GET project",
            s.get(&admin_of_a, &format!("/v1/projects/{b}")).await,
        ),
        ("GET network", s.get(&admin_of_a, &b_one).await),
        (
            "PATCH network",
            s.patch(&admin_of_a, &b_one, json!({"name": "mine"})).await,
        ),
        ("DELETE network", s.delete(&admin_of_a, &b_one).await),
        (
            "list networks",
            s.get(&admin_of_a, &format!("/v1/projects/{b}/networks"))
                .await,
        ),
        (
            "list peerings",
            s.get(&admin_of_a, &format!("/v1/projects/{b}/peerings"))
                .await,
        ),
        (
            "list clusters",
            s.get(&admin_of_a, &format!("/v1/projects/{b}/clusters"))
                .await,
        ),
        (
            "events",
            s.get(&admin_of_a, &format!("/v1/projects/{b}/events"))
                .await,
        ),
        (
            "members",
            s.get(&admin_of_a, &format!("/v1/projects/{b}/members"))
                .await,
        ),
        (
            "create network",
            s.post(
                &admin_of_a,
                &format!("/v1/projects/{b}/networks"),
                network_body("x", "10.71.0.0/16"),
            )
            .await,
        ),
        (
            "create token",
            s.post(
                &admin_of_a,
                &format!("/v1/projects/{b}/tokens"),
                json!({"name": "x", "role": "admin"}),
            )
            .await,
        ),
    ];
    for (what, r) in &answers {
        assert_eq!(r.status, 404, "{what}: {:#}", r.body);
        r.assert_status_problem(404);
    }
    // Nothing changed in b.
    let still = s.get(&s.admin, &b_one).await;
    assert_eq!(still.body["name"], "b-main");
    assert_eq!(
        still.body["status"].as_str().map(|st| st != "deleting"),
        Some(true)
    );

    // The project list shows a only.
    let list = s.get(&admin_of_a, "/v1/projects").await;
    let ids: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![a.as_str()]);
}

#[tokio::test]
async fn requests_without_a_known_token_are_unauthorized() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let path = format!("/v1/projects/{p}/networks");
    let none = s.raw(Method::GET, &path, None, None, &[]).await;
    none.assert_status_problem(401);
    assert_eq!(none.body["type"], "urn:isthmus:problem:unauthorized");
    let unknown = s
        .get("isth_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &path)
        .await;
    unknown.assert_status_problem(401);
    let not_bearer = s
        .raw(
            Method::GET,
            &path,
            None,
            None,
            &[("authorization", "Basic dXNlcjpwYXNz")],
        )
        .await;
    not_bearer.assert_status_problem(401);
    // The list of projects needs a token too.
    s.raw(Method::GET, "/v1/projects", None, None, &[])
        .await
        .assert_status_problem(401);
}

#[tokio::test]
async fn any_token_may_create_a_project_and_becomes_its_admin() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let viewer = s.token(&p, "viewer").await;
    let own = s
        .post(&viewer, "/v1/projects", json!({"name": "side-project"}))
        .await;
    assert_eq!(own.status, 201, "{:#}", own.body);
    let own_id = own.id();
    assert_eq!(
        own.header("location"),
        Some(format!("/v1/projects/{own_id}").as_str())
    );
    let members = s
        .get(&viewer, &format!("/v1/projects/{own_id}/members"))
        .await;
    assert_eq!(members.status, 200, "{:#}", members.body);
    assert_eq!(members.body[0]["role"], "admin");
    // ...and stays a viewer where it was one.
    let r = s
        .post(
            &viewer,
            &format!("/v1/projects/{p}/networks"),
            network_body("n", "10.0.0.0/16"),
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn a_new_tokens_secret_is_shown_once_and_works_with_its_role() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let r = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/tokens"),
            json!({"name": "ci", "role": "operator"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    let secret = r.body["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("isth_") && secret.len() == 45,
        "{secret}"
    );
    assert_eq!(r.body["role"], "operator");
    assert_eq!(r.body["token"]["superuser"], false);
    assert!(!r.body["token"].to_string().contains(secret));
    let created = s
        .post(
            secret,
            &format!("/v1/projects/{p}/networks"),
            network_body("n", "10.0.0.0/16"),
        )
        .await;
    assert_eq!(created.status, 201, "{:#}", created.body);
}

#[tokio::test]
async fn an_admin_can_change_and_remove_a_members_role() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let created = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/tokens"),
            json!({"name": "ci", "role": "viewer"}),
        )
        .await;
    let secret = created.body["secret"].as_str().unwrap().to_string();
    let token_id = created.body["token"]["id"].as_str().unwrap().to_string();
    let member = format!("/v1/projects/{p}/members/{token_id}");
    let nets = format!("/v1/projects/{p}/networks");

    assert_eq!(
        s.post(&secret, &nets, network_body("a", "10.1.0.0/16"))
            .await
            .status,
        403
    );
    let put = s
        .call(
            Method::PUT,
            &member,
            &s.admin,
            Some(json!({"role": "operator"})),
            &[],
        )
        .await;
    assert_eq!(put.status, 200, "{:#}", put.body);
    assert_eq!(put.body["role"], "operator");
    assert_eq!(
        s.post(&secret, &nets, network_body("a", "10.1.0.0/16"))
            .await
            .status,
        201
    );

    let removed = s.delete(&s.admin, &member).await;
    assert_eq!(removed.status, 204);
    assert_eq!(s.get(&secret, &nets).await.status, 404);
}

#[tokio::test]
async fn only_the_superuser_may_change_the_simulated_clouds() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let admin_of_p = s.token(&p, "admin").await;
    let fault = json!({"operation": "ensure_peering", "count": 1});
    s.post(&admin_of_p, "/v1/sim/faults", fault.clone())
        .await
        .assert_status_problem(403);
    assert_eq!(s.post(&s.admin, "/v1/sim/faults", fault).await.status, 204);
}
