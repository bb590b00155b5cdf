//! The VPN gateway's data plane in figures (run as root:
//! `cargo bench -p isthmus-driver-local --bench vpn`), on the lab of the root test
//! (`tests/vpn_lab`, kernel names `isthv-*`, removed at the end and at the start):
//! - handshake: the first connection through a fresh tunnel (handshake + TCP connect)
//!   against the median of later ones (TCP connect only);
//! - throughput: laptop → node over the tunnel against the same path without it (the
//!   laptop routing to the node over the bare veth pair, the gateway forwarding);
//! - revoke: the time `revoke_client` takes (peer removed, grants gone, flows flushed)
//!   and until the node's side of an open connection gets its reset.

#[path = "../tests/vpn_lab/mod.rs"]
mod vpn_lab;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use isthmus_driver::wg_keys;
use isthmus_driver_local::vpn::{self, ClientSpec, Grant};
use isthmus_driver_local::{netns, probe};
use vpn_lab::*;

const SINK_PORT: u16 = 6000;
const BYTES: usize = 256 << 20;
const CONNECTS: usize = 20;

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// A sink on the node: reads everything of each connection, then answers one byte.
fn sink(ns: &str, ip: Ipv4Addr) {
    let listener = probe::listen(ns, SocketAddr::from((ip, SINK_PORT))).unwrap();
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

/// Sends [`BYTES`] from `ns` to the node's sink; returns Gbit/s.
fn throughput(ns: &str) -> f64 {
    let mut stream: TcpStream = probe::connect(
        ns,
        SocketAddr::from((NODE_IP, SINK_PORT)),
        Duration::from_secs(30),
    )
    .unwrap();
    let chunk = vec![7u8; 1 << 16];
    let start = Instant::now();
    let mut sent = 0;
    while sent < BYTES {
        stream.write_all(&chunk).unwrap();
        sent += chunk.len();
    }
    let mut ack = [0; 1];
    stream.read_exact(&mut ack).unwrap();
    (BYTES as f64 * 8.0) / start.elapsed().as_secs_f64() / 1e9
}

fn connect_time(ns: &str, port: u16) -> Duration {
    let start = Instant::now();
    let _ = connect(ns, NODE_IP, port, PATIENCE).expect("connect");
    start.elapsed()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _guard = Guard::new();
    topology();
    sink(NODE, NODE_IP);
    let _service = node_service(NODE, NODE_IP, GRANTED);

    // Bare: the laptop routes to the node over its veth, the gateway forwards.
    ip(
        LAPTOP,
        &["route", "add", "10.9.0.0/24", "via", "198.18.0.1"],
    );
    let bare = throughput(LAPTOP);
    ip(
        LAPTOP,
        &["route", "del", "10.9.0.0/24", "via", "198.18.0.1"],
    );

    let gw_keys = wg_keys::generate();
    let gateway = gateway_spec(&gw_keys.private);
    vpn::ensure_gateway(&gateway).await.unwrap();
    let laptop_keys = wg_keys::generate();
    let laptop_ip: Ipv4Addr = "100.64.0.2".parse().unwrap();
    let laptop = ClientSpec {
        public_key: laptop_keys.public,
        address: laptop_ip,
        grants: vec![
            Grant {
                destination: NODE_IP,
                port: GRANTED,
            },
            Grant {
                destination: NODE_IP,
                port: SINK_PORT,
            },
        ],
        endpoint: None,
    };
    vpn::apply_client(&gateway, &laptop).await.unwrap();
    laptop_tunnel(
        LAPTOP,
        "isthv-wl",
        &laptop_keys.private,
        "100.64.0.2/32",
        &gw_keys.public,
        "198.18.0.1:51820",
        "10.9.0.10/32",
    );

    let first = connect_time(LAPTOP, GRANTED);
    let mut later: Vec<Duration> = (0..CONNECTS)
        .map(|_| connect_time(LAPTOP, GRANTED))
        .collect();
    later.sort();
    let steady = later[later.len() / 2];
    let tunnel = throughput(LAPTOP);

    // Revoke with an open connection; the node writes until its side is reset.
    let (_laptop_side, _) = connect(LAPTOP, NODE_IP, GRANTED, PATIENCE).unwrap();
    let accepted = _service.recv_timeout(PATIENCE).unwrap();
    let mut node_side = accepted;
    node_side.set_read_timeout(Some(PATIENCE)).unwrap();
    let start = Instant::now();
    vpn::revoke_client(&gateway, laptop.public_key, laptop_ip)
        .await
        .unwrap();
    let enforced = start.elapsed();
    let _ = node_side.write_all(b"x");
    let mut buf = [0; 8];
    let reset = match node_side.read(&mut buf) {
        Ok(0) | Err(_) => start.elapsed(),
        Ok(_) => panic!("the node's connection outlived the revocation"),
    };
    vpn::delete_gateway(&gateway).await.unwrap();
    let _ = netns::list();

    println!("vpn handshake: first connection {} (handshake + connect), later connections {} (median of {CONNECTS}), so the handshake ≈ {}",
        ms(first), ms(steady), ms(first.saturating_sub(steady)));
    println!(
        "vpn throughput ({} MiB, laptop → node): bare veth {bare:.2} Gbit/s, through the gateway {tunnel:.2} Gbit/s ({:.0}% of bare)",
        BYTES >> 20,
        tunnel / bare * 100.0
    );
    println!(
        "vpn revoke: enforced (peer removed, grants gone, flows flushed) after {}, the node's open connection reset after {}",
        ms(enforced),
        ms(reset)
    );
}
