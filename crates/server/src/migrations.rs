//! The replicators of `local` migrations. Once the driver has placed a migration (its
//! namespace on the target network, egress open to the source only), the controller asks
//! this runner to keep the engine running there: `isthmus migrate-engine run` (this very
//! binary, see `isthmus_migrate::cli`) inside the namespace, writing its status to
//! `<data_dir>/migrations/<id>/status.json`, which the controller reads into the object.
//! An engine that died is started again; it resumes from the target's own last message,
//! so a restart (of the engine or of the server) copies nothing twice. `translate`,
//! `verify` and `cutover` run the engine once, in the same namespace, and return its output.
//!
//! The source credentials are write-only: the object only says they are set. The secret is
//! kept here, `<data_dir>/migrations/<id>/source-credentials.json` (mode 0600, like the
//! installation CA's key in the same data dir, which PostgreSQL replicas share), handed to
//! the engine in its environment, and removed with the migration.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use isthmus_connect::pki::Ca;
use isthmus_core::kinds::migration::MigrationMode;
use isthmus_core::kinds::migration::{Migration, MigrationProgress, SourceCredentials};
use isthmus_core::resources::Cluster;
use isthmus_core::Id;
use isthmus_driver_local::LocalDriver;
use tokio::process::Child;

/// Where migration directories live under the data dir.
pub const MIGRATIONS_DIR: &str = "migrations";
pub const STATUS_FILE: &str = "status.json";
const LOG_FILE: &str = "engine.log";
const CREDENTIALS_FILE: &str = "source-credentials.json";
/// The NATS client port of the catalog's `nats` engine.
const NATS_CLIENT_PORT: u16 = 4222;

/// Environment variables that carry the source's secrets (never on the command line).
type Secrets = Vec<(String, String)>;

pub struct EngineRunner {
    root: PathBuf,
    binary: PathBuf,
    ca: Arc<Ca>,
    local: Arc<LocalDriver>,
    running: Mutex<HashMap<Id, Child>>,
}

impl EngineRunner {
    pub fn new(data_dir: &Path, binary: PathBuf, ca: Arc<Ca>, local: Arc<LocalDriver>) -> Self {
        EngineRunner {
            root: data_dir.join(MIGRATIONS_DIR),
            binary,
            ca,
            local,
            running: Mutex::new(HashMap::new()),
        }
    }

    fn dir(&self, m: &Migration) -> PathBuf {
        self.root.join(m.id.to_string())
    }

    /// The engine's arguments for `m` into `target` (after the verb), writing the CA
    /// certificates it needs into the migration's directory. Secrets go in the environment.
    fn args(&self, m: &Migration, target: &Cluster) -> anyhow::Result<(Vec<OsString>, Secrets)> {
        let dir = self.dir(m);
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let target_ca = dir.join("target-ca.pem");
        std::fs::write(&target_ca, self.ca.cert_pem()).context("write the target CA")?;
        let urls: Vec<String> = target
            .nodes
            .iter()
            .map(|n| format!("tls://{}:{NATS_CLIENT_PORT}", n.ip))
            .collect();
        let mut args: Vec<OsString> = vec![
            "--source".into(),
            m.source.urls.join(",").into(),
            "--target".into(),
            urls.join(",").into(),
            "--target-ca".into(),
            target_ca.into(),
        ];
        if let Some(pem) = &m.source.ca_certificate {
            let path = dir.join("source-ca.pem");
            std::fs::write(&path, pem).context("write the source CA")?;
            args.extend(["--source-ca".into(), path.into()]);
        }
        let mut env = Vec::new();
        match self.credentials(m)? {
            Some(SourceCredentials::UserPassword { user, password }) => {
                args.extend(["--source-user".into(), user.into()]);
                env.push(("ISTHMUS_SOURCE_PASSWORD".to_string(), password));
            }
            Some(SourceCredentials::Token { token }) => {
                env.push(("ISTHMUS_SOURCE_TOKEN".to_string(), token));
            }
            None => {}
        }
        for stream in &m.streams {
            args.extend(["--stream".into(), stream.into()]);
        }
        if let MigrationMode::Partitioned { partitions } = m.mode {
            args.extend([
                "--mode".into(),
                "partitioned".into(),
                "--partitions".into(),
                partitions.to_string().into(),
            ]);
        }
        for p in &m.filters.include_subjects {
            args.extend(["--include-subject".into(), p.into()]);
        }
        for p in &m.filters.exclude_subjects {
            args.extend(["--exclude-subject".into(), p.into()]);
        }
        for (name, value) in &m.filters.exclude_headers {
            args.extend(["--exclude-header".into(), format!("{name}={value}").into()]);
        }
        if let Some(transform) = &m.transform {
            let path = dir.join("transform.json");
            std::fs::write(&path, serde_json::to_vec(transform)?).context("write the transform")?;
            args.extend(["--transform-file".into(), path.into()]);
        }
        Ok((args, env))
    }

