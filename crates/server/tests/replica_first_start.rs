//! Two replicas on one PostgreSQL, sharing a data dir, started at the same moment on an
//! empty database: they take turns, so exactly one makes the superuser token (whose
//! secret is the one in the admin-token file) and the installation CA, and the other
//! finds and uses both.

use std::sync::Arc;

use isthmus_server::auth::hash_secret;
use isthmus_server::serve::{self, ServeConfig, ADMIN_TOKEN_FILE};
use isthmus_store::testing::TestPostgres;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_starting_at_once_make_one_superuser_and_one_ca() {
    let url = TestPostgres::shared()
        .fresh_database()
        .await
        .expect("create a test database");
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(ServeConfig {
        database: Some(url),
        ..ServeConfig::new(dir.path())
    });
    let starts: Vec<_> = (0..2)
        .map(|_| {
            let config = config.clone();
            tokio::spawn(async move { serve::start(&config).await })
        })
        .collect();
    let mut replicas = Vec::new();
    for start in starts {
        replicas.push(start.await.unwrap().expect("a replica starts"));
    }
    let first_starts = replicas
        .iter()
        .filter(|r| r.admin_token_file.is_some())
        .count();
    assert_eq!(first_starts, 1, "exactly one replica made the first start");

    let store = &replicas[0].state.store;
    let tokens = store.list_tokens().await.unwrap();
    assert_eq!(tokens.len(), 1, "one token, the superuser: {tokens:#?}");
    assert!(tokens[0].superuser);
    let secret = std::fs::read_to_string(dir.path().join(ADMIN_TOKEN_FILE)).unwrap();
    let admin = store
        .token_by_hash(&hash_secret(secret.trim()))
        .await
        .unwrap()
        .expect("the admin-token file holds the superuser's secret");
    assert_eq!(admin.id, tokens[0].id);

    let certs: Vec<String> = replicas
        .iter()
        .map(|r| r.state.ca.as_ref().expect("a CA").cert_pem().to_string())
        .collect();
    assert_eq!(certs[0], certs[1], "both replicas use one installation CA");
}
