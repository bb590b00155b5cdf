//! The VPN gateway's data plane, for real (root): a gateway namespace runs wireguard-go
//! configured through its UAPI socket, a "laptop" namespace runs another wireguard-go
//! configured with `wg(8)`, and a "node" namespace listens behind the gateway (the lab
//! is drawn in `vpn_lab`). Kernel names use the prefix `isthv`; the guard removes them
//! even when a test fails.

mod vpn_lab;

use std::io::{ErrorKind, Read, Write};
use std::net::Ipv4Addr;
use std::time::Duration;

use isthmus_driver::wg_keys;
use isthmus_driver_local::probe;
use isthmus_driver_local::vpn::{self, daemon, ClientSpec, Grant};
use vpn_lab::*;

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
