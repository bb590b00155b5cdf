//! The VPN data-plane lab shared by the root test and the benchmark (root): a gateway namespace runs wireguard-go
//! configured through its UAPI socket, a "laptop" namespace runs another wireguard-go
//! configured with `wg(8)`, and a "node" namespace listens behind the gateway.
//!
//! ```text
//! laptop (isthv-lap)  198.18.0.2 ── 198.18.0.1  gateway (isthv-gw)  10.9.0.1 ── node 10.9.0.10
//!   wg isthv-wl 100.64.0.2                         wg isthv-wg 100.64.0.1/24    other 10.9.0.11
//! mallory (isthv-mal) 198.18.1.2 ── 198.18.1.1
//!   wg isthv-wm 100.64.0.3
//! ```
//! Kernel names use the prefix `isthv`; the guard removes them even when a test fails.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use isthmus_core::wg_key::WgKey;
use isthmus_driver_local::vpn::{daemon, GatewaySpec};
use isthmus_driver_local::{netns, probe};

pub const PREFIX: &str = "isthv";
pub const GW: &str = "isthv-gw";
pub const LAPTOP: &str = "isthv-lap";
pub const MALLORY: &str = "isthv-mal";
pub const NODE: &str = "isthv-node";
pub const OTHER: &str = "isthv-other";
pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 10);
pub const OTHER_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 11);
pub const GRANTED: u16 = 5432;
pub const UNGRANTED: u16 = 5433;
/// Failure guard for what must succeed (a handshake on one host takes milliseconds).
pub const PATIENCE: Duration = Duration::from_secs(10);
/// A connection nobody answers counts as dropped after this.
pub const SILENCE: Duration = Duration::from_millis(1500);

