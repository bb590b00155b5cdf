//! One engine process inside a node namespace: `ip netns exec <ns> <program> <args…>`
//! (argv, never a shell string). `ip netns exec` execs the program, so the child's pid is
//! the engine's own and signals (SIGHUP for a reload) reach it directly.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use isthmus_connect::engines::RenderedLaunch;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::Child;

/// The engine's stdout and stderr, appended across restarts.
pub const LOG_FILE: &str = "node.log";
/// The running engine's pid, so a server that crashed can find its survivors.
pub const PID_FILE: &str = "pid";
/// How long a stopped engine gets to exit before the caller moves on.
const STOP_WAIT: Duration = Duration::from_secs(5);
/// A killed survivor is looked for this often, at most this many times (one second).
const SURVIVOR_POLL: Duration = Duration::from_millis(20);
const SURVIVOR_POLLS: u32 = 50;

pub struct NodeProcess {
    child: Child,
}

impl NodeProcess {
    /// Starts the engine in namespace `ns`, with the node dir as working directory, once an
    /// engine an earlier server left there is gone.
    pub async fn spawn(
        ns: &str,
        dir: &Path,
        launch: &RenderedLaunch,
    ) -> anyhow::Result<NodeProcess> {
        kill_survivor(dir).await;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(LOG_FILE))
            .with_context(|| format!("open the node log in {}", dir.display()))?;
        let mut command = tokio::process::Command::new("ip");
        command
            .args(["netns", "exec", ns])
            .arg(&launch.program)
            .args(&launch.args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("share the node log")?)
            .stderr(log)
            .kill_on_drop(true);
        // SAFETY: the closure only makes one async-signal-safe syscall (prctl).
        unsafe {
            command.pre_exec(|| {
                // The engine dies with the server, even on SIGKILL, instead of holding its
                // port against the next server's engine. The flag survives exec.
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
            });
        }
        let child = command
            .spawn()
            .with_context(|| format!("start {} in namespace {ns}", launch.program.display()))?;
        if let Some(pid) = child.id() {
            std::fs::write(dir.join(PID_FILE), pid.to_string())
                .with_context(|| format!("write the pid file in {}", dir.display()))?;
        }
        Ok(NodeProcess { child })
    }

    /// The exit status, once the process has ended.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown ({e})")),
        }
    }

    /// Whether the engine still runs in the namespace named `ns` now. A namespace made
    /// again under the same name (a replaced node, or one the driver re-made after it
    /// vanished) is another namespace: an engine left in the old one serves nobody.
    /// Unknown (the process or the name is gone) counts as yes: nothing to move.
    pub fn runs_in(&self, ns: &str) -> bool {
        use std::os::unix::fs::MetadataExt;
        let Some(pid) = self.child.id() else {
            return true;
        };
        let own = std::fs::metadata(format!("/proc/{pid}/ns/net"));
        let named = std::fs::metadata(isthmus_driver_local::netns::path(ns));
        match (own, named) {
            (Ok(own), Ok(named)) => (own.dev(), own.ino()) == (named.dev(), named.ino()),
            _ => true,
        }
    }

    /// Asks the engine to reload its configuration and certificates.
    pub fn hangup(&self) -> anyhow::Result<()> {
        let pid = self.child.id().context("the engine has already exited")?;
        kill(Pid::from_raw(pid as i32), Signal::SIGHUP).context("send SIGHUP to the engine")
    }

    /// Kills the engine and waits (a bounded time) for it to be gone.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(STOP_WAIT, self.child.wait()).await;
    }
}

/// Kills an engine a crashed server left behind in `dir` (recorded in its pid file), if that
/// pid still runs a program whose command line names this node dir, and waits (a bounded
/// time, asleep on the timer) for it to be gone so its ports are free.
pub async fn kill_survivor(dir: &Path) {
    let Some(pid) = std::fs::read_to_string(dir.join(PID_FILE))
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
    else {
        return;
    };
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let cmdline = std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
    let ours = String::from_utf8_lossy(&cmdline).contains(&*dir.to_string_lossy());
    if ours && kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
        tracing::info!(pid, dir = %dir.display(), "killed an engine left by an earlier server");
        for _ in 0..SURVIVOR_POLLS {
            if !proc_dir.exists() {
                break;
            }
            tokio::time::sleep(SURVIVOR_POLL).await;
        }
    }
    let _ = std::fs::remove_file(dir.join(PID_FILE));
}
