//! WAL checkpoints on a thread of their own, not in the writer's commits.
//!
//! By default SQLite checkpoints inside the commit that takes the WAL past 1,000 pages:
//! that commit copies the pages into the database file and fsyncs it, and every write of
//! the group commit behind it waits (the create bench's slowest commits, 5–19 ms against
//! about 1 ms). Here a thread runs a PASSIVE checkpoint every tick instead; it never
//! blocks the writer or the readers. Durability is the WAL's, as before: a commit is
//! fsynced to the WAL before it is answered, whoever copies it on later.
//!
//! The writer keeps a much higher automatic checkpoint as a backstop, should this thread
//! fall behind or fail to open.

use std::ffi::CString;
use std::ptr;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use libsqlite3_sys as ffi;

/// How often the WAL is copied into the database file.
const TICK: Duration = Duration::from_millis(100);
/// The writer's own automatic checkpoint, in pages: only if this thread falls behind.
pub(super) const WRITER_BACKSTOP_PAGES: u32 = 16_000;

/// The checkpoint thread of one database; stopped (and joined) by `stop`, or ended when
/// the store is dropped.
pub(super) struct Checkpointer {
    running: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
}

impl Checkpointer {
    pub(super) fn start(path: &std::path::Path) -> anyhow::Result<Checkpointer> {
        let path = super::readers::c_path(path)?;
        let db = open(&path)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(db, stopped))?;
        Ok(Checkpointer {
            running: Mutex::new(Some((stop, thread))),
        })
    }

    /// Stops the thread and waits for it, so nothing touches the file after the store
    /// closed (it may be replaced next, as a restore does).
    pub(super) fn stop(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((stop, thread)) = running {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

/// A handle of the thread's own: `db` is used by it alone.
struct Db(*mut ffi::sqlite3);
// SAFETY: the handle moves to the checkpoint thread once and is used only there.
unsafe impl Send for Db {}

fn open(path: &CString) -> anyhow::Result<Db> {
    let mut db = ptr::null_mut();
    let flags = ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_NOMUTEX;
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let rc = unsafe { ffi::sqlite3_open_v2(path.as_ptr(), &mut db, flags, ptr::null()) };
    if rc != ffi::SQLITE_OK {
        // SAFETY: SQLite returns a handle (or null) to close even on failure.
        unsafe { ffi::sqlite3_close(db) };
        anyhow::bail!("open {path:?} for checkpoints: code {rc}");
    }
    // SAFETY: `db` was opened above. A checkpoint that meets a busy lock skips a tick.
    unsafe { ffi::sqlite3_busy_timeout(db, 0) };
    // A new handle has not read the file yet, so it does not know the database is in WAL
    // mode, and its checkpoints would do nothing (they report -1 frames): one read first.
    let read = c"SELECT count(*) FROM sqlite_master";
    // SAFETY: `db` is open; the statement is a NUL-terminated constant; no callback.
    let rc =
        unsafe { ffi::sqlite3_exec(db, read.as_ptr(), None, ptr::null_mut(), ptr::null_mut()) };
    let db = Db(db);
    if rc != ffi::SQLITE_OK {
        close(db);
        anyhow::bail!("read {path:?} for checkpoints: code {rc}");
    }
    Ok(db)
}

fn run(db: Db, stopped: mpsc::Receiver<()>) {
    // Each tick until a stop is sent or the store (the sender) is gone.
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
        let (mut log, mut copied) = (0, 0);
        // SAFETY: `db` is this thread's own open handle; a null name means every attached
        // database (only "main" here).
        let rc = unsafe {
            ffi::sqlite3_wal_checkpoint_v2(
                db.0,
                ptr::null(),
                ffi::SQLITE_CHECKPOINT_PASSIVE,
                &mut log,
                &mut copied,
            )
        };
        if rc != ffi::SQLITE_OK && rc != ffi::SQLITE_BUSY {
            tracing::warn!(
                code = rc,
                "WAL checkpoint failed; the writer's own will run"
            );
        }
    }
    close(db);
}

fn close(db: Db) {
    // SAFETY: no statement is left on `db` (only `sqlite3_exec`, which finalizes its
    // own); it is closed once, here.
    unsafe { ffi::sqlite3_close(db.0) };
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}
