//! What the VPN tests through the real binary share: commands in a laptop's namespace
//! (wg-quick, wg), the downloaded config without its `DNS =` line, and an A query to the
//! resolver a gateway pushes.
#![allow(dead_code)] // each test file uses its own part

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::local_support::LocalLab;

/// Runs an argv inside `ns` (the laptop's side: wg-quick and wg, as a person would).
pub fn in_ns(ns: &str, argv: &[&str]) -> std::process::Output {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns])
        .args(argv)
        .output()
        .expect("run ip netns exec");
    assert!(
        out.status.success(),
        "{argv:?} in {ns}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Brings the laptop's tunnel up with `config` (written as `<iface>.conf`).
pub fn wg_quick_up(lab: &LocalLab, ns: &str, iface: &str, config: &str) {
    let path = lab.sandbox.home.path().join(format!("{iface}.conf"));
    std::fs::write(&path, config).unwrap();
    in_ns(
        ns,
        &[
            "env",
            "WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go",
            "wg-quick",
            "up",
            path.to_str().unwrap(),
        ],
    );
}

/// The config without its `DNS =` line: wg-quick hands that to resolvconf, which the lab
/// does not have; the test asks the pushed resolver directly instead.
pub fn without_dns(config: &str) -> String {
    config
        .lines()
        .filter(|l| !l.starts_with("DNS = "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// An A query for `name` to `server:53` from inside `ns` (a hand-made RFC 1035 message:
/// the lab has no dig); the addresses of the answer, `None` without one.
pub fn resolve_a(ns: &str, server: &str, name: &str) -> Option<Vec<Ipv4Addr>> {
    let mut query = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.trim_end_matches('.').split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    let server: SocketAddr = SocketAddr::from((server.parse::<Ipv4Addr>().ok()?, 53));
    let socket = isthmus_driver_local::netns::run_in(Some(ns), || {
        Ok(std::net::UdpSocket::bind("0.0.0.0:0")?)
    })
    .ok()?;
    socket.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    socket.send_to(&query, server).ok()?;
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).ok()?;
    let reply = &buf[..n];
    let answers = u16::from_be_bytes([reply[6], reply[7]]);
    if reply[3] & 0x0f != 0 || answers == 0 {
        return None;
    }
    // After the question: each answer is a name (labels, or a pointer), type, class,
    // ttl, length, data.
    let mut at = query.len();
    let mut out = vec![];
    for _ in 0..answers {
        loop {
            match reply[at] {
                0 => {
                    at += 1;
                    break;
                }
                b if b & 0xc0 == 0xc0 => {
                    at += 2;
                    break;
                }
                b => at += 1 + b as usize,
            }
        }
        at -= 2;
        let (kind, len) = (
            u16::from_be_bytes([reply[at + 2], reply[at + 3]]),
            u16::from_be_bytes([reply[at + 10], reply[at + 11]]) as usize,
        );
        if kind == 1 && len == 4 {
            let a = &reply[at + 12..at + 16];
            out.push(Ipv4Addr::new(a[0], a[1], a[2], a[3]));
        }
        at += 12 + len;
    }
    Some(out)
}

/// A TLS handshake from `from` (`internet/HOST`) to `ip:port`, verifying the chain against
/// the CA file and the certificate against `name`.
pub fn tls_verified(
    lab: &LocalLab,
    from: &str,
    ca: &str,
    ip: &str,
    port: u16,
    name: &str,
) -> Result<(), String> {
    let connect = format!("{ip}:{port}");
    let run = lab.lab_exec(
        from,
        &[
            "timeout",
            "10",
            "openssl",
            "s_client",
            "-connect",
            &connect,
            "-servername",
            name,
            "-verify_hostname",
            name,
            "-CAfile",
            ca,
            "-verify_return_error",
        ],
    );
    if run.code == Some(0) && run.stdout.contains("Verify return code: 0 (ok)") {
        Ok(())
    } else {
        Err(format!("{}{}", run.stdout, run.stderr))
    }
}
