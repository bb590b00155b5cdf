//! Whether a data dir is a first start or an installation, decided by an explicit marker
//! rather than guessed from what is (still) there: a data dir that lost its database or its
//! CA must refuse to start, not be taken for a new one (a new superuser token over the old
//! one, an empty store, a CA no node certificate chains to).

use std::path::Path;

use anyhow::Context;
use isthmus_connect::pki::{write_atomically, CA_CERT_FILE, CA_KEY_FILE};

use crate::serve::{CA_DIR, DB_FILE};

/// Written into the data dir once its first start completed (store, superuser token, CA).
pub const INIT_MARKER_FILE: &str = "initialized";

/// What a data dir is, before the server opens anything in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataDir {
    /// Initialised (it has the marker): its database and CA must be there.
    Initialised,
    /// No marker: a first start, or a data dir from before the marker (its database then
    /// holds tokens; the marker is written for it).
    Unmarked,
}

/// Checks the files an initialised data dir must hold. Runs before the store is opened,
/// since opening creates a missing database.
pub fn inspect(dir: &Path) -> anyhow::Result<DataDir> {
    let db = dir.join(DB_FILE);
    let db_state = match std::fs::metadata(&db) {
        Ok(meta) if meta.len() > 0 => None,
        Ok(_) => Some("is empty"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("is missing"),
        Err(e) => return Err(e).with_context(|| format!("inspect {}", db.display())),
    };
    if !dir.join(INIT_MARKER_FILE).exists() {
        // From before the marker: a first start makes the token before the CA, so a CA
        // without a database means the database was lost.
        if let Some(what) = db_state.filter(|_| ca_dir_has_files(dir)) {
            return Err(lost_database(
                dir,
                &format!("{what}, yet the installation CA exists"),
            ));
        }
        return Ok(DataDir::Unmarked);
    }
    if let Some(what) = db_state {
        return Err(lost_database(dir, what));
    }
    if !has_ca(dir) {
        return Err(lost_ca(dir));
    }
    Ok(DataDir::Initialised)
}

/// [`inspect`] for a data dir whose store is PostgreSQL: no database file to check, and
/// several replicas share this dir for its CA (`ca/`), so an initialised one must hold it.
pub fn inspect_beside_postgres(dir: &Path) -> anyhow::Result<DataDir> {
    if !dir.join(INIT_MARKER_FILE).exists() {
        return Ok(DataDir::Unmarked);
    }
    if !has_ca(dir) {
        return Err(lost_ca(dir));
    }
    Ok(DataDir::Initialised)
}

/// The file replicas sharing a data dir lock while one of them starts.
pub const START_LOCK_FILE: &str = "start.lock";

/// Takes this data dir's start lock (waiting for another replica that holds it), held
/// until the returned file is dropped. Replicas on one PostgreSQL that share a data dir
/// take turns from inspecting it to marking it initialised: otherwise two first starts
/// at once would both find no tokens, and each make a superuser token and a CA.
pub fn lock_for_start(dir: &Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join(START_LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("open {}", path.display()))?;
    file.lock()
        .with_context(|| format!("lock {}", path.display()))?;
    Ok(file)
}

/// Checks the opened store against what the data dir says it is; returns whether this is
/// a first start (nothing to keep: make the superuser token and the CA).
pub fn first_start(dir: &Path, kind: DataDir, tokens: u64) -> anyhow::Result<bool> {
    match (kind, tokens) {
        (DataDir::Initialised, 0) => Err(lost_database(
            dir,
            "holds no tokens (it was emptied or replaced)",
        )),
        (DataDir::Initialised, _) => Ok(false),
        // A first start makes the token before the CA, so a CA beside a database without
        // tokens means the database was lost.
        (DataDir::Unmarked, 0) if ca_dir_has_files(dir) => Err(lost_database(
            dir,
            "holds no tokens, yet the installation CA exists (the database was lost or emptied)",
        )),
        (DataDir::Unmarked, 0) => Ok(true),
        // From before the marker: an installation, which must have its CA.
        (DataDir::Unmarked, _) if !has_ca(dir) => Err(lost_ca(dir)),
        (DataDir::Unmarked, _) => Ok(false),
    }
}

/// How to say that the database of an initialised data dir cannot be opened.
pub fn damaged_database(dir: &Path) -> String {
    format!(
        "the database {} of this initialised data dir cannot be opened (it may be damaged). {}",
        dir.join(DB_FILE).display(),
        restore_database(dir)
    )
}

/// Marks the data dir initialised (once its first start completed).
pub fn mark_initialised(dir: &Path) -> anyhow::Result<()> {
    let path = dir.join(INIT_MARKER_FILE);
    let text = format!(
        "This Isthmus data dir was initialised at {}.\n\
         Keep this file: without it a lost database would be taken for a first start.\n",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    write_atomically(&path, text.as_bytes(), 0o600)?;
    // The rename is durable once the directory is synced.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("sync {}", dir.display()))
}

fn has_ca(dir: &Path) -> bool {
    let ca = dir.join(CA_DIR);
    ca.join(CA_KEY_FILE).exists() && ca.join(CA_CERT_FILE).exists()
}

fn ca_dir_has_files(dir: &Path) -> bool {
    std::fs::read_dir(dir.join(CA_DIR)).is_ok_and(|mut entries| entries.next().is_some())
}

fn restore_database(dir: &Path) -> String {
    format!(
        "Restore {DB_FILE} (with its {DB_FILE}-wal file, if the backup has one) into {} from a \
         backup and start again; the server does not make a new one over an installation. To \
         start a new, empty installation instead, use an empty data dir.",
        dir.display()
    )
}

fn lost_database(dir: &Path, what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the database {} of this initialised data dir {what}. {}",
        dir.join(DB_FILE).display(),
        restore_database(dir)
    )
}

fn lost_ca(dir: &Path) -> anyhow::Error {
    let ca = dir.join(CA_DIR);
    anyhow::anyhow!(
        "the installation CA of this initialised data dir is missing ({} and {} must both \
         exist). Every node certificate chains to that CA, so the server does not make a new \
         one: restore {} from a backup and start again. To start a new, empty installation \
         instead, use an empty data dir.",
        ca.join(CA_KEY_FILE).display(),
        ca.join(CA_CERT_FILE).display(),
        ca.display()
    )
}
