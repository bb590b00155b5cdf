//! A replica whose database connections are terminated (a PostgreSQL restart, a failover,
//! an administrator's `pg_terminate_backend`) carries on: the next calls get fresh
//! connections, and what was committed is all there.

#[macro_use]
mod common;

use common::*;
use isthmus_core::resources::Network;
use isthmus_store::api::Api;
use sqlx::Connection;

#[tokio::test]
async fn terminated_connections_are_replaced_and_the_store_carries_on() {
    let t = open(Backend::Postgres).await;
    let p = project(&*t.store, "acme").await;
    let before = network(&*t.store, p, "prod", "10.1.0.0/16").await;

    let url = t.url.as_deref().unwrap();
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!terminated.is_empty(), "the store had connections open");
    assert!(terminated.iter().all(|&t| t));

    assert_eq!(
        Api::<Network>::new(t.store.docs())
            .get(p, before.id.as_id())
            .await
            .unwrap(),
        before,
        "a read after the cut"
    );
    network(&*t.store, p, "stage", "10.2.0.0/16").await;
    let listed = Api::<Network>::new(t.store.docs())
        .list(p, &Default::default())
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 2, "a write after the cut");
}
