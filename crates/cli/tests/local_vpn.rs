//! The VPN gateway on the `local` provider, end to end through the real binary (root):
//! a laptop on the lab's internet brings the tunnel up with the config `isthmus vpn
//! client config` downloads (wg-quick with wireguard-go on the laptop's side, against the
//! gateway's own wireguard-go in the network's router namespace: a real handshake), and
//! reaches exactly its grants. Kernel names use the prefix `isthw1`; the lab's guard and
//! the laptop's own guard remove everything even when the test fails.

mod local_support;
mod support;
mod vpn_support;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use isthmus_driver_local::probe;
use isthmus_driver_local::vpn::daemon;
use local_support::{eventually, node_ips, LocalLab};
use serde_json::Value;
use support::{id_of, Run, PATIENCE, WAIT_TIMEOUT};
use vpn_support::{in_ns, resolve_a, tls_verified, wg_quick_up, without_dns};

const PREFIX: &str = "isthw1";
const LAPTOP: &str = "internet/laptop";
const LAPTOP_IP: &str = "203.0.113.61";
/// The laptop's WireGuard interface (wg-quick names it after the config file).
const LAPTOP_WG: &str = "isthw1lap";
const SECOND: &str = "internet/second";
const SECOND_WG: &str = "isthw1sec";
/// The probe engine's TLS port, granted.
const TLS_PORT: u16 = 8443;
/// A plain listener of the test's own in the node: granted too (the node names the source
/// it sees on each connection).
const ECHO_PORT: u16 = 7100;
/// A listener no grant names.
const UNGRANTED: u16 = 7001;

/// Stops the laptops' wireguard-go processes (their namespaces go with the lab).
struct Laptops;

impl Drop for Laptops {
    fn drop(&mut self) {
        for iface in [LAPTOP_WG, SECOND_WG] {
            let _ = daemon::stop(iface);
        }
    }
}

