//! A store that cannot serve a call now answers 503 problem+json with Retry-After: a
//! database locked by another writer past the busy timeout, or no turn at the writer
//! within its timeout. Not a 500.

mod support;

use axum::response::IntoResponse;
use isthmus_server::api::ApiError;
use isthmus_store::{StoreError, Unavailability};
use serde_json::json;
use sqlx::{Connection, Executor};
use support::TestServer;

#[tokio::test]
async fn a_database_locked_by_another_writer_is_a_503_with_retry_after() {
    let s = TestServer::start().await;
    // Another process holds SQLite's write lock (as `sqlite3 isthmus.db` with an open
    // BEGIN IMMEDIATE would).
    let mut other = sqlx::SqliteConnection::connect(&format!(
        "sqlite://{}",
        s.data_dir.join("isthmus.db").display()
    ))
    .await
    .expect("open the database beside the server");
    other
        .execute("BEGIN IMMEDIATE")
        .await
        .expect("take the write lock");

    let r = s
        .post(&s.admin, "/v1/projects", json!({"name": "acme"}))
        .await;
    r.assert_status_problem(503);
    assert_eq!(r.body["type"], "urn:isthmus:problem:store-busy");
    assert_eq!(r.header("retry-after"), Some("1"));

    other.execute("ROLLBACK").await.expect("release the lock");
    let r = s
        .post(&s.admin, "/v1/projects", json!({"name": "acme"}))
        .await;
    assert_eq!(r.status, 201, "{:#}", r.body);
}

#[tokio::test]
async fn no_turn_at_the_writer_in_time_is_a_503_with_retry_after() {
    // What the store answers when the writer's acquire timeout passes (the classification
    // itself is pinned in the store's codec tests).
    let err = StoreError::Unavailable {
        kind: Unavailability::Busy,
        reason: "timed out waiting for a database connection".into(),
        context: "begin write transaction: pool timed out while waiting for an open connection"
            .into(),
    };
    let response = ApiError::from(err).into_response();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(response.headers()["retry-after"], "1");
}
