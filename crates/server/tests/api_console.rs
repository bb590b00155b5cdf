//! The web console is served by the API server itself: the page and its assets need no
//! token, and `/v1/projects/{p}/me` tells a caller its own role so the console can hide
//! what the role may not do (the API still refuses it).

mod support;

use reqwest::Method;
use support::{network_body, TestServer};

#[tokio::test]
async fn the_console_page_and_its_assets_are_served_without_a_token() {
    let s = TestServer::start().await;
    let page = s.raw(Method::GET, "/", None, None, &[]).await;
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("script-src 'self'"));

    let script = s.raw(Method::GET, "/console/app.js", None, None, &[]).await;
    assert_eq!(script.status, 200);
    assert!(script
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    let style = s
        .raw(Method::GET, "/console/style.css", None, None, &[])
        .await;
    assert!(style
        .header("content-type")
        .unwrap()
        .starts_with("text/css"));

    let missing = s
        .raw(Method::GET, "/console/nope.js", None, None, &[])
        .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn me_reports_the_callers_role_in_the_project() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    for role in ["viewer", "operator", "admin"] {
        let token = s.token(&p, role).await;
        let me = s.get(&token, &format!("/v1/projects/{p}/me")).await;
        assert_eq!(me.status, 200, "{:#}", me.body);
        assert_eq!(me.body["role"], role);
        assert_eq!(me.body["project_id"], p.as_str());
    }
    // The superuser is an admin everywhere.
    let me = s.get(&s.admin, &format!("/v1/projects/{p}/me")).await;
    assert_eq!(me.body["role"], "admin");
}

#[tokio::test]
async fn a_viewer_forging_a_write_the_console_hides_still_gets_403() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let viewer = s.token(&p, "viewer").await;
    let forged = s
        .post(
            &viewer,
            &format!("/v1/projects/{p}/networks"),
            network_body("sneaky", "10.77.0.0/16"),
        )
        .await;
    assert_eq!(forged.status, 403, "{:#}", forged.body);

    // A token with no role in another project does not even learn it exists.
    let other = s.project("other").await;
    let me = s.get(&viewer, &format!("/v1/projects/{other}/me")).await;
    assert_eq!(me.status, 404);
}

#[tokio::test]
async fn the_console_draws_every_registered_kind_with_the_settled_states_of_the_cli() {
    let s = TestServer::start().await;
    let r = s
        .raw(Method::GET, "/console/kinds.json", None, None, &[])
        .await;
    assert_eq!(r.status, 200);
    let kinds = r.body["kinds"].as_array().expect("kinds");
    let plurals: Vec<&str> = kinds
        .iter()
        .map(|k| k["plural"].as_str().unwrap())
        .collect();
    assert_eq!(
        plurals,
        [
            "networks",
            "peerings",
            "clusters",
            "endpoint-services",
            "migrations",
            "vpn-gateways",
            "vpn-clients"
        ]
    );
    for kind in kinds {
        // `--wait` fails on `error` for every kind; the console's badge says the same.
        assert_eq!(kind["phases"]["error"], "failed", "{}", kind["name"]);
        assert_eq!(kind["phases"]["deleting"], "moving", "{}", kind["name"]);
        assert!(!kind["columns"].as_array().unwrap().is_empty());
        assert!(!kind["form"].as_array().unwrap().is_empty());
    }
    let peering = &kinds[1];
    assert_eq!(peering["phases"]["pending_acceptance"], "done");
    assert_eq!(peering["owner"], "network");
    assert_eq!(peering["owner_field"], "network_id");
    assert_eq!(kinds[2]["parts"]["node"]["running"], "done");
}