/// A listener in the node that writes each connection's source address first, then
/// echoes; the test gets the node's side of every connection.
fn node_listener(ns: &str, ip: &str, port: u16) -> Receiver<TcpStream> {
    let addr = SocketAddr::from((ip.parse::<Ipv4Addr>().unwrap(), port));
    let listener = probe::listen(ns, addr).expect("node listener");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut writer = stream.try_clone().unwrap();
            let peer = stream.peer_addr().unwrap().ip().to_string();
            let _ = writer.write_all(format!("{peer}\n").as_bytes());
            let _ = tx.send(stream.try_clone().unwrap());
            std::thread::spawn(move || {
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

/// A connection from the laptop's namespace; the address the node says it sees.
fn connect(ns: &str, ip: &str, port: u16) -> std::io::Result<(TcpStream, String)> {
    let addr = SocketAddr::from((ip.parse::<Ipv4Addr>().unwrap(), port));
    let stream = probe::connect(ns, addr, Duration::from_secs(3))
        .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
    let mut line = String::new();
    BufReader::new(stream.try_clone()?).read_line(&mut line)?;
    Ok((stream, line.trim().to_string()))
}

/// How a connection attempt from the laptop ended: bash's `/dev/tcp` under `timeout 3`.
fn attempt(lab: &LocalLab, from: &str, ip: &str, port: u16) -> Run {
    let script = format!("exec 3<>/dev/tcp/{ip}/{port}");
    lab.lab_exec(from, &["timeout", "3", "bash", "-c", &script])
}

fn refused(run: &Run) -> bool {
    run.code != Some(0) && run.stderr.contains("Connection refused")
}

/// `vpn client add … -o json`, its private key written to a file; the client and file.
fn add_client(lab: &LocalLab, gateway: &str, name: &str, flags: &str) -> (Value, String) {
    let client = lab
        .cli
        .json(&format!("vpn client add {gateway} {name} {flags}"));
    let key = client["private_key"]
        .as_str()
        .expect("a generated private key, answered once");
    let file = lab.sandbox.home.path().join(format!("{name}.key"));
    std::fs::write(&file, format!("{key}\n")).unwrap();
    (client, file.display().to_string())
}

fn config_of(lab: &LocalLab, client: &str, key_file: &str) -> String {
    lab.cli.ok(&format!(
        "vpn client config {client} --private-key-file {key_file}"
    ))
}

/// The node's side of `laptop_side` (matched by the laptop's port).
fn node_side_of(echo: &Receiver<TcpStream>, laptop_side: &TcpStream) -> TcpStream {
    let port = laptop_side.local_addr().unwrap().port();
    loop {
        let stream = echo
            .recv_timeout(PATIENCE)
            .expect("the node's side of the connection");
        if stream.peer_addr().is_ok_and(|p| p.port() == port) {
            return stream;
        }
    }
}

/// Waits until the node's side of a cut connection ends (a reset or end of stream).
fn assert_cut(node_side: &mut TcpStream) {
    node_side.set_read_timeout(Some(PATIENCE)).unwrap();
    let _ = node_side.write_all(b"still there?");
    let mut buf = [0; 64];
    loop {
        match node_side.read(&mut buf) {
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
                return;
            }
            Ok(0) => return,
            // The echo of what was in flight before the cut: keep reading.
            Ok(_) => {}
        }
    }
}

/// Forgets the node-side connections accepted so far, so what arrives next is new.
fn drain(echo: &Receiver<TcpStream>) {
    while echo.try_recv().is_ok() {}
}

/// What a revoked or expired client's laptop meets once the API says so. The gateway has
/// removed the peer (build item 2: "revocation and expiry remove the peer"), so it holds
/// no session key for the laptop and cannot send it anything, not even a reset: the
/// laptop's packets are dropped by WireGuard before any firewall sees them. So: a new
/// connect started right after the answer is not admitted within one second (it fails),
/// the node accepts nothing, the open connection carries nothing more, and the gateway
/// lists no peer with the key.
fn assert_shut_out(
    laptop_ns: &str,
    node_ip: &str,
    echo: &Receiver<TcpStream>,
    open: &mut TcpStream,
    router_ns: &str,
    gateway_iface: &str,
    key: &str,
) {
    let addr = SocketAddr::from((node_ip.parse::<Ipv4Addr>().unwrap(), ECHO_PORT));
    let attempt = probe::connect(laptop_ns, addr, Duration::from_secs(1));
    assert!(
        attempt.is_err(),
        "a new connect within a second of the answer was admitted"
    );
    assert!(
        echo.recv_timeout(Duration::from_millis(500)).is_err(),
        "the node accepted a connection from a shut-out laptop"
    );
    open.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let _ = open.write_all(b"anyone?");
    let mut buf = [0; 64];
    assert!(
        !matches!(open.read(&mut buf), Ok(n) if n > 0),
        "the open connection still carries data"
    );
    let peers = in_ns(router_ns, &["wg", "show", gateway_iface, "peers"]);
    assert!(
        !String::from_utf8_lossy(&peers.stdout).contains(key),
        "the gateway still has the peer"
    );
}

#[test]
fn a_laptop_reaches_exactly_its_grants_through_the_local_gateway_until_revoked_or_expired() {
    let mut lab = LocalLab::start(PREFIX);
    let _laptops = Laptops;
    let network = lab.project_and_network("172.29.121.0/24");
    let cluster = lab.cluster(&network, "single-node");
    let cluster_id = id_of(&cluster);
    let node_ip = node_ips(&cluster)[0].clone();
    let node_name = cluster["nodes"][0]["dns_name"]
        .as_str()
        .unwrap()
        .to_string();
    let node_ns = lab.names.node_ns(&cluster_id, 0);
    let echo = node_listener(&node_ns, &node_ip, ECHO_PORT);
    let _ungranted = lab.listen_in_node(&cluster_id, 0, node_ip.parse().unwrap());
    let _ungranted2 = probe::EchoServer::start(
        &node_ns,
        SocketAddr::from((node_ip.parse::<Ipv4Addr>().unwrap(), UNGRANTED)),
    )
    .unwrap();
    lab.internet_host("laptop", LAPTOP_IP);
    let laptop_ns = lab.namespace_of(LAPTOP);
    let ca = lab.sandbox.home.path().join("isthmus-ca.pem");
    lab.cli.ok(&format!("ca get -f {}", ca.display()));
    let ca = ca.display().to_string();

    // The gateway: ready on an address of the lab's internet, with its key.
    let gateway = lab.cli.json(&format!(
        "vpn gateway create laptops --network {network} --client-cidr 100.64.7.0/24 \
         --dns push --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(gateway["status"], "ready", "{gateway:#}");
    let endpoint = gateway["endpoint"].as_str().unwrap().to_string();
    assert!(endpoint.starts_with("198.19.255."), "{endpoint}");
    assert!(gateway["public_key"].is_string(), "{gateway:#}");
    let gateway_id = id_of(&gateway);
    let gateway_iface = lab.names.vpn_iface(&gateway_id);

    // A client with a generated key, granted the TLS port and the echo port.
    let (alice, alice_key) = add_client(
        &lab,
        &gateway_id,
        "alice",
        &format!("--grant {cluster_id}:{TLS_PORT},{ECHO_PORT} --expires 30d"),
    );
    let alice_id = id_of(&alice);
    let alice_ip = alice["address"].as_str().unwrap().to_string();
    assert_eq!(alice_ip, "100.64.7.2");
    let got = lab.cli.json(&format!("vpn client get {alice_id}"));
    assert!(got.get("private_key").is_none(), "never shown again");
    let config = config_of(&lab, &alice_id, &alice_key);
    assert!(
        config.contains(&format!("AllowedIPs = 100.64.7.1/32, {node_ip}/32\n")),
        "only the granted node (and the resolver) is routed:\n{config}"
    );
    assert!(
        config.contains("DNS = 100.64.7.1, isthmus.internal\n"),
        "{config}"
    );
    assert!(
        config.contains(&format!("Endpoint = {endpoint}\n")),
        "{config}"
    );
    let qr = lab.sandbox.home.path().join("alice.png");
    lab.cli.ok(&format!(
        "vpn client config {alice_id} --qr --out {}",
        qr.display()
    ));
    assert_eq!(&std::fs::read(&qr).unwrap()[..8], b"\x89PNG\r\n\x1a\n");

    // The tunnel: wg-quick with the downloaded config, a real handshake; TLS verified
    // against the installation CA; the node sees the tunnel address (no NAT).
    wg_quick_up(&lab, &laptop_ns, LAPTOP_WG, &without_dns(&config));
    eventually("the laptop reaches the granted echo port", || {
        connect(&laptop_ns, &node_ip, ECHO_PORT).is_ok()
    });
    let (_first, seen) = connect(&laptop_ns, &node_ip, ECHO_PORT).unwrap();
    assert_eq!(seen, alice_ip, "the node sees the client's tunnel address");
    tls_verified(&lab, LAPTOP, &ca, &node_ip, TLS_PORT, &node_name)
        .expect("TLS to the granted port");

    // DNS push: the resolver on the gateway's tunnel address answers the platform zone
    // through the tunnel.
    let cluster_name = cluster["dns_name"].as_str().unwrap();
    let mut answer = None;
    eventually("the tunnel's resolver answers the cluster's name", || {
        answer = resolve_a(&laptop_ns, "100.64.7.1", cluster_name);
        answer.is_some()
    });
    assert_eq!(answer, Some(vec![node_ip.parse::<Ipv4Addr>().unwrap()]));

    // An ungranted port is refused at once (a reset, not a timeout).
    assert!(refused(&attempt(&lab, LAPTOP, &node_ip, UNGRANTED)));
    assert!(refused(&attempt(
        &lab,
        LAPTOP,
        &node_ip,
        local_support::PORT
    )));

    // Widening AllowedIPs on the laptop (and routing the whole network into the tunnel)
    // reaches nothing more: the ungranted port is still refused, the router's own address
    // and another address of the network get nothing.
    let gw_key = gateway["public_key"].as_str().unwrap();
    in_ns(
        &laptop_ns,
        &[
            "wg",
            "set",
            LAPTOP_WG,
            "peer",
            gw_key,
            "allowed-ips",
            "172.29.121.0/24",
        ],
    );
    in_ns(
        &laptop_ns,
        &["ip", "route", "add", "172.29.121.0/24", "dev", LAPTOP_WG],
    );
    assert!(refused(&attempt(&lab, LAPTOP, &node_ip, UNGRANTED)));
    for other in ["172.29.121.1", "172.29.121.200"] {
        assert_ne!(attempt(&lab, LAPTOP, other, 22).code, Some(0), "{other}");
    }
    assert!(
        connect(&laptop_ns, &node_ip, ECHO_PORT).is_ok(),
        "the grant still works"
    );

    // The analyzer agrees: the granted port is allowed; a second cluster is denied with
    // the grant to add, refused for real; after the fix's own command it is allowed, and
    // connects for real (the laptop routes the whole network into the tunnel by now).
    let allowed = lab.cli.json(&format!(
        "reach --from vpn/alice --to {cluster_id}:{TLS_PORT}"
    ));
    assert_eq!(allowed["allowed"], true, "{allowed:#}");
    let second = lab.cli.json(&format!(
        "cluster create db2 --network {network} --engine probe --topology single-node \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    let second_id = id_of(&second);
    let second_ip = node_ips(&second)[0].clone();
    let denied = lab.cli.json(&format!(
        "reach --from vpn/alice --to {second_id}:{TLS_PORT}"
    ));
    let verdict = &denied["verdicts"][0];
    assert_eq!(verdict["reason"], "vpn-not-granted", "{denied:#}");
    assert!(refused(&attempt(&lab, LAPTOP, &second_ip, TLS_PORT)));
    let command = verdict["fix"]["commands"][0].as_str().unwrap().to_string();
    let command = command
        .strip_prefix("isthmus ")
        .expect("an isthmus command");
    lab.cli.ok(command);
    let after = lab.cli.json(&format!(
        "reach --from vpn/alice --to {second_id}:{TLS_PORT}"
    ));
    assert_eq!(after["allowed"], true, "{after:#}");
    eventually("the new grant reaches the second cluster", || {
        attempt(&lab, LAPTOP, &second_ip, TLS_PORT).code == Some(0)
    });

    // The client's state comes from the data plane.
    let mut shown = Value::Null;
    eventually("the client shows connected with its denied flows", || {
        shown = lab.cli.json(&format!("vpn client get {alice_id}"));
        shown["status"] == "connected"
            && shown["denied_flows"].as_u64().unwrap_or(0) >= 2
            && shown["rx_bytes"].as_u64().unwrap_or(0) > 0
    });
    assert!(
        shown["endpoint"]
            .as_str()
            .is_some_and(|e| e.starts_with(LAPTOP_IP)),
        "{shown:#}"
    );
    assert!(shown["last_handshake_at"].is_string(), "{shown:#}");

    // The gateway process dies: the controller starts it again with every peer, and the
    // laptop reconnects.
    let pid = daemon::running_pid(&gateway_iface).expect("the gateway's wireguard-go");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + PATIENCE;
    while !(daemon::running_pid(&gateway_iface).is_some_and(|p| p != pid)
        && connect(&laptop_ns, &node_ip, ECHO_PORT).is_ok())
    {
        if Instant::now() > deadline {
            let router_ns = lab.names.router_ns(&network);
            let show = |ns: &str| {
                let out = std::process::Command::new("ip")
                    .args(["netns", "exec", ns, "wg", "show", "all", "dump"])
                    .output()
                    .unwrap();
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                )
            };
            panic!(
                "the laptop never reconnected after the gateway died\ngateway: {}\nlaptop: {}\nclient: {:#}\nlog tail: {}",
                show(&router_ns),
                show(&laptop_ns),
                lab.cli.json(&format!("vpn client get {alice_id}")),
                lab.server_log().lines().rev().take(30).collect::<Vec<_>>().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }

    // The server restarts, and the gateway process dies while it is down: the server
    // started again finds the gateway's key, restarts it with every peer, and the laptop
    // reconnects.
    lab.crash();
    let pid = daemon::running_pid(&gateway_iface).expect("the restarted wireguard-go");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    lab.restart();
    eventually("the laptop reconnects after a server restart", || {
        daemon::running_pid(&gateway_iface).is_some_and(|p| p != pid)
            && connect(&laptop_ns, &node_ip, ECHO_PORT).is_ok()
    });
    let after = lab.cli.json(&format!("vpn gateway get {gateway_id}"));
    assert_eq!(after["public_key"], gateway["public_key"], "the same key");
    assert_eq!(after["endpoint"], gateway["endpoint"], "the same address");

    // Rotation: a new key, same address and grants; the laptop takes the new key.
    let before = lab.cli.json(&format!("vpn client get {alice_id}"));
    let rotated = lab.cli.json(&format!("vpn client rotate {alice_id}"));
    assert_eq!(rotated["address"], alice["address"]);
    assert_eq!(rotated["grants"], before["grants"]);
    assert_ne!(rotated["public_key"], alice["public_key"]);
    let new_key = lab.sandbox.home.path().join("alice-2.key");
    std::fs::write(&new_key, rotated["private_key"].as_str().unwrap()).unwrap();
    in_ns(
        &laptop_ns,
        &[
            "wg",
            "set",
            LAPTOP_WG,
            "private-key",
            new_key.to_str().unwrap(),
        ],
    );
    eventually("the laptop reaches its grant with the rotated key", || {
        connect(&laptop_ns, &node_ip, ECHO_PORT).is_ok()
    });

    // Revoke: the open connection is cut at the node, and within a second of the answer
    // a new connect from the laptop is not admitted (see `assert_shut_out`).
    let router_ns = lab.names.router_ns(&network);
    let (mut open, _) = connect(&laptop_ns, &node_ip, ECHO_PORT).unwrap();
    let mut node_side = node_side_of(&echo, &open);
    drain(&echo);
    let asked = Instant::now();
    let revoked = lab.cli.json(&format!(
        "vpn client revoke {alice_id} --wait --timeout {WAIT_TIMEOUT}"
    ));
    let enforced = asked.elapsed();
    assert_eq!(revoked["status"], "deleted", "{revoked:#}");
    assert_shut_out(
        &laptop_ns,
        &node_ip,
        &echo,
        &mut open,
        &router_ns,
        &gateway_iface,
        rotated["public_key"].as_str().unwrap(),
    );
    assert_cut(&mut node_side);
    println!("revoke through the CLI to enforced (status deleted): {enforced:?}");

    // Expiry: a client whose time is up loses its tunnel the same way.
    lab.internet_host("second", "203.0.113.62");
    let second_ns = lab.namespace_of(SECOND);
    let (bob, bob_key) = add_client(
        &lab,
        &gateway_id,
        "bob",
        &format!("--grant {cluster_id}:{ECHO_PORT} --expires 25s"),
    );
    let bob_id = id_of(&bob);
    wg_quick_up(
        &lab,
        &second_ns,
        SECOND_WG,
        &without_dns(&config_of(&lab, &bob_id, &bob_key)),
    );
    eventually("bob reaches his grant before expiry", || {
        connect(&second_ns, &node_ip, ECHO_PORT).is_ok()
    });
    let (mut bob_open, _) = connect(&second_ns, &node_ip, ECHO_PORT).unwrap();
    let mut bob_node_side = node_side_of(&echo, &bob_open);
    drain(&echo);
    let expired = lab.cli.poll_status("vpn client", &bob_id, &["expired"]);
    assert!(
        expired["status_message"]
            .as_str()
            .unwrap()
            .contains("removed its key"),
        "{expired:#}"
    );
    assert_shut_out(
        &second_ns,
        &node_ip,
        &echo,
        &mut bob_open,
        &router_ns,
        &gateway_iface,
        bob["public_key"].as_str().unwrap(),
    );
    assert_cut(&mut bob_node_side);

    // The audit log names the downloads, the revoke and the expiry.
    let events = lab.cli.ok("events -o json");
    for action in [
        "vpn_client.config_download",
        "vpn_client.delete",
        "vpn_client.update",
    ] {
        assert!(events.contains(action), "no {action} in the audit log");
    }
    assert!(
        events.contains("\"expired\""),
        "the expiry is in the audit log"
    );

    // Deleting the gateway stops its process.
    lab.cli.ok(&format!(
        "vpn gateway delete {gateway_id} --cascade --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert!(daemon::running_pid(&gateway_iface).is_none());
}
