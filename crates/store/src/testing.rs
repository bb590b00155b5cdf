//! A throwaway PostgreSQL for tests: its own cluster (`initdb`) in a temporary directory,
//! started with `pg_ctl` and reached only through a unix socket in that directory (no
//! TCP at all), stopped and removed when dropped. Run as the `postgres` user when the
//! tests run as root (PostgreSQL refuses to run as root), as the caller otherwise.
//!
//! A cluster that cannot start is an error, never a skip: the store's contract is tested
//! on both backends, so a machine without PostgreSQL fails the suite (`scripts/setup`
//! installs it). A watchdog process stops the cluster should the test process die
//! without dropping it (a panic in a static, SIGKILL).

use std::os::unix::fs::chown;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use anyhow::{bail, Context};

/// A running throwaway PostgreSQL cluster.
pub struct TestPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    user: Option<(u32, u32)>,
    next_db: AtomicU32,
}

impl TestPostgres {
    /// `initdb` and `pg_ctl start` a fresh cluster; fails with the reason when it cannot.
    /// Without fsync: tests need no durability, and run faster without it.
    pub fn start() -> anyhow::Result<TestPostgres> {
        Self::start_with(false)
    }

    /// [`start`](Self::start) with fsync on, as a real installation runs (benchmarks).
    pub fn start_durable() -> anyhow::Result<TestPostgres> {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> anyhow::Result<TestPostgres> {
        let bin = bin_dir()?;
        let user = postgres_user()?;
        // Short (a socket path has ~100 bytes) and private to this cluster.
        let dir = tempfile::Builder::new()
            .prefix("isthpg")
            .tempdir_in("/tmp")
            .context("create the PostgreSQL test directory")?;
        if let Some((uid, gid)) = user {
            chown(dir.path(), Some(uid), Some(gid))
                .context("give the test directory to postgres")?;
        }
        let pg = TestPostgres {
            dir,
            bin,
            user,
            next_db: AtomicU32::new(0),
        };
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data().display().to_string(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        let options = format!(
            "-k {} -c listen_addresses='' -c fsync={} -c max_connections=300",
            pg.socket_dir().display(),
            if durable { "on" } else { "off" }
        );
        pg.run(
            "pg_ctl",
            &[
                "-D",
                &pg.data().display().to_string(),
                "-l",
                &pg.dir.path().join("log").display().to_string(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        )
        .with_context(|| pg.log_tail())?;
        pg.watch_over();
        Ok(pg)
    }

    /// One cluster for the whole test process, started on first use. Panics (failing the
    /// test) when PostgreSQL cannot start.
    pub fn shared() -> &'static TestPostgres {
        static SHARED: OnceLock<TestPostgres> = OnceLock::new();
        SHARED.get_or_init(|| {
            TestPostgres::start().unwrap_or_else(|e| {
                panic!(
                    "the PostgreSQL of the tests did not start ({e:#}); \
                     install PostgreSQL 15 (scripts/setup) or set ISTHMUS_PG_BIN"
                )
            })
        })
    }

    /// The directory holding the server's socket.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The URL of database `db` in this cluster, over its unix socket.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres@localhost/{db}?host={}",
            self.socket_dir().display()
        )
    }

    /// A new, empty database; returns its URL.
    pub async fn fresh_database(&self) -> anyhow::Result<String> {
        use sqlx::Connection;
        let name = format!(
            "t{}_{}",
            std::process::id(),
            self.next_db.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .context("connect to the test cluster")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .with_context(|| format!("create database {name}"))?;
        conn.close().await.ok();
        Ok(self.url(&name))
    }

    /// Terminates every other connection to the database at `url` (as a PostgreSQL
    /// restart or an administrator's `pg_terminate_backend` would); returns how many.
    pub async fn terminate_connections(url: &str) -> anyhow::Result<usize> {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(url)
            .await
            .context("connect to the test database")?;
        let terminated: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut admin)
        .await
        .context("terminate the database's connections")?;
        admin.close().await.ok();
        Ok(terminated.into_iter().filter(|t| *t).count())
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.user {
            cmd.uid(uid).gid(gid);
        }
        cmd.current_dir(self.dir.path());
        cmd
    }

    fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let out = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("run {}", self.bin.join(program).display()))?;
        if !out.status.success() {
            bail!(
                "{program} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(10).collect();
        format!(
            "server log: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }

    /// A process that stops the cluster and removes its directory once this process is
    /// gone, however it ended.
    fn watch_over(&self) {
        let script = format!(
            "while [ -d /proc/{pid} ]; do sleep 1; done; \
             {pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data().display(),
            dir = self.dir.path().display(),
        );
        // As the cluster's user: pg_ctl refuses root, and the directory is that user's.
        let mut cmd = Command::new("sh");
        if let Some((uid, gid)) = self.user {
            cmd.uid(uid).gid(gid);
        }
        cmd.arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        if let Err(e) = cmd.spawn() {
            tracing::warn!("no watchdog for the test PostgreSQL: {e}");
        }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        if let Err(e) = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "stop"]) {
            eprintln!("stopping the test PostgreSQL: {e:#}");
        }
    }
}

/// Where PostgreSQL's programs are: `ISTHMUS_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian's layout).
fn bin_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("ISTHMUS_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("find PostgreSQL in /usr/lib/postgresql")?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .context("no /usr/lib/postgresql/<version>/bin/initdb")
}

/// The uid and gid to run PostgreSQL as: the `postgres` user's when we are root.
fn postgres_user() -> anyhow::Result<Option<(u32, u32)>> {
    let out = Command::new("id").arg("-u").output().context("run id -u")?;
    if String::from_utf8_lossy(&out.stdout).trim() != "0" {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").context("read /etc/passwd")?;
    let entry = passwd
        .lines()
        .find(|l| l.starts_with("postgres:"))
        .context("running as root, and there is no postgres user to run PostgreSQL as")?;
    let fields: Vec<&str> = entry.split(':').collect();
    let id = |i: usize| -> anyhow::Result<u32> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("read the postgres user's ids from '{entry}'"))
    };
    Ok(Some((id(2)?, id(3)?)))
}
