//! Shared fixtures for the root tests: a driver under a per-test prefix that removes
//! everything it made when dropped, and builders for the resources the driver reads.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use isthmus_core::resources::{
    AllowlistEntry, Cluster, Network, Node, PeerSpec, Peering, Provider, PublicAccess,
    PublicEndpoint, Topology,
};
use isthmus_core::state::{ClusterStatus, NetworkStatus, NodeStatus, PeeringStatus};
use isthmus_core::{Cidr, Id};
use isthmus_driver_local::{netns, probe, LocalConfig, LocalDriver};

/// How long a connection attempt may take before it counts as refused by the firewall
/// (dropped packets never answer). Namespaces on one host answer in well under this.
pub const DENIED_AFTER: Duration = Duration::from_millis(1500);

pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the local driver tests create network namespaces and must run as root \
         (CI runs them as root; run `sudo -E cargo test -p isthmus-driver-local`)"
    );
}

/// A driver under its own prefix; everything under that prefix is removed on drop.
pub struct Fixture {
    pub driver: Arc<LocalDriver>,
}

impl Fixture {
    pub fn new(prefix: &str) -> Fixture {
        require_root();
        let driver = LocalDriver::new(LocalConfig {
            prefix: prefix.to_string(),
        })
        .expect("driver");
        driver.purge(); // leftovers of an interrupted earlier run
        Fixture { driver }
    }

    pub fn namespaces(&self) -> Vec<String> {
        let prefix = format!("{}-", self.driver.names().prefix());
        netns::list()
            .unwrap()
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
            .collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let report = self.driver.purge();
        let left = self.namespaces();
        if !std::thread::panicking() {
            assert!(
                report.errors.is_empty(),
                "cleanup errors: {:?}",
                report.errors
            );
            assert!(left.is_empty(), "namespaces left behind: {left:?}");
        }
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub fn new_id() -> Id {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let unique = (u64::from(std::process::id()) << 32 | n).to_be_bytes();
    Id::from_parts(Utc::now().timestamp() as u32, unique)
}

pub fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

pub fn network(cidr_block: &str) -> Network {
    let now = Utc::now();
    Network {
        id: new_id().into(),
        project_id: new_id().into(),
        name: "net".into(),
        provider: Provider::Local,
        region: "local".into(),
        cidr_block: cidr(cidr_block),
        status: NetworkStatus::Provisioning,
        status_message: String::new(),
        provider_network_id: None,
        generation: 1,
        observed_generation: 0,
        conditions: vec![],
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

pub fn cluster(network: &Network, ips: &[&str]) -> Cluster {
    let now = Utc::now();
    let nodes = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| Node {
            index: i as u32,
            ip: ip.parse().unwrap(),
            dns_name: format!("node-{i}"),
            zone: "local-a".into(),
            status: NodeStatus::Provisioning,
        })
        .collect();
    Cluster {
        private_allowlist: Vec::new(),
        public_endpoint: None,
        warnings: Vec::new(),
        id: new_id().into(),
        project_id: network.project_id,
        name: "db".into(),
        network_id: network.id,
        engine: "kurrentdb".into(),
        topology: if ips.len() == 3 {
            Topology::ThreeNodeMultiZone
        } else {
            Topology::SingleNode
        },
        public_access: PublicAccess::default(),
        egress_allowlist: vec![],
        dns_name: "db.isthmus.internal".into(),
        nodes,
        addresses: vec![],
        network_move: None,
        status: ClusterStatus::Provisioning,
        status_message: String::new(),
        generation: 1,
        observed_generation: 0,
        conditions: vec![],
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

pub fn peering(network: &Network, lab_vpc: &str, routes: &[&str]) -> Peering {
    let now = Utc::now();
    Peering {
        transit_routes: Vec::new(),
        id: new_id().into(),
        project_id: network.project_id,
        name: format!("to-{lab_vpc}"),
        network_id: network.id,
        peer: PeerSpec {
            account_id: "lab".into(),
            network_id: lab_vpc.into(),
            region: "local".into(),
        },
        routes: routes.iter().map(|r| cidr(r)).collect(),
        allow_gateway_transit: false,
        status: PeeringStatus::Provisioning,
        status_message: String::new(),
        provider_peering_id: None,
        customer_actions: vec![],
        warnings: vec![],
        generation: 1,
        observed_generation: 0,
        conditions: vec![],
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

pub fn addr(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

/// Whether a TCP connection from namespace `from` to `to` is established and carries data.
pub fn can_connect(from: &str, to: SocketAddr) -> bool {
    match probe::connect(from, to, DENIED_AFTER) {
        Ok(mut stream) => probe::round_trip(&mut stream, b"ping")
            .map(|b| b == b"ping")
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Turns public access on with `allowlist`, at endpoint `ip` (as the server assigns it).
pub fn open_public(cluster: &mut Cluster, ip: &str, allowlist: &[&str]) {
    cluster.public_access = PublicAccess {
        enabled: true,
        allowlist: allowlist.iter().map(|c| entry(c)).collect(),
    };
    cluster.public_endpoint = Some(PublicEndpoint {
        dns_name: format!("public-{}.isthmus.internal", cluster.id),
        ip: ip.parse().unwrap(),
    });
}

/// Turns public access off (the server clears the endpoint with it).
pub fn close_public(cluster: &mut Cluster) {
    cluster.public_access.enabled = false;
    cluster.public_endpoint = None;
}

pub fn entry(c: &str) -> AllowlistEntry {
    AllowlistEntry {
        cidr: cidr(c),
        comment: String::new(),
        expires_at: None,
    }
}

/// An established connection still carries bytes both ways.
pub fn still_carries(stream: &mut std::net::TcpStream, payload: &[u8]) -> bool {
    probe::round_trip(stream, payload).is_ok_and(|back| back == payload)
}

/// Connects and reads the greeting of the server that answered (`None`: no connection).
pub fn greeting_from(from: &str, to: SocketAddr, len: usize) -> Option<String> {
    use std::io::Read;
    let mut stream = probe::connect(from, to, DENIED_AFTER).ok()?;
    let mut buf = vec![0; len];
    stream.read_exact(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}
