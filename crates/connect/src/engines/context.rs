//! Everything about one node that goes into its command line and configuration.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use isthmus_core::engines::Engine;

/// Another member of the same cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub node_name: String,
    pub ip: IpAddr,
    /// Usually the engine's catalog ports; tests on one loopback address give each node its own.
    pub ports: BTreeMap<String, u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchContext {
    pub cluster_id: String,
    pub node_index: u32,
    /// `<cluster-id>-<n>.<zone>`.
    pub node_name: String,
    /// `<cluster-id>.<zone>`.
    pub cluster_name: String,
    pub node_ip: IpAddr,
    /// The node's own directory (created by the caller); config files are written here.
    pub data_dir: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    /// The other nodes of the cluster (empty for a single node).
    pub peers: Vec<Peer>,
    /// This node's named ports.
    pub ports: BTreeMap<String, u16>,
    /// How the node identifies itself among the cluster's members (moves, see
    /// [`Membership`]); the default is what every node had before moves existed.
    pub membership: Membership,
}

/// What a node says about itself to the other members, beyond its name. A cluster that
/// moves to another network runs its old and new nodes side by side for a while: the
/// new ones keep the DNS names of the nodes they replace, so they need a member name of
/// their own, a tag saying where they are (the engine places data by it), and the
/// cluster an administrative login to retire the old members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    /// The member name, when not the node's DNS name (a node that replaces another one
    /// of the same name in a move).
    pub member_name: Option<String>,
    /// Placement tags, e.g. `isthmus-net:<network id>`.
    pub tags: Vec<String>,
    /// The password of the engine's administrative (system) user `isthmus`, when the
    /// cluster has one; it lives in the node dir (0600), never in the store.
    pub system_password: Option<String>,
}

/// The catalog's named ports, for a node that listens on its own IP.
pub fn catalog_ports(engine: &Engine) -> BTreeMap<String, u16> {
    engine
        .ports
        .iter()
        .map(|p| (p.name.to_string(), p.number))
        .collect()
}

impl LaunchContext {
    /// The name this node goes by among the cluster's members.
    pub fn member_name(&self) -> &str {
        self.membership
            .member_name
            .as_deref()
            .unwrap_or(&self.node_name)
    }

    pub fn port(&self, name: &str) -> anyhow::Result<u16> {
        self.ports
            .get(name)
            .copied()
            .ok_or_else(|| anyhow::anyhow!("node {} has no port named {name:?}", self.node_name))
    }

    pub fn addr(&self, port_name: &str) -> anyhow::Result<SocketAddr> {
        Ok(SocketAddr::new(self.node_ip, self.port(port_name)?))
    }
}

impl Peer {
    pub fn addr(&self, port_name: &str) -> anyhow::Result<SocketAddr> {
        let port = self.ports.get(port_name).copied().ok_or_else(|| {
            anyhow::anyhow!("peer {} has no port named {port_name:?}", self.node_name)
        })?;
        Ok(SocketAddr::new(self.ip, port))
    }
}