pub fn run(argv: &[&str]) {
    let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn ip(ns: &str, args: &[&str]) {
    let mut argv = vec!["ip", "-n", ns];
    argv.extend_from_slice(args);
    run(&argv);
}

/// One lab at a time: the tests of one binary run on threads of one process.
static LAB: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Removes every process, interface and namespace of ours, now and on drop; holds the
/// lab for one test at a time.
pub struct Guard(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

impl Guard {
    pub fn new() -> Guard {
        assert!(nix::unistd::geteuid().is_root(), "root test: run as root");
        let held = LAB.lock().unwrap_or_else(|e| e.into_inner());
        Guard::clean();
        Guard(held)
    }

    fn clean() {
        for iface in daemon::sockets_with_prefix(PREFIX) {
            let _ = daemon::stop(&iface);
        }
        for ns in netns::list().unwrap() {
            if ns.starts_with(&format!("{PREFIX}-")) {
                let _ = netns::delete(&ns);
            }
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        Guard::clean();
    }
}

/// A veth pair between two namespaces with an address on each end.
pub fn link(a: &str, a_if: &str, a_addr: &str, b: &str, b_if: &str, b_addr: &str) {
    ip(
        a,
        &[
            "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b,
        ],
    );
    ip(a, &["addr", "add", a_addr, "dev", a_if]);
    ip(b, &["addr", "add", b_addr, "dev", b_if]);
    ip(a, &["link", "set", a_if, "up"]);
    ip(b, &["link", "set", b_if, "up"]);
}

pub fn topology() {
    for ns in [GW, LAPTOP, MALLORY, NODE, OTHER] {
        netns::create(ns).unwrap();
        ip(ns, &["link", "set", "lo", "up"]);
    }
    link(
        LAPTOP,
        "isthv-l0",
        "198.18.0.2/24",
        GW,
        "isthv-g0",
        "198.18.0.1/24",
    );
    link(
        MALLORY,
        "isthv-m0",
        "198.18.1.2/24",
        GW,
        "isthv-g1",
        "198.18.1.1/24",
    );
    ip(GW, &["link", "add", "isthv-br", "type", "bridge"]);
    ip(GW, &["addr", "add", "10.9.0.1/24", "dev", "isthv-br"]);
    ip(GW, &["link", "set", "isthv-br", "up"]);
    for (ns, port, node_if, addr) in [
        (NODE, "isthv-p0", "isthv-n0", "10.9.0.10/24"),
        (OTHER, "isthv-p1", "isthv-n1", "10.9.0.11/24"),
    ] {
        link(GW, port, "0.0.0.0/32", ns, node_if, addr);
        ip(GW, &["link", "set", port, "master", "isthv-br"]);
        ip(ns, &["route", "add", "default", "via", "10.9.0.1"]);
    }
    netns::run_in(Some(GW), || netns::set_ipv4_sysctl("ip_forward", "1")).unwrap();
}

/// A node service: greets each connection with the peer address it sees, then echoes.
/// Accepted streams go to `accepted` (to act on the node's side of a connection).
pub fn node_service(ns: &str, ip: Ipv4Addr, port: u16) -> mpsc::Receiver<TcpStream> {
    let listener: TcpListener = probe::listen(ns, SocketAddr::from((ip, port))).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut writer = stream.try_clone().unwrap();
            let _ = tx.send(stream.try_clone().unwrap());
            std::thread::spawn(move || {
                let seen = format!("{}\n", stream.peer_addr().unwrap().ip());
                if writer.write_all(seen.as_bytes()).is_err() {
                    return;
                }
                let mut buf = [0; 1024];
                let mut reader = stream;
                while let Ok(n) = reader.read(&mut buf) {
                    if n == 0 || writer.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    rx
}

/// Connects from `ns` and returns the stream and the address the node says it sees.
pub fn connect(
    ns: &str,
    to: Ipv4Addr,
    port: u16,
    timeout: Duration,
) -> std::io::Result<(TcpStream, String)> {
    let stream = probe::connect(ns, SocketAddr::from((to, port)), timeout)
        .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
    let mut line = String::new();
    BufReader::new(stream.try_clone()?).read_line(&mut line)?;
    Ok((stream, line.trim().to_string()))
}

/// How a connection attempt ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Connected,
    /// A reset came back: refused at once.
    Refused,
    /// Nothing came back.
    Silence,
}

pub fn attempt(ns: &str, to: Ipv4Addr, port: u16) -> Outcome {
    let addr = SocketAddr::from((to, port));
    netns::run_in(Some(ns), move || {
        Ok(match TcpStream::connect_timeout(&addr, SILENCE) {
            Ok(_) => Outcome::Connected,
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => Outcome::Refused,
            Err(_) => Outcome::Silence,
        })
    })
    .unwrap()
}

/// A laptop's WireGuard, set up with `wg(8)` (another implementation of the config side
/// than the gateway's UAPI code) on its own wireguard-go.
pub fn laptop_tunnel(
    ns: &str,
    iface: &str,
    key: &WgKey,
    address: &str,
    gateway: &WgKey,
    endpoint: &str,
    allowed: &str,
) {
    daemon::ensure_running(ns, iface).unwrap();
    let key_file = std::env::temp_dir().join(format!("{iface}.key"));
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    run(&[
        "ip",
        "netns",
        "exec",
        ns,
        "wg",
        "set",
        iface,
        "private-key",
        key_file.to_str().unwrap(),
        "peer",
        &gateway.to_string(),
        "endpoint",
        endpoint,
        "allowed-ips",
        allowed,
    ]);
    let _ = std::fs::remove_file(&key_file);
    ip(ns, &["addr", "add", address, "dev", iface]);
    ip(ns, &["link", "set", iface, "up"]);
    ip(ns, &["route", "add", "10.9.0.0/24", "dev", iface]);
}

pub fn gateway_spec(key: &WgKey) -> GatewaySpec {
    GatewaySpec {
        namespace: GW.into(),
        iface: "isthv-wg".into(),
        private_key: *key,
        listen_port: 51820,
        client_cidr: "100.64.0.0/24".parse().unwrap(),
    }
}