    /// Keeps the source credentials of `m` (written once, at create, before the controller
    /// is woken): a temporary file with mode 0600, renamed into place.
    pub fn store_credentials(
        &self,
        m: &Migration,
        credentials: &SourceCredentials,
    ) -> anyhow::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let dir = self.dir(m);
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let path = dir.join(CREDENTIALS_FILE);
        let tmp = dir.join(format!("{CREDENTIALS_FILE}.tmp"));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("create {}", tmp.display()))?;
        file.write_all(&serde_json::to_vec(credentials)?)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("keep {}", path.display()))
    }

    /// The source credentials of `m`, when it has any. The object says whether it does;
    /// a missing secret is an error (the engine would only be refused by the source).
    fn credentials(&self, m: &Migration) -> anyhow::Result<Option<SourceCredentials>> {
        if !m.source.credentials.as_ref().is_some_and(|c| c.set) {
            return Ok(None);
        }
        let path = self.dir(m).join(CREDENTIALS_FILE);
        let text = std::fs::read(&path).with_context(|| {
            format!(
                "the source credentials of migration {} are not in {} (they are kept only \
                 in this server's data dir; create the migration again to give them)",
                m.id,
                path.display()
            )
        })?;
        Ok(Some(
            serde_json::from_slice(&text).with_context(|| format!("read {}", path.display()))?,
        ))
    }

    fn command(
        &self,
        ns: &str,
        verb: &[&str],
        args: Vec<OsString>,
        env: Secrets,
    ) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("ip");
        command
            .args(["netns", "exec", ns])
            .arg(&self.binary)
            .arg("migrate-engine")
            .args(verb)
            .args(args)
            .envs(env)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Keeps the engine of `m` running (starting it when it is not) and returns what it
    /// last reported, if anything yet.
    pub async fn ensure_running(
        &self,
        m: &Migration,
        target: &Cluster,
    ) -> anyhow::Result<(Option<MigrationProgress>, Option<String>)> {
        let ns = self.local.migration_namespace(m);
        let dir = self.dir(m);
        let mut exited = None;
        let alive = {
            let mut running = self.running.lock().expect("engines");
            match running.get_mut(&m.id.0).map(Child::try_wait) {
                Some(Ok(None)) => true,
                Some(Ok(Some(status))) => {
                    exited = Some(format!(
                        "the replicator exited ({status}): {}",
                        last_log_line(&dir)
                    ));
                    running.remove(&m.id.0);
                    false
                }
                Some(Err(e)) => {
                    exited = Some(format!("the replicator is lost: {e}"));
                    running.remove(&m.id.0);
                    false
                }
                None => false,
            }
        };
        if !alive {
            let (mut args, env) = self.args(m, target)?;
            let status = dir.join(STATUS_FILE);
            args.extend(["--status-file".into(), status.into()]);
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(LOG_FILE))
                .context("open the engine log")?;
            let mut command = self.command(&ns, &["run"], args, env);
            command.stdout(Stdio::null()).stderr(log);
            // SAFETY: the closure makes one async-signal-safe syscall (prctl).
            unsafe {
                command.pre_exec(|| {
                    // The replicator dies with the server; the next server starts it again
                    // and it resumes from the target.
                    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                        .map_err(std::io::Error::from)
                });
            }
            let child = command
                .spawn()
                .with_context(|| format!("start the replicator in namespace {ns}"))?;
            self.running.lock().expect("engines").insert(m.id.0, child);
        }
        Ok((read_status(&dir), exited))
    }

    /// Stops the engine of `m`, if it runs, and waits (a bounded time) for it to exit.
    pub async fn stop(&self, m: &Migration) {
        let child = self.running.lock().expect("engines").remove(&m.id.0);
        if let Some(mut child) = child {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
    }

    /// Stops every engine this runner started, without waiting: when this replica stops
    /// leading, the new leader's runner starts them again (they resume from the target),
    /// and two replicators of one migration must never copy at once.
    pub fn stop_all(&self) {
        let mut running = self.running.lock().expect("engines");
        for (_, mut child) in running.drain() {
            let _ = child.start_kill();
        }
    }

    /// Removes what the migration left on disk (its status, log and CA copies).
    pub fn forget(&self, m: &Migration) {
        let _ = std::fs::remove_dir_all(self.dir(m));
    }

    /// Runs the engine once (`translate`, `verify`, `cutover`) in the migration's
    /// namespace and returns its JSON output lines; its error line when it fails.
    pub async fn once(
        &self,
        m: &Migration,
        target: &Cluster,
        verb: &[&str],
        timeout: Duration,
    ) -> anyhow::Result<Vec<serde_json::Value>> {
        let ns = self.local.migration_namespace(m);
        let (mut args, env) = self.args(m, target)?;
        let (verb_name, extra) = verb.split_first().context("a verb")?;
        args.extend(extra.iter().map(OsString::from));
        let mut command = self.command(&ns, &[verb_name], args, env);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let output = tokio::time::timeout(timeout, command.output())
            .await
            .with_context(|| format!("{verb_name} took longer than {}s", timeout.as_secs()))?
            .with_context(|| format!("run {verb_name} in namespace {ns}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let lines: Vec<serde_json::Value> = stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if !output.status.success() && lines.is_empty() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            bail!("{}", stderr.trim());
        }
        Ok(lines)
    }
}

/// The engine's last status, as the object's progress.
fn read_status(dir: &Path) -> Option<MigrationProgress> {
    let text = std::fs::read_to_string(dir.join(STATUS_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

fn last_log_line(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(LOG_FILE))
        .ok()
        .and_then(|log| {
            log.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_string)
        })
        .unwrap_or_default()
}
