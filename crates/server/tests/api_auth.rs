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
            s.post(&token, &many, network_body(&format!("new-{role}"), &cidr))
                .await
                .status,
        );
        got(
            "update",
            i,
            s.patch(&token, &one, json!({"name": format!("renamed-{role}")}))
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
    // Its only role gone, the token itself is revoked.
    assert_eq!(s.get(&secret, &nets).await.status, 401);
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

/// Creates a token with `role` in `project`; returns (id, secret).
async fn token_with_id(s: &TestServer, project: &str, role: &str) -> (String, String) {
    let r = s
        .post(
            &s.admin,
            &format!("/v1/projects/{project}/tokens"),
            json!({"name": format!("{role} token"), "role": role}),
        )
        .await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    (
        r.body["token"]["id"].as_str().unwrap().to_string(),
        r.body["secret"].as_str().unwrap().to_string(),
    )
}

fn assert_unauthorized_because(r: &support::Reply, why: &str) {
    r.assert_status_problem(401);
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(why), "{detail}");
}

#[tokio::test]
async fn a_revoked_token_answers_401_at_once() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let (id, secret) = token_with_id(&s, &p, "operator").await;
    let nets = format!("/v1/projects/{p}/networks");
    assert_eq!(s.get(&secret, &nets).await.status, 200);

    let list = s.get(&s.admin, &format!("/v1/projects/{p}/tokens")).await;
    assert_eq!(list.status, 200, "{:#}", list.body);
    let listed = list.body.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{:#}", list.body);
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["role"], "operator");
    assert!(
        !list.body.to_string().contains(&secret),
        "no secret in a list"
    );

    let revoked = s
        .delete(&s.admin, &format!("/v1/projects/{p}/tokens/{id}"))
        .await;
    assert_eq!(revoked.status, 204, "{:#}", revoked.body);
    // The very next request is refused: nothing serves the token from a cache.
    assert_unauthorized_because(&s.get(&secret, &nets).await, "revoked");
    assert_unauthorized_because(&s.get(&secret, "/v1/projects").await, "revoked");
    let after = s.get(&s.admin, &format!("/v1/projects/{p}/tokens")).await;
    assert_eq!(after.body, json!([]));
    // It has no role here any more: a second revoke finds nothing.
    s.delete(&s.admin, &format!("/v1/projects/{p}/tokens/{id}"))
        .await
        .assert_status_problem(404);
    // The superuser still sees it, revoked.
    let all = s.get(&s.admin, "/v1/tokens").await;
    assert_eq!(all.status, 200, "{:#}", all.body);
    let mine = all
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .expect("listed");
    assert!(mine["revoked_at"].is_string(), "{mine:#}");
}

#[tokio::test]
async fn removing_a_member_revokes_a_token_left_without_any_role() {
    let s = TestServer::start().await;
    let a = s.project("a").await;
    let b = s.project("b").await;
    let (only_a, only_a_secret) = token_with_id(&s, &a, "viewer").await;
    let (both, both_secret) = token_with_id(&s, &a, "viewer").await;
    let put = s
        .call(
            Method::PUT,
            &format!("/v1/projects/{b}/members/{both}"),
            &s.admin,
            Some(json!({"role": "viewer"})),
            &[],
        )
        .await;
    assert_eq!(put.status, 200, "{:#}", put.body);

    for id in [&only_a, &both] {
        let r = s
            .delete(&s.admin, &format!("/v1/projects/{a}/members/{id}"))
            .await;
        assert_eq!(r.status, 204, "{:#}", r.body);
    }
    // Left with no role: revoked, not even able to list projects or make one.
    assert_unauthorized_because(&s.get(&only_a_secret, "/v1/projects").await, "revoked");
    assert_unauthorized_because(
        &s.post(&only_a_secret, "/v1/projects", json!({"name": "mine"}))
            .await,
        "revoked",
    );
    // Still a member of b: works there, and only there.
    assert_eq!(
        s.get(&both_secret, &format!("/v1/projects/{b}/networks"))
            .await
            .status,
        200
    );
    assert_eq!(
        s.get(&both_secret, &format!("/v1/projects/{a}/networks"))
            .await
            .status,
        404
    );
    // A revoked token cannot be given a role again.
    let again = s
        .call(
            Method::PUT,
            &format!("/v1/projects/{a}/members/{only_a}"),
            &s.admin,
            Some(json!({"role": "admin"})),
            &[],
        )
        .await;
    again.assert_status_problem(409);
}

#[tokio::test]
async fn a_token_may_expire_and_then_answers_401() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let tokens = format!("/v1/projects/{p}/tokens");
    for bad in [0, 59, 315_360_001u64] {
        s.post(
            &s.admin,
            &tokens,
            json!({"name": "ci", "role": "viewer", "expires_in_seconds": bad}),
        )
        .await
        .assert_problem(422, "expires_in_seconds", "range");
    }
    let before = chrono::Utc::now();
    let r = s
        .post(
            &s.admin,
            &tokens,
            json!({"name": "ci", "role": "viewer", "expires_in_seconds": 3600}),
        )
        .await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    let expires: chrono::DateTime<chrono::Utc> = r.body["token"]["expires_at"]
        .as_str()
        .expect("expires_at")
        .parse()
        .unwrap();
    let lifetime = expires - before;
    assert!(
        lifetime >= chrono::Duration::seconds(3600) && lifetime < chrono::Duration::seconds(3700),
        "{lifetime}"
    );
    let secret = r.body["secret"].as_str().unwrap();
    assert_eq!(s.get(secret, "/v1/projects").await.status, 200);

    // One whose time has come (made in the store: the API only takes future instants).
    let store = s.state().store.clone();
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    let project = p.parse().unwrap();
    store
        .create_expiring_token(
            &isthmus_store::Actor("test".into()),
            "old",
            &isthmus_server::auth::hash_secret("isth_expired"),
            (project, isthmus_core::resources::Role::Admin),
            past,
        )
        .await
        .unwrap();
    assert_unauthorized_because(&s.get("isth_expired", "/v1/projects").await, "expired");
}

