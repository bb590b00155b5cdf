//! The VPN gateway through the real binary, in one run (root; `scripts/bench.d/vpn` runs
//! it and keeps its `row` lines): a real `isthmus serve` with the `local` provider, a
//! gateway made with `isthmus vpn gateway create`, a laptop on the lab's internet that
//! brings the downloaded config up with wg-quick (wireguard-go on both ends), and:
//! - handshake: from `wg-quick up` starting to the first completed handshake (the
//!   config's keepalive starts it; wireguard-go's start included), then the first
//!   connect through the fresh tunnel against the median of later connects;
//! - throughput: laptop → node through the gateway against a bare veth pair between two
//!   namespaces of the bench's own (the same kernel, no tunnel, no router);
//! - revoke: from `isthmus vpn client revoke --wait` starting to the node's side of an
//!   open connection being cut (the node writes a byte every 5 ms; the first one after
//!   the revoke meets the gateway's reset), and to the command's answer (`deleted`).
//!
//! Kernel names use the prefixes `isthy5` (the lab) and `isthy6` (the bare veth pair);
//! everything under them goes at the start and the end.

#[path = "../tests/local_support/mod.rs"]
mod local_support;
#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use isthmus_driver_local::probe;
use isthmus_driver_local::vpn::daemon;
use local_support::{node_ips, LocalLab};
use support::{id_of, WAIT_TIMEOUT};

const PREFIX: &str = "isthy5";
const WG: &str = "isthy5lap";
const SINK_PORT: u16 = 6000;
const HOLD_PORT: u16 = 6001;
const BYTES: usize = 256 << 20;
const CONNECTS: usize = 20;
/// The bare veth pair's namespaces (outside the lab's prefix, whose guard checks that
/// nothing under it is left) and addresses.
const VETH: [(&str, &str); 2] = [("isthy6-va", "10.251.0.1"), ("isthy6-vb", "10.251.0.2")];

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Removes the bench's own kernel objects (the veth namespaces, the laptop's daemon);
/// the lab's guard removes the rest.
fn cleanup() {
    let _ = daemon::stop(WG);
    for (ns, _) in VETH {
        let _ = Command::new("ip").args(["netns", "del", ns]).output();
    }
}

struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        cleanup();
    }
}

/// A sink: reads [`BYTES`] of each connection, then answers one byte.
fn sink(ns: &str, addr: SocketAddr) {
    let listener = probe::listen(ns, addr).unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = vec![0; 1 << 16];
                let mut total = 0;
                while total < BYTES {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => total += n,
                    }
                }
                let _ = stream.write_all(b"k");
            });
        }
    });
}

/// Sends [`BYTES`] from `ns` to `to`; Gbit/s.
fn throughput(ns: &str, to: SocketAddr) -> f64 {
    let mut stream = probe::connect(ns, to, Duration::from_secs(30)).unwrap();
    let chunk = vec![7u8; 1 << 16];
    let start = Instant::now();
    let mut sent = 0;
    while sent < BYTES {
        stream.write_all(&chunk).unwrap();
        sent += chunk.len();
    }
    let mut done = [0u8; 1];
    stream.read_exact(&mut done).unwrap();
    (BYTES * 8) as f64 / start.elapsed().as_secs_f64() / 1e9
}

