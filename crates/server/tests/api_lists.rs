//! Lists are paged with an opaque cursor; the audit log records every write with its
//! actor and the resource before and after.

mod support;

use std::collections::HashSet;

use serde_json::{json, Value};
use support::TestServer;

#[tokio::test]
async fn walking_the_pages_visits_every_network_once() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let mut made = HashSet::new();
    for i in 0..7 {
        made.insert(
            s.network(&p, &format!("n{i}"), &format!("10.{i}.0.0/16"))
                .await
                .id(),
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/v1/projects/{p}/networks?limit=3");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = s.get(&s.admin, &path).await;
        assert_eq!(page.status, 200, "{:#}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|n| n["id"].as_str().unwrap().to_string()));
        pages += 1;
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages <= 7, "the cursor must move forward");
    }
    assert_eq!(seen.len(), 7, "no item twice: {seen:?}");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), made);
}

#[tokio::test]
async fn a_limit_out_of_range_is_a_validation_problem() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    s.get(&s.admin, &format!("/v1/projects/{p}/networks?limit=5000"))
        .await
        .assert_problem(422, "limit", "range");
}

fn events_of<'a>(events: &'a [Value], resource_id: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["resource_id"] == resource_id)
        .collect()
}

#[tokio::test]
async fn the_audit_log_shows_create_update_and_delete_with_actor_and_before_after() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let operator = s.token(&p, "operator").await;
    let created = s
        .post(
            &operator,
            &format!("/v1/projects/{p}/networks"),
            support::network_body("first", "10.0.0.0/16"),
        )
        .await;
    let id = created.id();
    let one = format!("/v1/projects/{p}/networks/{id}");
    assert_eq!(
        s.patch(&operator, &one, json!({"name": "second"}))
            .await
            .status,
        200
    );
    assert_eq!(s.delete(&operator, &one).await.status, 202);

    let log = s
        .get(&s.admin, &format!("/v1/projects/{p}/events?limit=1000"))
        .await;
    assert_eq!(log.status, 200, "{:#}", log.body);
    let all = log.body["items"].as_array().unwrap();
    let mine = events_of(all, &id);
    let by_action = |action: &str| {
        mine.iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} in {mine:#?}"))
    };

    // The operator's token id, as the members list knows it.
    let members = s.get(&s.admin, &format!("/v1/projects/{p}/members")).await;
    let operator_id = members
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "operator")
        .unwrap()["token_id"]
        .as_str()
        .unwrap()
        .to_string();
    let actor = format!("token:{operator_id}");

    let create = by_action("network.create");
    assert_eq!(create["actor"], actor.as_str());
    assert!(create["before"].is_null());
    assert_eq!(create["after"]["name"], "first");

    let update = by_action("network.update");
    assert_eq!(update["actor"], actor.as_str());
    assert_eq!(update["before"]["name"], "first");
    assert_eq!(update["after"]["name"], "second");

    let delete = by_action("network.delete");
    assert_eq!(delete["actor"], actor.as_str());
    assert_eq!(delete["after"]["status"], "deleting");

    // Oldest first.
    let seqs: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}
