//! The simulated clouds' memory in the shared database (table `sim_journal`), so that
//! several replicas see one set of simulated clouds, as they would see one real AWS.
//!
//! The sim is synchronous (one in-process lock, no `.await` while it is held), so this
//! log is too: a thread of its own, with its own runtime and its own connection, runs the
//! statements, and the sim's caller waits for the answer. A *turn* is one transaction:
//! [`SharedSimLog::begin`] takes the sim's lock across processes (an advisory lock on
//! PostgreSQL, `BEGIN IMMEDIATE` on SQLite) and returns the records other processes
//! appended since; [`append`](SharedSimLog::append) adds one; [`finish`](SharedSimLog::finish)
//! commits. A read, a decision and its record are therefore one step for every replica:
//! a new leader sees what a dead one created, and adopts it instead of creating it again.
//!
//! A replica stopped (SIGSTOP) in the middle of a turn would hold the lock for good: the
//! PostgreSQL session ends itself after [`IDLE_IN_TURN`] idle in its transaction, which
//! releases the lock; the stopped replica's turn then fails and it reconnects.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, PgConnection, SqliteConnection};
use tokio::sync::mpsc as async_mpsc;

use crate::sql::query::{query, Conn, Get};

/// The advisory lock of a turn: apart from the store's write lock, so the sim never
/// waits on object writes. "ISTHSIM!" in ASCII.
pub const SIM_LOCK: i64 = 0x4953_5448_5349_4D21;
/// A session idle this long inside its transaction is ended by PostgreSQL (see above).
const IDLE_IN_TURN: &str = "10s";
/// How long a turn waits for another process's turn to end before it fails (transient).
const WAIT_FOR_TURN: Duration = Duration::from_secs(15);

/// One record of the log: its place, and the sim's JSON record.
pub type SimRecord = (i64, String);

type Reply<T> = mpsc::Sender<anyhow::Result<T>>;

enum Request {
    Begin {
        after: i64,
        reply: Reply<Vec<SimRecord>>,
    },
    Append {
        record: String,
        reply: Reply<i64>,
    },
    Finish {
        reply: Reply<()>,
    },
}

/// Where the log lives.
#[derive(Clone)]
enum Target {
    Postgres(PgConnectOptions),
    Sqlite(SqliteConnectOptions),
}

/// The simulated clouds' shared log (see the module doc). Cheap to share behind an `Arc`;
/// its thread ends when it is dropped.
pub struct SharedSimLog {
    requests: async_mpsc::UnboundedSender<Request>,
}

impl SharedSimLog {
    /// The log in the PostgreSQL database at `url` (its schema made by the store's
    /// migrations: open the store first).
    pub fn postgres(url: &str) -> anyhow::Result<Self> {
        let options: PgConnectOptions = url.parse().context("parse the database URL")?;
        let options = options.options([
            (
                "idle_in_transaction_session_timeout",
                IDLE_IN_TURN.to_string(),
            ),
            ("lock_timeout", format!("{}ms", WAIT_FOR_TURN.as_millis())),
        ]);
        Self::spawn(Target::Postgres(options))
    }

    /// The log in the SQLite database at `path` (migrated by the store).
    pub fn sqlite(path: &Path) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(WAIT_FOR_TURN);
        Self::spawn(Target::Sqlite(options))
    }

    fn spawn(target: Target) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("start the sim log's runtime")?;
        let (requests, received) = async_mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("sim-log".into())
            .spawn(move || runtime.block_on(serve(target, received)))
            .context("start the sim log's thread")?;
        Ok(SharedSimLog { requests })
    }

    /// Starts this process's turn (waiting for another's to end) and returns the records
    /// after `after`, in order.
    pub fn begin(&self, after: i64) -> anyhow::Result<Vec<SimRecord>> {
        self.ask(|reply| Request::Begin { after, reply })
    }

    /// Appends `record` in the current turn; returns its place.
    pub fn append(&self, record: String) -> anyhow::Result<i64> {
        self.ask(|reply| Request::Append { record, reply })
    }

    /// Ends the turn: its records are kept and the next process may take its turn.
    pub fn finish(&self) -> anyhow::Result<()> {
        self.ask(|reply| Request::Finish { reply })
    }

    /// Every record so far (one read-only turn): what tests and tools inspect.
    pub fn records(&self) -> anyhow::Result<Vec<SimRecord>> {
        let records = self.begin(0)?;
        self.finish()?;
        Ok(records)
    }

    fn ask<T>(&self, request: impl FnOnce(Reply<T>) -> Request) -> anyhow::Result<T> {
        let (reply, answer) = mpsc::channel();
        self.requests
            .send(request(reply))
            .map_err(|_| anyhow!("the sim log's thread has stopped"))?;
        blocking(|| answer.recv()).map_err(|_| anyhow!("the sim log's thread has stopped"))?
    }
}

