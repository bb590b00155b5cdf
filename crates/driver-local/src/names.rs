//! Deterministic kernel object names. Every namespace, interface and nftables object the
//! local driver creates is named from a resource id under one prefix, so the driver can
//! find its own objects again after a restart and recognise orphans.
//!
//! Interface names are limited to 15 bytes (IFNAMSIZ - 1): `<prefix><kind><8 hex>` with a
//! prefix of at most 6 characters fits exactly.

use anyhow::{bail, Result};
use sha2::{Digest, Sha256};

/// The default prefix of every kernel object of the local driver.
pub const DEFAULT_PREFIX: &str = "isth";

/// The nftables table in every router namespace (namespaced, so one fixed name is enough).
pub const TABLE: &str = "isthmus";

/// The interface name inside node and lab host namespaces (each has its own namespace).
pub const HOST_IFACE: &str = "eth0";

/// Names of kernel objects under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    prefix: String,
}

/// What a namespace of ours stands for, parsed back from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceKind {
    /// `<p>-r-<hash(network)>`
    Router(String),
    /// `<p>-n-<hash(cluster)>-<index>`
    Node { cluster: String, index: u32 },
    /// `<p>-l-<hash(lab vpc)>`
    LabRouter(String),
    /// `<p>-h-<hash(lab vpc/host)>`
    LabHost(String),
    /// `<p>-m-<hash(migration)>`: a migration's replicator on its target network.
    Migration(String),
    /// `<p>-inet`: the lab's internet.
    Internet,
    /// `<p>-i-<hash(internet host)>`
    InternetHost(String),
    /// `<p>-e-<hash(lab vpc/endpoint)>`: a lab endpoint (private endpoint in a lab VPC).
    Endpoint(String),
}

/// The first 8 hex characters of the SHA-256 of `key`: short, stable, collision-unlikely.
pub fn short_hash(key: &str) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..4])
}