#[tokio::test]
async fn rotating_the_superuser_token_ends_the_old_secret_and_rewrites_the_admin_token_file() {
    let mut s = TestServer::start().await;
    let old = s.admin.clone();
    let r = s.post(&old, "/v1/tokens/self/rotate", json!({})).await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let new = r.body["secret"].as_str().unwrap().to_string();
    assert!(new.starts_with("isth_") && new != old);
    assert_eq!(r.body["token"]["superuser"], true);
    let file = s.data_dir.join("admin-token");
    assert_eq!(
        r.body["admin_token_file"].as_str(),
        Some(file.to_str().unwrap())
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), new);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    assert_unauthorized_because(&s.get(&old, "/v1/projects").await, "not known");
    s.admin = new;
    let p = s.project("after-rotation").await;
    assert!(!p.is_empty());
}

#[tokio::test]
async fn rotating_another_token_leaves_the_admin_token_file_alone() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let (id, old) = token_with_id(&s, &p, "viewer").await;
    let r = s
        .post(&s.admin, &format!("/v1/tokens/{id}/rotate"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert_eq!(r.body["admin_token_file"], serde_json::Value::Null);
    let new = r.body["secret"].as_str().unwrap();
    assert_unauthorized_because(&s.get(&old, "/v1/projects").await, "not known");
    assert_eq!(
        s.get(new, &format!("/v1/projects/{p}/networks"))
            .await
            .status,
        200
    );
    let file = s.data_dir.join("admin-token");
    assert_eq!(std::fs::read_to_string(file).unwrap().trim(), s.admin);
}

#[tokio::test]
async fn a_new_secret_is_never_cached() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let r = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/tokens"),
            json!({"name": "ci", "role": "viewer"}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn only_the_superuser_lists_revokes_and_rotates_across_the_installation() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let (admin_id, admin_of_p) = token_with_id(&s, &p, "admin").await;
    let (viewer_id, _) = token_with_id(&s, &p, "viewer").await;
    s.get(&admin_of_p, "/v1/tokens")
        .await
        .assert_status_problem(403);
    s.post(&admin_of_p, "/v1/tokens/self/rotate", json!({}))
        .await
        .assert_status_problem(403);
    s.delete(&admin_of_p, &format!("/v1/tokens/{viewer_id}"))
        .await
        .assert_status_problem(403);
    // A project's viewer cannot revoke its admin.
    let (_, viewer) = token_with_id(&s, &p, "viewer").await;
    s.delete(&viewer, &format!("/v1/projects/{p}/tokens/{admin_id}"))
        .await
        .assert_status_problem(403);
    // The superuser token is rotated, never revoked (that could lock everyone out).
    let all = s.get(&s.admin, "/v1/tokens").await;
    let root = all
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["superuser"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s.delete(&s.admin, &format!("/v1/tokens/{root}")).await;
    r.assert_status_problem(409);
    assert_eq!(s.get(&s.admin, "/v1/projects").await.status, 200);
    // The superuser revokes any other token.
    assert_eq!(
        s.delete(&s.admin, &format!("/v1/tokens/{admin_id}"))
            .await
            .status,
        204
    );
    assert_unauthorized_because(&s.get(&admin_of_p, "/v1/projects").await, "revoked");
}

#[tokio::test]
async fn an_admin_revokes_only_tokens_of_projects_it_administers() {
    let s = TestServer::start().await;
    let a = s.project("a").await;
    let b = s.project("b").await;
    let (_, admin_of_a) = token_with_id(&s, &a, "admin").await;
    let (shared, _) = token_with_id(&s, &a, "viewer").await;
    let put = s
        .call(
            Method::PUT,
            &format!("/v1/projects/{b}/members/{shared}"),
            &s.admin,
            Some(json!({"role": "viewer"})),
            &[],
        )
        .await;
    assert_eq!(put.status, 200);
    s.delete(&admin_of_a, &format!("/v1/projects/{a}/tokens/{shared}"))
        .await
        .assert_status_problem(403);
    // Removing it from a is the admin's to do; b keeps it.
    let removed = s
        .delete(&admin_of_a, &format!("/v1/projects/{a}/members/{shared}"))
        .await;
    assert_eq!(removed.status, 204);
}

/// Everything the server logs (at every level) while tokens are made, used and rotated.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    // Process-wide (a thread's own default loses callsites other tests cached as unused);
    // no other test of this binary sets one.
    tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");

    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let (_, secret) = token_with_id(&s, &p, "operator").await;
    assert_eq!(s.get(&secret, "/v1/projects").await.status, 200);
    let rotated = s.post(&s.admin, "/v1/tokens/self/rotate", json!({})).await;
    assert_eq!(rotated.status, 200);
    let new = rotated.body["secret"].as_str().unwrap().to_string();
    assert_eq!(s.get(&new, "/v1/tokens").await.status, 200);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("/v1/tokens/self/rotate"),
        "the requests were logged: {logs}"
    );
    for (what, value) in [
        ("a new token's secret", &secret),
        ("the first superuser secret", &s.admin),
        ("a rotated secret", &new),
    ] {
        assert!(!logs.contains(value.as_str()), "{what} is in the logs");
    }
}
