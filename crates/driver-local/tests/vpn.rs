//! The VPN gateway's data plane, for real (root): a gateway namespace runs wireguard-go
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

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use isthmus_core::wg_key::WgKey;
use isthmus_driver::wg_keys;
use isthmus_driver_local::vpn::{self, daemon, ClientSpec, GatewaySpec, Grant};
use isthmus_driver_local::{netns, probe};

const PREFIX: &str = "isthv";
const GW: &str = "isthv-gw";
const LAPTOP: &str = "isthv-lap";
const MALLORY: &str = "isthv-mal";
const NODE: &str = "isthv-node";
const OTHER: &str = "isthv-other";
const NODE_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 10);
const OTHER_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 11);
const GRANTED: u16 = 5432;
const UNGRANTED: u16 = 5433;
/// Failure guard for what must succeed (a handshake on one host takes milliseconds).
const PATIENCE: Duration = Duration::from_secs(10);
/// A connection nobody answers counts as dropped after this.
const SILENCE: Duration = Duration::from_millis(1500);

fn run(argv: &[&str]) {
    let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip(ns: &str, args: &[&str]) {
    let mut argv = vec!["ip", "-n", ns];
    argv.extend_from_slice(args);
    run(&argv);
}

/// Removes every process, interface and namespace of ours, now and on drop.
struct Guard;

impl Guard {
    fn new() -> Guard {
        assert!(nix::unistd::geteuid().is_root(), "root test: run as root");
        Guard::clean();
        Guard
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
fn link(a: &str, a_if: &str, a_addr: &str, b: &str, b_if: &str, b_addr: &str) {
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

fn topology() {
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
fn node_service(ns: &str, ip: Ipv4Addr, port: u16) -> mpsc::Receiver<TcpStream> {
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
fn connect(
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
enum Outcome {
    Connected,
    /// A reset came back: refused at once.
    Refused,
    /// Nothing came back.
    Silence,
}

fn attempt(ns: &str, to: Ipv4Addr, port: u16) -> Outcome {
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
fn laptop_tunnel(
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

fn gateway_spec(key: &WgKey) -> GatewaySpec {
    GatewaySpec {
        namespace: GW.into(),
        iface: "isthv-wg".into(),
        private_key: *key,
        listen_port: 51820,
        client_cidr: "100.64.0.0/24".parse().unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_laptop_reaches_exactly_its_grants_through_the_gateway_until_revoked() {
    let _guard = Guard::new();
    topology();
    let gw_keys = wg_keys::generate();
    let gateway = gateway_spec(&gw_keys.private);
    assert!(vpn::ensure_gateway(&gateway).await.unwrap().started);
    assert!(
        !vpn::ensure_gateway(&gateway).await.unwrap().started,
        "idempotent"
    );

    let laptop_keys = wg_keys::generate();
    let laptop_ip: Ipv4Addr = "100.64.0.2".parse().unwrap();
    let mut laptop = ClientSpec {
        public_key: laptop_keys.public,
        address: laptop_ip,
        grants: vec![Grant {
            destination: NODE_IP,
            port: GRANTED,
        }],
        endpoint: None,
    };
    vpn::apply_client(&gateway, &laptop).await.unwrap();
    let mallory_keys = wg_keys::generate();
    let mallory = ClientSpec {
        public_key: mallory_keys.public,
        address: "100.64.0.3".parse().unwrap(),
        grants: vec![],
        endpoint: None,
    };
    vpn::apply_client(&gateway, &mallory).await.unwrap();

    let node_accepted = node_service(NODE, NODE_IP, GRANTED);
    let _ungranted = node_service(NODE, NODE_IP, UNGRANTED);
    let _other = node_service(OTHER, OTHER_IP, GRANTED);

    // The laptop asks for the grant's address only, as the config the API gives says.
    laptop_tunnel(
        LAPTOP,
        "isthv-wl",
        &laptop_keys.private,
        "100.64.0.2/32",
        &gw_keys.public,
        "198.18.0.1:51820",
        "10.9.0.10/32",
    );

    // A real handshake, then a granted connection; the node sees the tunnel address (no NAT).
    let (mut stream, seen) = connect(LAPTOP, NODE_IP, GRANTED, PATIENCE).expect("granted port");
    assert_eq!(
        seen, "100.64.0.2",
        "the node sees the client's tunnel address"
    );
    assert_eq!(probe::round_trip(&mut stream, b"ping").unwrap(), b"ping");
    let node_side = node_accepted.recv_timeout(PATIENCE).unwrap();
    let seen = vpn::observe_gateway(&gateway).await.unwrap();
    let peer = seen
        .device
        .peers
        .iter()
        .find(|p| p.public_key == Some(laptop_keys.public))
        .unwrap();
    assert!(peer.last_handshake_sec > 0, "{peer:?}");
    assert!(peer.rx_bytes > 0 && peer.tx_bytes > 0, "{peer:?}");
    let laptop_endpoint = peer
        .endpoint
        .expect("the gateway knows where the laptop is");
    assert_eq!(
        laptop_endpoint.ip(),
        "198.18.0.2".parse::<Ipv4Addr>().unwrap()
    );

    // Widening its own AllowedIPs routes more into the tunnel, but reaches nothing more:
    // an ungranted port and an ungranted host are refused at once (a reset) and counted.
    run(&[
        "ip",
        "netns",
        "exec",
        LAPTOP,
        "wg",
        "set",
        "isthv-wl",
        "peer",
        &gw_keys.public.to_string(),
        "allowed-ips",
        "0.0.0.0/0",
    ]);
    let denied_before = vpn::observe_gateway(&gateway)
        .await
        .unwrap()
        .table
        .denied_for(laptop_ip);
    assert_eq!(attempt(LAPTOP, NODE_IP, UNGRANTED), Outcome::Refused);
    assert_eq!(attempt(LAPTOP, OTHER_IP, GRANTED), Outcome::Refused);
    assert_eq!(attempt(LAPTOP, NODE_IP, GRANTED), Outcome::Connected);
    let denied_after = vpn::observe_gateway(&gateway)
        .await
        .unwrap()
        .table
        .denied_for(laptop_ip);
    assert!(
        denied_after >= denied_before + 2,
        "{denied_before} -> {denied_after}"
    );

    // Mallory, a client with no grants, claims the laptop's address: WireGuard drops her
    // packets (her peer may send from 100.64.0.3 only), so nothing answers her at all.
    laptop_tunnel(
        MALLORY,
        "isthv-wm",
        &mallory_keys.private,
        "100.64.0.2/32",
        &gw_keys.public,
        "198.18.1.1:51820",
        "0.0.0.0/0",
    );
    assert_eq!(attempt(MALLORY, NODE_IP, GRANTED), Outcome::Silence);
    // With her own address she reaches the gateway but no grant: refused.
    ip(
        MALLORY,
        &["addr", "del", "100.64.0.2/32", "dev", "isthv-wm"],
    );
    ip(
        MALLORY,
        &["addr", "add", "100.64.0.3/32", "dev", "isthv-wm"],
    );
    ip(
        MALLORY,
        &["route", "replace", "10.9.0.0/24", "dev", "isthv-wm"],
    );
    assert_eq!(attempt(MALLORY, NODE_IP, GRANTED), Outcome::Refused);
    // A node never opens a connection to a client.
    assert_eq!(attempt(NODE, laptop_ip, 22), Outcome::Refused);

    // The gateway process dies; restarted, with its peers re-applied at their last
    // endpoints, it starts the handshake itself and the laptop is back.
    let pid = daemon::running_pid(&gateway.iface).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    while daemon::running_pid(&gateway.iface).is_some() {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(vpn::ensure_gateway(&gateway).await.unwrap().started);
    laptop.endpoint = Some(laptop_endpoint);
    vpn::apply_client(&gateway, &laptop).await.unwrap();
    vpn::apply_client(&gateway, &mallory).await.unwrap();
    let (mut again, seen) =
        connect(LAPTOP, NODE_IP, GRANTED, PATIENCE).expect("reconnects after a restart");
    assert_eq!(seen, "100.64.0.2");
    assert_eq!(probe::round_trip(&mut again, b"back").unwrap(), b"back");
    let node_side_again = node_accepted.recv_timeout(PATIENCE).unwrap();
    drop(node_side);

    // Revoke: the peer goes and its flows are cut. The node's side of the open connection
    // gets a reset on its next packet; the laptop cannot open a new one.
    let cut = vpn::revoke_client(&gateway, laptop.public_key, laptop_ip)
        .await
        .unwrap();
    assert!(cut >= 1, "the open connection's flow was flushed");
    let mut node_side_again = node_side_again;
    node_side_again.set_read_timeout(Some(PATIENCE)).unwrap();
    let _ = node_side_again.write_all(b"still there?");
    let mut buf = [0; 16];
    match node_side_again.read(&mut buf) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
        Ok(n) => assert_eq!(n, 0, "the node's connection must end, got data"),
    }
    assert_ne!(attempt(LAPTOP, NODE_IP, GRANTED), Outcome::Connected);
    let after = vpn::observe_gateway(&gateway).await.unwrap();
    assert!(after
        .device
        .peers
        .iter()
        .all(|p| p.public_key != Some(laptop_keys.public)));
    assert!(!after.table.clients.contains(&laptop_ip));
    // Revoking again is a no-op.
    vpn::revoke_client(&gateway, laptop.public_key, laptop_ip)
        .await
        .unwrap();

    vpn::delete_gateway(&gateway).await.unwrap();
    assert!(daemon::running_pid(&gateway.iface).is_none());
    assert!(!vpn::nft::read(GW).unwrap().exists);
}