fn is_hash(s: &str) -> bool {
    s.len() == 8
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

impl Names {
    /// A prefix is 4 to 6 lowercase letters or digits starting with `isth`, so interface
    /// names stay within 15 bytes and `ip netns list | grep isth` finds everything.
    pub fn new(prefix: &str) -> Result<Names> {
        let ok_chars = prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !prefix.starts_with(DEFAULT_PREFIX) || prefix.len() > 6 || !ok_chars {
            bail!(
                "prefix '{prefix}' must start with '{DEFAULT_PREFIX}', be at most 6 characters \
                 and use only a-z and 0-9"
            );
        }
        Ok(Names {
            prefix: prefix.to_string(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn iface(&self, kind: char, key: &str) -> String {
        format!("{}{kind}{}", self.prefix, short_hash(key))
    }

    pub fn router_ns(&self, network_id: &str) -> String {
        format!("{}-r-{}", self.prefix, short_hash(network_id))
    }
    pub fn node_ns(&self, cluster_id: &str, index: u32) -> String {
        format!("{}-n-{}-{index}", self.prefix, short_hash(cluster_id))
    }
    pub fn lab_router_ns(&self, vpc: &str) -> String {
        format!("{}-l-{}", self.prefix, short_hash(vpc))
    }
    pub fn lab_host_ns(&self, vpc: &str, host: &str) -> String {
        format!("{}-h-{}", self.prefix, short_hash(&format!("{vpc}/{host}")))
    }

    /// The namespace of a lab endpoint (a private endpoint inside lab VPC `vpc`).
    pub fn endpoint_ns(&self, vpc: &str, endpoint: &str) -> String {
        format!(
            "{}-e-{}",
            self.prefix,
            short_hash(&format!("{vpc}/{endpoint}"))
        )
    }
    /// A lab endpoint's port on the lab VPC bridge (its customer leg).
    pub fn endpoint_lab_port(&self, vpc: &str, endpoint: &str) -> String {
        self.iface('e', &format!("{vpc}/{endpoint}"))
    }
    /// A lab endpoint's port on the platform network's bridge (its NAT leg).
    pub fn endpoint_platform_port(&self, vpc: &str, endpoint: &str) -> String {
        self.iface('f', &format!("{vpc}/{endpoint}"))
    }
    /// A migration's replicator (a host on its target network's bridge).
    pub fn migration_ns(&self, migration_id: &str) -> String {
        format!("{}-m-{}", self.prefix, short_hash(migration_id))
    }
    /// A replicator's port on the network bridge.
    pub fn migration_port(&self, migration_id: &str) -> String {
        self.iface('m', migration_id)
    }

    /// The lab's internet (15 characters with the longest prefix).
    pub fn internet_ns(&self) -> String {
        format!("{}-inet", self.prefix)
    }
    pub fn internet_host_ns(&self, host: &str) -> String {
        format!("{}-i-{}", self.prefix, short_hash(host))
    }
    /// The internet end of an internet host's veth (in the internet namespace).
    pub fn internet_host_port(&self, host: &str) -> String {
        self.iface('i', host)
    }
    /// The router end of a network's uplink to the internet (in its router namespace).
    pub fn uplink(&self, network_id: &str) -> String {
        self.iface('u', network_id)
    }
    /// The internet end of a network's uplink (in the internet namespace).
    pub fn uplink_peer(&self, network_id: &str) -> String {
        self.iface('w', network_id)
    }

    /// The bridge of a platform network, in its router namespace.
    pub fn bridge(&self, network_id: &str) -> String {
        self.iface('b', network_id)
    }
    /// A node's port on the network bridge (router side of the node's veth).
    pub fn node_port(&self, cluster_id: &str, index: u32) -> String {
        self.iface('n', &format!("{cluster_id}/{index}"))
    }
    /// The platform end of a peering veth (in the network's router namespace).
    pub fn peering_link(&self, peering_id: &str) -> String {
        self.iface('p', peering_id)
    }
    /// The customer end of a peering veth (in the lab VPC's router namespace).
    pub fn peering_peer_link(&self, peering_id: &str) -> String {
        self.iface('q', peering_id)
    }
    /// The bridge of a lab VPC, in its router namespace.
    pub fn lab_bridge(&self, vpc: &str) -> String {
        self.iface('v', vpc)
    }
    /// A lab host's port on the lab VPC bridge.
    pub fn lab_host_port(&self, vpc: &str, host: &str) -> String {
        self.iface('h', &format!("{vpc}/{host}"))
    }
    /// The ends of a link between two lab VPC routers (`a` side, `b` side).
    pub fn lab_link(&self, a: &str, b: &str) -> (String, String) {
        let key = format!("{a}<>{b}");
        (self.iface('x', &key), self.iface('y', &key))
    }

    /// nftables objects of one peering: its allowed-sources set and its chain.
    pub fn peering_set(&self, peering_id: &str) -> String {
        format!("src_{}", short_hash(peering_id))
    }
    pub fn peering_chain(&self, peering_id: &str) -> String {
        format!("peer_{}", short_hash(peering_id))
    }
    /// The egress chain of one cluster.
    pub fn egress_chain(&self, cluster_id: &str) -> String {
        format!("egress_{}", short_hash(cluster_id))
    }

    /// A cluster's public endpoint: its allow-list chain (`pub_<h>`, the sets are
    /// `pub_<h>_0`/`pub_<h>_1`, swapped on a replacing change) and its DNAT chain.
    pub fn public_chain(&self, cluster_id: &str) -> String {
        format!("pub_{}", short_hash(cluster_id))
    }
    pub fn dnat_chain(&self, cluster_id: &str) -> String {
        format!("dnat_{}", short_hash(cluster_id))
    }
    /// A cluster's private allow-list chain (sets `prv_<h>_0`/`prv_<h>_1`).
    pub fn private_chain(&self, cluster_id: &str) -> String {
        format!("prv_{}", short_hash(cluster_id))
    }

    /// A VPN gateway's WireGuard interface (in its network's router namespace; its
    /// wireguard-go socket path is host-wide, so the name is unique on the host).
    pub fn vpn_iface(&self, gateway_id: &str) -> String {
        self.iface('g', gateway_id)
    }
    /// A VPN gateway's chains in its router's table: `vpn_<h>` (packets from its
    /// interface, already judged by the gateway's own table) and `vpnin_<h>` (its UDP
    /// port on its public address).
    pub fn vpn_chain(&self, gateway_id: &str) -> String {
        format!("vpn_{}", short_hash(gateway_id))
    }
    pub fn vpn_in_chain(&self, gateway_id: &str) -> String {
        format!("vpnin_{}", short_hash(gateway_id))
    }

    /// Whether `name` is an interface of ours (`<prefix><kind><8 hex>`, exactly).
    pub fn is_our_iface(&self, name: &str) -> bool {
        name.strip_prefix(&self.prefix)
            .and_then(|rest| rest.get(1..))
            .is_some_and(is_hash)
    }

    /// Parses a namespace name of ours; `None` for anything else (other prefixes too).
    pub fn parse_ns(&self, name: &str) -> Option<NamespaceKind> {
        let rest = name.strip_prefix(&self.prefix)?.strip_prefix('-')?;
        if rest == "inet" {
            return Some(NamespaceKind::Internet);
        }
        let (kind, rest) = rest.split_once('-')?;
        match kind {
            "r" if is_hash(rest) => Some(NamespaceKind::Router(rest.into())),
            "l" if is_hash(rest) => Some(NamespaceKind::LabRouter(rest.into())),
            "h" if is_hash(rest) => Some(NamespaceKind::LabHost(rest.into())),
            "i" if is_hash(rest) => Some(NamespaceKind::InternetHost(rest.into())),
            "e" if is_hash(rest) => Some(NamespaceKind::Endpoint(rest.into())),
            "m" if is_hash(rest) => Some(NamespaceKind::Migration(rest.into())),
            "n" => {
                let (hash, index) = rest.split_once('-')?;
                let index = index.parse().ok()?;
                is_hash(hash).then(|| NamespaceKind::Node {
                    cluster: hash.into(),
                    index,
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_fit_ifnamsiz_with_the_longest_prefix() {
        let names = Names::new("isthz9").unwrap();
        for name in [
            names.bridge("n"),
            names.node_port("c", 2),
            names.peering_link("p"),
            names.lab_link("a", "b").0,
            names.uplink("n"),
            names.internet_host_port("h"),
            names.vpn_iface("g"),
        ] {
            assert_eq!(name.len(), 15, "{name}");
            assert!(names.is_our_iface(&name));
        }
        assert_eq!(names.internet_ns(), "isthz9-inet");
    }

    #[test]
    fn namespaces_parse_back_and_other_prefixes_are_not_ours() {
        let names = Names::new("isth").unwrap();
        let test_names = Names::new("istha1").unwrap();
        let ns = names.node_ns("cluster", 2);
        assert_eq!(
            names.parse_ns(&ns),
            Some(NamespaceKind::Node {
                cluster: short_hash("cluster"),
                index: 2
            })
        );
        assert_eq!(names.parse_ns(&test_names.router_ns("x")), None);
        assert_eq!(
            names.parse_ns(&names.internet_ns()),
            Some(NamespaceKind::Internet)
        );
        assert_eq!(
            names.parse_ns(&names.internet_host_ns("web")),
            Some(NamespaceKind::InternetHost(short_hash("web")))
        );
        assert!(!names.is_our_iface(&test_names.bridge("x")));
        assert!(Names::new("other").is_err());
        assert!(Names::new("isth-toolong").is_err());
    }
}
