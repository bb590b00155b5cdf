//! The userspace WireGuard process: Debian's `wireguard-go`, one per interface, started
//! inside the gateway's namespace (a child inherits the namespace of the thread that
//! forks it) with its foreground flag, from an argv (never a shell string).
//!
//! The process is found again through its socket, not a pid file: the kernel tells who
//! listens on a unix socket (`SO_PEERCRED`), so a gateway the server started before a
//! restart is still known, and a stale socket of a dead process is told apart from a live
//! one. The process outlives the server on purpose: clients stay connected while the
//! control plane restarts.

use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::unistd::Pid;

use super::uapi;
use crate::{netns, nl};

/// The program, from the `wireguard-go` package (scripts/setup installs it).
pub const PROGRAM: &str = "wireguard-go";

/// How long a starting or stopping process may take before it counts as failed.
const SETTLE: Duration = Duration::from_secs(10);

/// The pid of the process serving interface `iface`'s socket, if one does.
pub fn running_pid(iface: &str) -> Option<i32> {
    let stream = UnixStream::connect(uapi::socket_path(iface)).ok()?;
    let creds = getsockopt(&stream, PeerCredentials).ok()?;
    Some(creds.pid())
}

/// Starts wireguard-go for `iface` inside namespace `ns` unless it runs already, and waits
/// until its socket answers. Returns whether it was started now.
pub fn ensure_running(ns: &str, iface: &str) -> Result<bool> {
    if running_pid(iface).is_some() {
        return Ok(false);
    }
    // A socket file without a listener: the process died. wireguard-go would refuse to
    // start next to it.
    let _ = std::fs::remove_file(uapi::socket_path(iface));
    let owned = iface.to_string();
    let mut child = netns::run_in(Some(ns), move || {
        Command::new(PROGRAM)
            .arg("-f")
            .arg(&owned)
            .env("LOG_LEVEL", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("start {PROGRAM} for {owned} (is wireguard-go installed?)"))
    })?;
    let deadline = Instant::now() + SETTLE;
    loop {
        if running_pid(iface).is_some() && uapi::get(iface).is_ok() {
            break;
        }
        if let Some(status) = child.try_wait()? {
            bail!("{PROGRAM} for {iface} exited at start ({status})");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{PROGRAM} for {iface} did not open its socket within {SETTLE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Reap it whenever it ends, so a dead gateway never lingers as a zombie.
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(true)
}

/// Gives the interface its tunnel address (the kernel adds the route to the client range
/// through it) and brings it up. Idempotent.
pub async fn configure_link(ns: &str, iface: &str, address: Ipv4Addr, len: u8) -> Result<()> {
    let iface = iface.to_string();
    netns::netlink_in_async(ns, move |handle| async move {
        let link = nl::require_link(&handle, &iface).await?;
        nl::ensure_address(&handle, link.index, address, len).await?;
        nl::set_up(&handle, link.index).await
    })
    .await
    .with_context(|| format!("address and bring up {ns}/{address}"))
}

/// The wireguard-go processes whose argv names `iface` (their last argument). A
/// wireguard-go started without `-f` (as wg-quick starts it) re-executes itself and its
/// first process exits: the socket's credentials then name a pid that is gone, so stopping
/// looks the process up by its argv too.
fn processes_for(iface: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .collect();
            let program = args.first()?;
            let is_wg = program.ends_with(PROGRAM.as_bytes());
            (is_wg && args.last() == Some(&iface.as_bytes())).then_some(pid)
        })
        .collect()
}

/// Stops the process serving `iface` (SIGTERM; it removes its interface and socket) and
/// waits until it is gone. A no-op when none runs.
pub fn stop(iface: &str) -> Result<()> {
    let mut pids = processes_for(iface);
    if let Some(pid) = running_pid(iface) {
        if !pids.contains(&pid) {
            pids.push(pid);
        }
    }
    for pid in &pids {
        // Gone already (ESRCH) is what we want.
        let _ = kill(Pid::from_raw(*pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + SETTLE;
    while running_pid(iface).is_some() || !processes_for(iface).is_empty() {
        if Instant::now() > deadline {
            for pid in processes_for(iface) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            bail!("{PROGRAM} for {iface} (pids {pids:?}) ignored SIGTERM; killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_file(uapi::socket_path(iface));
    Ok(())
}

/// Every interface with a wireguard-go socket whose name starts with `prefix` (for the
/// sweep: a gateway of an object that is gone).
pub fn sockets_with_prefix(prefix: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/var/run/wireguard") else {
        return vec![];
    };
    let mut out: Vec<String> = dir
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".sock").map(str::to_string)
        })
        .filter(|iface| iface.starts_with(prefix))
        .collect();
    out.sort();
    out
}
