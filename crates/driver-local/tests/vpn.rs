//! The VPN gateway's data plane, for real (root): a gateway namespace runs wireguard-go
//! configured through its UAPI socket, a "laptop" namespace runs another wireguard-go
//! configured with `wg(8)`, and a "node" namespace listens behind the gateway (the lab
//! is drawn in `vpn_lab`). Kernel names use the prefix `isthv`; the guard removes them
//! even when a test fails.

mod vpn_lab;

use std::io::{ErrorKind, Read, Write};
use std::net::Ipv4Addr;
use std::time::Duration;

use std::collections::HashSet;

use isthmus_core::kinds::vpn_client::{
    new_vpn_client, VpnClient, VpnClientCreate, VpnGrantRequest,
};
use isthmus_core::kinds::vpn_config::{granted_destinations, wg_quick_config};
use isthmus_core::kinds::vpn_gateway::{new_vpn_gateway, VpnDns, VpnGateway, VpnGatewayCreate};
use isthmus_core::resources::{Cluster, ClusterCreate, NetworkCreate, Provider, Topology};
use isthmus_core::{rules, Id, ProjectId};
use isthmus_driver::wg_keys;
use isthmus_driver_local::vpn::{self, daemon, ClientSpec, Grant};
use isthmus_driver_local::{netns, probe};
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

/// The objects the API would hold for the lab: a local network whose single-node cluster
/// is the lab's node, a gateway at the lab's endpoint, and a client granted one port.
fn lab_objects(
    gateway_key: &isthmus_core::wg_key::WgKey,
    client_key: &isthmus_core::wg_key::WgKey,
) -> (VpnGateway, VpnClient, Vec<Cluster>) {
    let now = chrono::Utc::now();
    let project = ProjectId::from(Id::from_parts(1_700_000_000, [1; 8]));
    let net_req = NetworkCreate {
        name: "lab".into(),
        provider: Provider::Local,
        region: "local".into(),
        cidr_block: "10.9.0.0/24".into(),
    };
    let net = rules::new_network(
        Id::from_parts(1_700_000_000, [2; 8]).into(),
        project,
        &net_req,
        &[],
        now,
    )
    .unwrap();
    let cluster_req = ClusterCreate {
        private_allowlist: None,
        name: "orders".into(),
        network_id: net.id.to_string(),
        engine: "probe".into(),
        topology: Topology::SingleNode,
        public_access: None,
        egress_allowlist: None,
    };
    let mut cluster = rules::new_cluster(
        Id::from_parts(1_700_000_000, [3; 8]).into(),
        project,
        &cluster_req,
        &net,
        &HashSet::new(),
        "isthmus.internal",
        now,
    )
    .unwrap();
    cluster.nodes[0].ip = NODE_IP;
    let gw_req = VpnGatewayCreate {
        name: "laptops".into(),
        network_id: net.id.to_string(),
        client_cidr: "100.64.0.0/24".into(),
        dns: VpnDns::None,
        max_client_days: None,
    };
    let mut gateway = new_vpn_gateway(
        Id::from_parts(1_700_000_000, [4; 8]).into(),
        project,
        &gw_req,
        &net,
        &[],
        &[],
        &[],
        now,
    )
    .unwrap();
    gateway.public_key = Some(wg_keys::public_of(gateway_key));
    gateway.endpoint = Some("198.18.0.1:51820".into());
    let client_req = VpnClientCreate {
        name: "ada".into(),
        gateway_id: gateway.id.to_string(),
        public_key: Some(wg_keys::public_of(client_key).to_string()),
        grants: vec![VpnGrantRequest {
            cluster_id: cluster.id.to_string(),
            ports: vec![GRANTED],
        }],
        expires_at: None,
    };
    let clusters = vec![cluster];
    let client = new_vpn_client(
        Id::from_parts(1_700_000_000, [5; 8]).into(),
        project,
        &client_req,
        None,
        &gateway,
        &clusters,
        &[],
        now,
    )
    .unwrap();
    (gateway, client, clusters)
}

#[tokio::test(flavor = "multi_thread")]
async fn wg_quick_brings_the_tunnel_up_with_the_rendered_config_and_reaches_the_grant() {
    let _guard = Guard::new();
    topology();
    let gw_keys = wg_keys::generate();
    let laptop_keys = wg_keys::generate();
    let (gateway_obj, client_obj, clusters) = lab_objects(&gw_keys.private, &laptop_keys.private);
    let gateway = gateway_spec(&gw_keys.private);
    assert_eq!(gateway.tunnel_address(), gateway_obj.tunnel_address());
    vpn::ensure_gateway(&gateway).await.unwrap();
    // The client as the gateway enforces it: its grants resolved to the cluster's nodes.
    let grants = granted_destinations(&client_obj, &clusters)
        .into_iter()
        .map(|(destination, port)| Grant { destination, port })
        .collect();
    let client = ClientSpec {
        public_key: client_obj.public_key,
        address: client_obj.address,
        grants,
        endpoint: None,
    };
    vpn::apply_client(&gateway, &client).await.unwrap();
    let _node = node_service(NODE, NODE_IP, GRANTED);
    let _ungranted = node_service(NODE, NODE_IP, UNGRANTED);

    // The config the API returns, brought up by wg-quick (its userspace fallback:
    // wireguard-go) inside the laptop's namespace.
    let config = wg_quick_config(
        &gateway_obj,
        &client_obj,
        &clusters,
        "isthmus.internal",
        Some(&laptop_keys.private),
    );
    assert!(config.contains("AllowedIPs = 10.9.0.10/32\n"), "{config}");
    let dir = tempfile_dir();
    let path = dir.join("isthv-wq.conf");
    std::fs::write(&path, &config).unwrap();
    run(&[
        "ip",
        "netns",
        "exec",
        LAPTOP,
        "env",
        "WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go",
        "wg-quick",
        "up",
        path.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_dir_all(&dir);

    let (mut stream, seen) = connect(LAPTOP, NODE_IP, GRANTED, PATIENCE).expect("granted port");
    assert_eq!(seen, client_obj.address.to_string());
    assert_eq!(probe::round_trip(&mut stream, b"hi").unwrap(), b"hi");
    assert_eq!(attempt(LAPTOP, NODE_IP, UNGRANTED), Outcome::Refused);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("isthv-wq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sweep_stops_gateways_no_live_object_claims_and_keeps_the_others() {
    let _guard = Guard::new();
    for ns in [GW, LAPTOP] {
        netns::create(ns).unwrap();
    }
    daemon::ensure_running(GW, "isthv-keep").unwrap();
    daemon::ensure_running(LAPTOP, "isthv-orphan").unwrap();
    let (stopped, errors) = vpn::sweep::sweep_gateways(PREFIX, &["isthv-keep".to_string()]);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(stopped, vec!["isthv-orphan".to_string()]);
    assert!(daemon::running_pid("isthv-orphan").is_none());
    assert!(daemon::running_pid("isthv-keep").is_some());
}
