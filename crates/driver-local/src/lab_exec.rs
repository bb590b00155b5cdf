//! Commands run inside a lab host's namespace: no shell, a process group of their own,
//! a timeout that kills the whole group, and a cap on the output kept.

use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::driver::LocalDriver;

/// How much of each output stream of a lab command is kept by default.
pub const MAX_EXEC_OUTPUT: usize = 16 * 1024 * 1024;
/// How long a lab command may run by default.
pub const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the pipes of a killed command are still read.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// What a lab command may take: time, and output kept per stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecLimits {
    pub timeout: Duration,
    pub max_output: usize,
}

impl Default for ExecLimits {
    fn default() -> Self {
        ExecLimits {
            timeout: DEFAULT_EXEC_TIMEOUT,
            max_output: MAX_EXEC_OUTPUT,
        }
    }
}

/// A lab command's outcome within its [`ExecLimits`].
#[derive(Debug)]
pub struct ExecOutput {
    pub status: std::process::ExitStatus,
    /// At most `max_output` bytes of each stream.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// A stream reached `max_output`: what came after was read and dropped.
    pub truncated: bool,
    /// The command ran past its timeout and its process group was killed.
    pub timed_out: bool,
}

/// Kills a process group with SIGKILL when told to or when dropped armed.
struct GroupKiller(Option<i32>);

impl GroupKiller {
    fn kill(&self) {
        if let Some(pgid) = self.0 {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }

    /// The leader is reaped: the id may be reused, so never signal it again.
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads `from` to its end, keeping at most `max` bytes in `into`; the rest is dropped,
/// and `dropped` says so.
async fn read_capped(
    mut from: impl tokio::io::AsyncRead + Unpin,
    into: &mut Vec<u8>,
    max: usize,
    dropped: &mut bool,
) -> std::io::Result<()> {
    use tokio::io::AsyncReadExt;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        let room = max.saturating_sub(into.len());
        *dropped |= n > room;
        into.extend_from_slice(&chunk[..n.min(room)]);
    }
}

impl LocalDriver {
    /// The namespace of a lab host (`vpc` "internet": of an internet host).
    pub fn lab_host_namespace(&self, vpc: &str, host: &str) -> Result<String> {
        if vpc == isthmus_core::lab::INTERNET {
            return self.internet_host_namespace(host);
        }
        let vpc = self.require_lab(vpc)?;
        vpc.hosts
            .iter()
            .find(|h| h.name == host)
            .map(|h| h.namespace.clone())
            .with_context(|| format!("lab VPC {} has no host '{host}'", vpc.name))
    }

    /// Runs `argv` inside a lab host's namespace (`vpc` "internet": an internet host's)
    /// within the default [`ExecLimits`]: see [`lab_exec_limited`](Self::lab_exec_limited).
    pub async fn lab_exec(&self, vpc: &str, host: &str, argv: &[String]) -> Result<Output> {
        let run = self
            .lab_exec_limited(vpc, host, argv, ExecLimits::default())
            .await?;
        Ok(Output {
            status: run.status,
            stdout: run.stdout,
            stderr: run.stderr,
        })
    }

    /// Runs `argv` inside a lab host's namespace (`vpc` "internet": an internet host's):
    /// `ip netns exec <ns> argv…`, each argument passed as its own argument (no shell), in
    /// a process group of its own. At most `limits.max_output` bytes of each stream are
    /// kept (the rest is read and dropped, so memory stays bounded and the command is not
    /// stopped by a full pipe); past `limits.timeout` the whole group is killed.
    pub async fn lab_exec_limited(
        &self,
        vpc: &str,
        host: &str,
        argv: &[String],
        limits: ExecLimits,
    ) -> Result<ExecOutput> {
        let Some(program) = argv.first() else {
            bail!("nothing to run: argv is empty");
        };
        let ns = self.lab_host_namespace(vpc, host)?;
        let what = || format!("run {program} in lab host {host} of {vpc}");
        let mut child = tokio::process::Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(program)
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group: a timeout (or a caller that goes away) kills what it started.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(what)?;
        // Declared after `child`, so dropped first: the group dies while its leader is
        // not yet reaped (its id cannot have been reused).
        let mut group = GroupKiller(child.id().map(|id| id as i32));
        let stdout = child.stdout.take().context("child stdout")?;
        let stderr = child.stderr.take().context("child stderr")?;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (mut out_cut, mut err_cut) = (false, false);
        let (finished, timed_out) = {
            let run = async {
                let (o, e) = tokio::join!(
                    read_capped(stdout, &mut out, limits.max_output, &mut out_cut),
                    read_capped(stderr, &mut err, limits.max_output, &mut err_cut),
                );
                (o, e, child.wait().await)
            };
            tokio::pin!(run);
            match tokio::time::timeout(limits.timeout, &mut run).await {
                Ok(done) => (Some(done), false),
                Err(_) => {
                    group.kill();
                    // The group is dead, so the pipes close; a process that left the group
                    // and holds them open is not waited for long.
                    let done = tokio::time::timeout(KILL_GRACE, &mut run).await.ok();
                    (done, true)
                }
            }
        };
        let status = match finished {
            Some((o, e, status)) => {
                o.with_context(what)?;
                e.with_context(what)?;
                status.with_context(what)?
            }
            None => {
                let _ = child.start_kill();
                child.wait().await.with_context(what)?
            }
        };
        group.disarm();
        Ok(ExecOutput {
            status,
            stdout: out,
            stderr: err,
            truncated: out_cut || err_cut,
            timed_out,
        })
    }
}