fn in_ns(ns: &str, argv: &[&str]) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(argv)
        .output()
        .expect("run ip netns exec");
    assert!(
        out.status.success(),
        "{argv:?} in {ns}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    local_support::require_root();
    cleanup(); // an earlier interrupted run's leftovers
    let _guard = Guard;
    let mut lab = LocalLab::start(PREFIX);
    let network = lab.project_and_network("172.29.131.0/24");
    let cluster = lab.cluster(&network, "single-node");
    let cluster_id = id_of(&cluster);
    let node_ip: Ipv4Addr = node_ips(&cluster)[0].parse().unwrap();
    let node_ns = lab.names.node_ns(&cluster_id, 0);
    sink(&node_ns, SocketAddr::from((node_ip, SINK_PORT)));
    // Hands over the node's side of each connection (for the revoke).
    let hold = probe::listen(&node_ns, SocketAddr::from((node_ip, HOLD_PORT))).unwrap();
    let (held_tx, held) = channel::<TcpStream>();
    std::thread::spawn(move || {
        for stream in hold.incoming().flatten() {
            let _ = held_tx.send(stream);
        }
    });
    lab.internet_host("laptop", "203.0.113.81");
    let laptop = lab.namespace_of("internet/laptop");

    let gateway = lab.cli.json(&format!(
        "vpn gateway create bench --network {network} --client-cidr 100.64.11.0/24 \
         --dns none --wait --timeout {WAIT_TIMEOUT}"
    ));
    let client = lab.cli.json(&format!(
        "vpn client add {} laptop --grant {cluster_id}:{SINK_PORT},{HOLD_PORT}",
        id_of(&gateway)
    ));
    let client_id = id_of(&client);
    let home = lab.sandbox.home.path().to_path_buf();
    let key = home.join("laptop.key");
    std::fs::write(
        &key,
        format!("{}\n", client["private_key"].as_str().unwrap()),
    )
    .unwrap();
    let config = lab.cli.ok(&format!(
        "vpn client config {client_id} --private-key-file {}",
        key.display()
    ));
    let conf = home.join(format!("{WG}.conf"));
    std::fs::write(&conf, config).unwrap();
    let up = Instant::now();
    in_ns(
        &laptop,
        &[
            "env",
            "WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go",
            "wg-quick",
            "up",
            conf.to_str().unwrap(),
        ],
    );

    // Handshake: the config's keepalive starts it as soon as the tunnel is up; polled
    // through `wg show` (a few ms of precision: each poll is a process).
    let handshake = loop {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &laptop,
                "wg",
                "show",
                WG,
                "latest-handshakes",
            ])
            .output()
            .expect("wg show");
        let text = String::from_utf8_lossy(&out.stdout);
        if text.split_whitespace().nth(1).is_some_and(|t| t != "0") {
            break up.elapsed();
        }
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "no handshake: {text}"
        );
    };

    // The first connect through the fresh tunnel against later ones.
    let to = SocketAddr::from((node_ip, HOLD_PORT));
    let start = Instant::now();
    drop(probe::connect(&laptop, to, Duration::from_secs(10)).expect("first connect"));
    let first = start.elapsed();
    let mut later: Vec<Duration> = (0..CONNECTS)
        .map(|_| {
            let start = Instant::now();
            drop(probe::connect(&laptop, to, Duration::from_secs(10)).unwrap());
            start.elapsed()
        })
        .collect();
    later.sort();
    let median = later[later.len() / 2];
    while held.try_recv().is_ok() {}

    // Throughput: through the gateway, then over a bare veth pair.
    let vpn = throughput(&laptop, SocketAddr::from((node_ip, SINK_PORT)));
    for (ns, _) in VETH {
        ip(&["netns", "add", ns]);
        in_ns(ns, &["ip", "link", "set", "lo", "up"]);
    }
    ip(&[
        "-n", VETH[0].0, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns",
        VETH[1].0,
    ]);
    for (i, (ns, addr)) in VETH.iter().enumerate() {
        let dev = ["va", "vb"][i];
        in_ns(
            ns,
            &["ip", "addr", "add", &format!("{addr}/30"), "dev", dev],
        );
        in_ns(ns, &["ip", "link", "set", dev, "up"]);
    }
    let bare_to = SocketAddr::from((VETH[1].1.parse::<Ipv4Addr>().unwrap(), SINK_PORT));
    sink(VETH[1].0, bare_to);
    let bare = throughput(VETH[0].0, bare_to);

    // Revoke: an open connection, then the revoke through the CLI.
    let _open = probe::connect(&laptop, to, Duration::from_secs(10)).unwrap();
    let mut node_side = held.recv_timeout(Duration::from_secs(10)).unwrap();
    node_side
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let start = Instant::now();
    let revoke = std::thread::spawn({
        let cli = lab.cli.clone();
        move || {
            let answer = cli.json(&format!(
                "vpn client revoke {client_id} --wait --timeout {WAIT_TIMEOUT}"
            ));
            assert_eq!(answer["status"], "deleted", "{answer:#}");
            start.elapsed()
        }
    });
    // The node keeps talking (a database answers, sends keepalives): its first segment
    // after the revoke meets the gateway's reset, since the flow is gone.
    node_side
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let mut buf = [0u8; 16];
    let cut = loop {
        if node_side.write_all(b".").is_err() {
            break start.elapsed();
        }
        match node_side.read(&mut buf) {
            Ok(0) => break start.elapsed(),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break start.elapsed(),
            _ => {}
        }
        assert!(start.elapsed() < Duration::from_secs(60), "never cut");
    };
    let answered = revoke.join().expect("revoke");

    println!(
        "row\tVPN: wg-quick up → first handshake (laptop)\t{}\t-\t-\t-",
        ms(handshake)
    );
    println!(
        "row\tVPN: first connect through the tunnel (later: median)\t{}\t{}\t{:.1}\t-",
        ms(first),
        ms(median),
        first.as_secs_f64() / median.as_secs_f64()
    );
    println!(
        "row\tVPN: throughput laptop → node (bare veth pair)\t{vpn:.2} Gbit/s\t{bare:.2} Gbit/s\t{:.2}\t-",
        vpn / bare
    );
    println!(
        "row\tVPN: revoke request → open connection cut at the node\t{}\t-\t-\t< 1 s",
        ms(cut)
    );
    println!(
        "row\tVPN: revoke request → `revoke --wait` answers deleted\t{}\t-\t-\t< 1 s",
        ms(answered)
    );
    drop(lab);
}
