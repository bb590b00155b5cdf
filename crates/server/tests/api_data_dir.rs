//! First start is decided by a marker, not guessed: a data dir that was initialised and
//! then lost, emptied or damaged its database, or lost its CA, refuses to start with a
//! message that says what is missing and how to restore it — it never mints a new
//! superuser token or a new CA. Data dirs from before the marker keep starting.

use std::path::Path;

use isthmus_server::serve::{self, ServeConfig, CA_DIR, DB_FILE, INIT_MARKER_FILE};
use isthmus_store::sqlite::SqliteStore;

/// An initialised data dir (first start done, server stopped); returns the admin secret
/// and the CA certificate.
async fn initialised(dir: &Path) -> (String, String) {
    let first = serve::start(&ServeConfig::new(dir))
        .await
        .expect("first start");
    assert!(first.admin_token_file.is_some());
    assert!(
        dir.join(INIT_MARKER_FILE).exists(),
        "the first start marks the dir"
    );
    drop(first);
    (read(dir, serve::ADMIN_TOKEN_FILE), read(dir, "ca/ca.pem"))
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("read {file}: {e}"))
}

fn remove_database(dir: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("{DB_FILE}{suffix}")));
    }
}

/// Starting fails with a message naming `what` and how to restore it; the admin token and
/// the CA are left as they were.
async fn refuses(dir: &Path, what: &[&str], secret: &str, ca: Option<&str>) {
    let err = match serve::start(&ServeConfig::new(dir)).await {
        Ok(_) => panic!("a damaged data dir must not start"),
        Err(e) => format!("{e:#}"),
    };
    for word in what.iter().chain(&["backup", "restore"]) {
        assert!(err.to_lowercase().contains(word), "{word:?} in: {err}");
    }
    assert_eq!(
        read(dir, serve::ADMIN_TOKEN_FILE),
        secret,
        "no new superuser token"
    );
    match ca {
        Some(pem) => assert_eq!(read(dir, "ca/ca.pem"), pem, "the CA is kept"),
        None => assert!(!dir.join(CA_DIR).join("ca.pem").exists(), "no new CA"),
    }
}

#[tokio::test]
async fn a_missing_database_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, ca) = initialised(dir.path()).await;
    remove_database(dir.path());
    refuses(dir.path(), &[DB_FILE, "missing"], &secret, Some(&ca)).await;
    assert!(!dir.path().join(DB_FILE).exists(), "no new database either");
}

#[tokio::test]
async fn an_empty_database_file_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, ca) = initialised(dir.path()).await;
    remove_database(dir.path());
    std::fs::write(dir.path().join(DB_FILE), b"").unwrap();
    refuses(dir.path(), &[DB_FILE, "empty"], &secret, Some(&ca)).await;
}

#[tokio::test]
async fn a_corrupted_database_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, ca) = initialised(dir.path()).await;
    remove_database(dir.path());
    std::fs::write(dir.path().join(DB_FILE), vec![0x5a; 64 * 1024]).unwrap();
    refuses(dir.path(), &[DB_FILE, "damaged"], &secret, Some(&ca)).await;
}

#[tokio::test]
async fn a_database_without_tokens_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, ca) = initialised(dir.path()).await;
    remove_database(dir.path());
    // A valid but empty store in its place (as a wiped or swapped file would be).
    SqliteStore::open(&dir.path().join(DB_FILE))
        .await
        .unwrap()
        .close()
        .await;
    refuses(dir.path(), &[DB_FILE, "no tokens"], &secret, Some(&ca)).await;
}

#[tokio::test]
async fn a_missing_ca_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, _) = initialised(dir.path()).await;
    std::fs::remove_dir_all(dir.path().join(CA_DIR)).unwrap();
    refuses(
        dir.path(),
        &["ca.key", "ca.pem", "installation ca"],
        &secret,
        None,
    )
    .await;
}

#[tokio::test]
async fn a_data_dir_from_before_the_marker_keeps_starting_and_gets_the_marker() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, ca) = initialised(dir.path()).await;
    std::fs::remove_file(dir.path().join(INIT_MARKER_FILE)).unwrap();

    let again = serve::start(&ServeConfig::new(dir.path()))
        .await
        .expect("an existing data dir without the marker starts");
    assert!(again.admin_token_file.is_none(), "no new superuser token");
    drop(again);
    assert!(
        dir.path().join(INIT_MARKER_FILE).exists(),
        "the marker is written"
    );
    assert_eq!(read(dir.path(), serve::ADMIN_TOKEN_FILE), secret);
    assert_eq!(read(dir.path(), "ca/ca.pem"), ca);
}

#[tokio::test]
async fn a_data_dir_from_before_the_marker_that_lost_its_database_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, ca) = initialised(dir.path()).await;
    std::fs::remove_file(dir.path().join(INIT_MARKER_FILE)).unwrap();
    remove_database(dir.path());
    // Its CA shows it was initialised: the missing database is not a first start.
    refuses(dir.path(), &[DB_FILE, "missing"], &secret, Some(&ca)).await;
}