/// Runs `wait` (a blocking wait for the log's thread) so that it does not starve a
/// multi-threaded runtime's other tasks; on any other thread it just runs it.
fn blocking<T>(wait: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    }
}

/// A connection of either backend, inside a turn or not.
enum Db {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl Db {
    async fn connect(target: &Target) -> anyhow::Result<Db> {
        Ok(match target {
            Target::Postgres(o) => Db::Postgres(
                o.connect()
                    .await
                    .context("connect to PostgreSQL for the sim log")?,
            ),
            Target::Sqlite(o) => {
                Db::Sqlite(o.connect().await.context("open SQLite for the sim log")?)
            }
        })
    }

    async fn begin(&mut self, after: i64) -> sqlx::Result<Vec<SimRecord>> {
        match self {
            Db::Postgres(c) => {
                sqlx::raw_sql("BEGIN").execute(&mut *c).await?;
                query("SELECT pg_advisory_xact_lock($1)")
                    .bind(SIM_LOCK)
                    .execute(c)
                    .await?;
                records_after(c, after).await
            }
            Db::Sqlite(c) => {
                sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *c).await?;
                records_after(c, after).await
            }
        }
    }

    async fn append(&mut self, record: String) -> sqlx::Result<i64> {
        match self {
            Db::Postgres(c) => append(c, record).await,
            Db::Sqlite(c) => append(c, record).await,
        }
    }

    async fn commit(&mut self) -> sqlx::Result<()> {
        match self {
            Db::Postgres(c) => sqlx::raw_sql("COMMIT").execute(c).await.map(drop),
            Db::Sqlite(c) => sqlx::raw_sql("COMMIT").execute(c).await.map(drop),
        }
    }
}

async fn records_after<C: Conn>(c: &mut C, after: i64) -> sqlx::Result<Vec<SimRecord>> {
    query("SELECT seq, record FROM sim_journal WHERE seq > $1 ORDER BY seq")
        .bind(after)
        .fetch_all(c)
        .await?
        .iter()
        .map(|row| Ok((row.int("seq")?, row.str("record")?.to_string())))
        .collect()
}

/// The next place is one past the last, taken under the turn's lock: no gaps, and the
/// order of places is the order of turns.
async fn append<C: Conn>(c: &mut C, record: String) -> sqlx::Result<i64> {
    let row = query(
        "INSERT INTO sim_journal (seq, record) \
         VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM sim_journal), $1) RETURNING seq",
    )
    .bind(record)
    .fetch_one(c)
    .await?;
    row.int("seq")
}

/// The log's thread: one connection, (re)opened when needed; a failed statement drops it,
/// which rolls its turn back, so the next turn starts on a fresh one.
async fn serve(target: Target, mut requests: async_mpsc::UnboundedReceiver<Request>) {
    let mut db: Option<Db> = None;
    let mut in_turn = false;
    while let Some(request) = requests.recv().await {
        match request {
            Request::Begin { after, reply } => {
                if in_turn {
                    // The last turn was never finished: start clean.
                    db = None;
                }
                let result = async {
                    if db.is_none() {
                        db = Some(Db::connect(&target).await?);
                    }
                    let conn = db.as_mut().expect("connected above");
                    conn.begin(after)
                        .await
                        .context("take the simulated clouds' turn")
                }
                .await;
                in_turn = result.is_ok();
                if result.is_err() {
                    db = None;
                }
                let _ = reply.send(result);
            }
            Request::Append { record, reply } => {
                let result = match (&mut db, in_turn) {
                    (Some(conn), true) => conn
                        .append(record)
                        .await
                        .context("record a simulated cloud change"),
                    _ => Err(anyhow!("no turn at the simulated clouds is open")),
                };
                if result.is_err() {
                    db = None;
                    in_turn = false;
                }
                let _ = reply.send(result);
            }
            Request::Finish { reply } => {
                let result = match (&mut db, in_turn) {
                    (Some(conn), true) => conn
                        .commit()
                        .await
                        .context("commit the simulated clouds' turn"),
                    _ => Err(anyhow!("no turn at the simulated clouds is open")),
                };
                in_turn = false;
                if result.is_err() {
                    db = None;
                }
                let _ = reply.send(result);
            }
        }
    }
}
