//! First start: a superuser token whose secret only this user can read.

mod support;

use std::os::unix::fs::PermissionsExt;

use isthmus_server::serve::{self, ServeConfig};
use serde_json::json;
use support::TestServer;

#[tokio::test]
async fn the_admin_token_file_is_private_and_its_token_is_a_superuser() {
    let s = TestServer::start().await;
    let file = s.data_dir.join("admin-token");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "admin-token mode is {mode:o}");
    let dir_mode = std::fs::metadata(&s.data_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        dir_mode, 0o700,
        "a new data dir is private, not {dir_mode:o}"
    );
    assert!(s.admin.starts_with("isth_"));
    // The superuser may create projects and sees every project.
    let p = s.project("acme").await;
    let list = s.get(&s.admin, "/v1/projects").await;
    assert_eq!(list.body["items"][0]["id"], p.as_str());
}

#[tokio::test]
async fn a_restart_keeps_the_first_token_and_writes_no_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServeConfig::new(dir.path());
    let first = serve::start(&config).await.unwrap();
    assert!(first.admin_token_file.is_some());
    let secret = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    let project = first
        .state
        .store
        .create_project(
            &isthmus_store::Actor("test".into()),
            &serde_json::from_value(json!({"name": "kept"})).unwrap(),
            None,
        )
        .await
        .unwrap();
    drop(first);

    let second = serve::start(&config).await.unwrap();
    assert!(second.admin_token_file.is_none());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("admin-token")).unwrap(),
        secret
    );
    let found = second
        .state
        .store
        .token_by_hash(&isthmus_server::auth::hash_secret(secret.trim()))
        .await
        .unwrap()
        .expect("the first token still works");
    assert!(found.superuser);
    assert_eq!(
        second
            .state
            .store
            .get_project(project.id)
            .await
            .unwrap()
            .name,
        "kept"
    );
}
