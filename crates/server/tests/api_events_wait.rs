//! The audit log's long poll (`isthmus events --follow`, issue 17): with a cursor and
//! `wait`, the answer holds until an event after the cursor is in the log, and brings it;
//! with none it comes back empty; a bad `wait` is a 422 naming it.

mod support;

use support::{network_body, TestServer};

#[tokio::test]
async fn a_waiting_read_brings_the_next_event_and_an_idle_one_comes_back_empty() {
    let s = TestServer::start().await;
    let p = s.project("followed").await;
    let path = format!("/v1/projects/{p}/events");
    let log = s.get(&s.admin, &path).await;
    let last = log.body["items"].as_array().unwrap().last().unwrap()["seq"]
        .as_i64()
        .unwrap();

    let idle = s
        .get(&s.admin, &format!("{path}?cursor={last}&wait=1"))
        .await;
    assert_eq!(idle.status, 200, "{:#}", idle.body);
    assert!(idle.body["items"].as_array().unwrap().is_empty());

    // The read starts first and waits; the create lands while it does.
    let long_poll = format!("{path}?cursor={last}&wait=15");
    let waiting = s.get(&s.admin, &long_poll);
    let create = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        s.post(
            &s.admin,
            &format!("/v1/projects/{p}/networks"),
            network_body("prod", "10.1.0.0/16"),
        )
        .await
    };
    let (news, created) = tokio::join!(waiting, create);
    assert_eq!(created.status, 201, "{:#}", created.body);
    assert_eq!(news.status, 200, "{:#}", news.body);
    let items = news.body["items"].as_array().unwrap();
    assert_eq!(items[0]["action"], "network.create", "{:#}", news.body);
    assert!(items.iter().all(|e| e["seq"].as_i64().unwrap() > last));

    let bad = s.get(&s.admin, &format!("{path}?wait=soon")).await;
    bad.assert_problem(422, "wait", "seconds");
}
