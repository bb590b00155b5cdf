//! Public allow-list entries may carry an expiry (`expires_at`); once it passes, the
//! server removes the entry itself, audited as a `cluster.update` by `allowlist-expiry`.
//! Bare addresses are single hosts (/32).

mod support;

use serde_json::{json, Value};
use support::{cluster_body, TestServer};

#[tokio::test]
async fn an_expired_public_entry_is_removed_and_the_removal_is_audited() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let net = s.network(&p, "main", "10.20.0.0/16").await.id();
    let created = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/clusters"),
            cluster_body("orders", &net, "probe"),
        )
        .await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    let path = format!("/v1/projects/{p}/clusters/{}", created.id());
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let r = s
        .patch(
            &s.admin,
            &path,
            json!({ "public_access": { "enabled": true, "allowlist": [
                { "cidr": "203.0.113.0/24", "comment": "office" },
                { "cidr": "198.51.100.7", "comment": "visitor", "expires_at": soon },
            ] } }),
        )
        .await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    let list = &r.body["public_access"]["allowlist"];
    assert_eq!(
        list[1]["cidr"], "198.51.100.7/32",
        "a bare address is its /32"
    );
    assert!(list[1]["expires_at"].is_string(), "{list:#}");
    assert!(list[0].get("expires_at").is_none(), "no expiry: not shown");

    // Polled, not timed: the entry goes once its time passed, the other stays.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let left = loop {
        let now = s.get(&s.admin, &path).await.body;
        if now["public_access"]["allowlist"].as_array().unwrap().len() == 1 {
            break now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never expired: {now:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(
        left["public_access"]["allowlist"][0]["cidr"],
        "203.0.113.0/24"
    );
    assert_eq!(left["public_access"]["enabled"], true);

    let events = s
        .get(&s.admin, &format!("/v1/projects/{p}/events?limit=500"))
        .await;
    let removal: &Value = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["actor"] == "allowlist-expiry")
        .unwrap_or_else(|| panic!("no audited removal: {:#}", events.body));
    assert_eq!(removal["action"], "cluster.update");
    assert_eq!(
        removal["before"]["public_access"]["allowlist"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_private_entry_with_an_expiry_is_refused_naming_why() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let net = s.network(&p, "main", "10.20.0.0/16").await.id();
    let mut body = cluster_body("orders", &net, "probe");
    body["private_allowlist"] = json!([
        { "cidr": "192.168.1.10", "expires_at": "2099-01-01T00:00:00Z" }
    ]);
    let r = s
        .post(&s.admin, &format!("/v1/projects/{p}/clusters"), body)
        .await;
    let error = r.assert_problem(422, "private_allowlist[0].expires_at", "no-expiry");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("every peered source"),
        "{error:#}"
    );
}
