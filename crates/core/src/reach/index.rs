//! The indexes a snapshot is queried through, built once: lab VPCs by prefix, live
//! peering routes and transit routes per platform network by prefix, internet hosts,
//! names (ids, DNS names, node IPs, public endpoints) by hash, and every cluster's
//! allow-lists as sorted prefixes.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::OnceLock;

use crate::ipam::PrefixSet;
use crate::lab::{LabHost, LabVpc, INTERNET};
use crate::{Cidr, NetworkId};

use super::allow::AllowSet;
use super::{ReachError, ReachSnapshot, Source};

/// A destination node: (cluster index, node index) into the snapshot.
pub(super) type NodeRef = (usize, usize);

/// Where a source address lives.
#[derive(Debug, Clone, Copy)]
pub(super) enum Origin<'a> {
    Lab(&'a LabVpc),
    /// An internet host, or (`None`) a public-looking address of no known host.
    Internet(Option<&'a LabHost>),
    /// No known network: a customer address the snapshot does not hold (on a cloud, the
    /// peer VPC's), or an address that is neither private nor public.
    Unknown,
}

/// What a destination names: nodes, reached over their private addresses or through the
/// cluster's public endpoint.
pub(super) struct Target {
    pub(super) nodes: Vec<NodeRef>,
    pub(super) public: bool,
}

pub struct ReachIndex<'a> {
    pub(super) snap: &'a ReachSnapshot,
    /// Lab VPC CIDRs → index into `snap.lab_vpcs`.
    lab_by_prefix: PrefixSet<usize>,
    lab_by_name: HashMap<&'a str, usize>,
    /// Per platform network: the routes and transit routes of its live peerings → index
    /// into `snap.peerings`.
    pub(super) routes: HashMap<NetworkId, PrefixSet<usize>>,
    /// (platform network, peer network name) → live peerings between them.
    pub(super) peerings_to: HashMap<(NetworkId, &'a str), Vec<usize>>,
    pub(super) networks: HashMap<NetworkId, usize>,
    /// Cluster id and DNS name → cluster index.
    clusters: HashMap<String, usize>,
    /// Node DNS name, `<id>-<n>` and IP → node.
    nodes: HashMap<String, NodeRef>,
    /// `public-<id>.<zone>`, `public-<id>` and the endpoint IP → cluster index. A cluster
    /// whose public access is off keeps its names, so the answer says it is off.
    public: HashMap<String, usize>,
    internet_by_name: HashMap<&'a str, usize>,
    internet_by_ip: HashMap<Ipv4Addr, usize>,
    /// Per cluster index: its public and private allow-lists, sorted on first use — a
    /// request asks about one cluster, so it sorts that cluster's lists only, not the
    /// (up to 2 × 8,000) entries of every cluster.
    public_allow: Vec<OnceLock<AllowSet>>,
    private_allow: Vec<OnceLock<AllowSet>>,
}

/// Each item's key → the item's index in `items`.
fn positions<'s, T, K, C: FromIterator<(K, usize)>>(items: &'s [T], key: impl Fn(&'s T) -> K) -> C {
    items.iter().enumerate().map(|(i, x)| (key(x), i)).collect()
}

impl<'a> ReachIndex<'a> {
    pub fn new(snap: &'a ReachSnapshot) -> Self {
        let lab_by_prefix = positions(&snap.lab_vpcs, |v| v.cidr_block);
        let lab_by_name = positions(&snap.lab_vpcs, |v| v.name.as_str());
        let mut routes: HashMap<NetworkId, PrefixSet<usize>> = HashMap::new();
        let mut peerings_to: HashMap<(NetworkId, &str), Vec<usize>> = HashMap::new();
        for (i, p) in snap.peerings.iter().enumerate() {
            if !p.status.is_live() {
                continue;
            }
            let set = routes.entry(p.network_id).or_default();
            for r in p.routes.iter().chain(&p.transit_routes) {
                set.insert(*r, i);
            }
            peerings_to
                .entry((p.network_id, p.peer.network_id.as_str()))
                .or_default()
                .push(i);
        }
        let networks = snap
            .networks
            .iter()
            .enumerate()
            .filter(|(_, n)| n.status.is_live())
            .map(|(i, n)| (n.id, i))
            .collect();
        let mut clusters = HashMap::new();
        let mut nodes = HashMap::new();
        let mut public = HashMap::new();
        for (ci, c) in snap.clusters.iter().enumerate() {
            if !c.status.is_live() {
                continue;
            }
            clusters.insert(c.id.to_string(), ci);
            clusters.insert(c.dns_name.clone(), ci);
            public.insert(super::public::public_dns_name(c), ci);
            public.insert(format!("public-{}", c.id), ci);
            if let Some(e) = &c.public_endpoint {
                public.insert(e.dns_name.clone(), ci);
                public.insert(e.ip.to_string(), ci);
            }
            for (ni, n) in c.nodes.iter().enumerate() {
                nodes.insert(n.dns_name.clone(), (ci, ni));
                nodes.insert(format!("{}-{}", c.id, n.index), (ci, ni));
                nodes.insert(n.ip.to_string(), (ci, ni));
            }
        }
        let internet_by_name = positions(&snap.internet_hosts, |h| h.name.as_str());
        let internet_by_ip = positions(&snap.internet_hosts, |h| h.ip);
        let lazy = || snap.clusters.iter().map(|_| OnceLock::new()).collect();
        ReachIndex {
            public_allow: lazy(),
            private_allow: lazy(),
            snap,
            lab_by_prefix,
            lab_by_name,
            routes,
            peerings_to,
            networks,
            clusters,
            nodes,
            public,
            internet_by_name,
            internet_by_ip,
        }
    }

    /// The public allow-list of the cluster at `ci`.
    pub(super) fn public_allow(&self, ci: usize) -> &AllowSet {
        self.public_allow[ci]
            .get_or_init(|| AllowSet::new(&self.snap.clusters[ci].public_access.allowlist))
    }

    /// The private allow-list of the cluster at `ci`.
    pub(super) fn private_allow(&self, ci: usize) -> &AllowSet {
        self.private_allow[ci]
            .get_or_init(|| AllowSet::new(&self.snap.clusters[ci].private_allowlist))
    }

    pub(super) fn lab_vpc(&self, name: &str) -> Option<&'a LabVpc> {
        self.lab_by_name.get(name).map(|i| &self.snap.lab_vpcs[*i])
    }

    /// The source address and where it lives: an address inside a lab VPC is that VPC's;
    /// an internet host's address or any other public-looking one is the internet's.
    pub(super) fn resolve_source(
        &self,
        source: &Source,
    ) -> Result<(Ipv4Addr, Origin<'a>), ReachError> {
        match source {
            Source::Ip(ip) => {
                let snap = self.snap;
                let origin = if let Some((_, i)) = self.lab_by_prefix.longest_match(*ip) {
                    Origin::Lab(&snap.lab_vpcs[*i])
                } else if let Some(i) = self.internet_by_ip.get(ip) {
                    Origin::Internet(Some(&snap.internet_hosts[*i]))
                } else if is_public(*ip) {
                    Origin::Internet(None)
                } else {
                    Origin::Unknown
                };
                Ok((*ip, origin))
            }
            Source::LabHost { vpc, host } if vpc == INTERNET => {
                let h = self
                    .internet_by_name
                    .get(host.as_str())
                    .map(|i| &self.snap.internet_hosts[*i])
                    .ok_or_else(|| {
                        ReachError::UnknownSource(format!("the internet has no host '{host}'"))
                    })?;
                Ok((h.ip, Origin::Internet(Some(h))))
            }
            Source::Vpn(client) => Err(ReachError::UnknownSource(format!(
                "vpn/{client} is analyzed on its own path"
            ))),
            Source::LabHost { vpc, host } => {
                let v = self
                    .lab_by_name
                    .get(vpc.as_str())
                    .map(|i| &self.snap.lab_vpcs[*i])
                    .ok_or_else(|| ReachError::UnknownSource(format!("no lab VPC '{vpc}'")))?;
                let h = v.hosts.iter().find(|h| &h.name == host).ok_or_else(|| {
                    ReachError::UnknownSource(format!("lab VPC {vpc} has no host '{host}'"))
                })?;
                Ok((h.ip, Origin::Lab(v)))
            }
        }
    }

    /// The nodes a destination names: a cluster (id or DNS name) is every node; a node
    /// DNS name, `<id>-<n>` or node IP is that node; a public endpoint (name or IP) is
    /// every node, reached through it. A trailing dot is ignored.
    pub(super) fn resolve_destination(&self, to: &str) -> Result<Target, ReachError> {
        let key = to.trim_end_matches('.');
        let every_node = |ci: usize, public: bool| Target {
            nodes: (0..self.snap.clusters[ci].nodes.len())
                .map(|ni| (ci, ni))
                .collect(),
            public,
        };
        if let Some(ci) = self.clusters.get(key) {
            return Ok(every_node(*ci, false));
        }
        if let Some(ci) = self.public.get(key) {
            return Ok(every_node(*ci, true));
        }
        self.nodes
            .get(key)
            .map(|n| Target {
                nodes: vec![*n],
                public: false,
            })
            .ok_or_else(|| ReachError::UnknownDestination(to.to_string()))
    }
}

/// Not an address the internet routes to a private network: not private, shared,
/// loopback, link-local, multicast or reserved, and not a public endpoint (the same
/// ranges `lab::new_internet_host` refuses).
fn is_public(ip: Ipv4Addr) -> bool {
    const SPECIAL: [(u32, u8); 9] = [
        (0x0000_0000, 8),  // 0.0.0.0/8
        (0x7f00_0000, 8),  // 127.0.0.0/8
        (0xa9fe_0000, 16), // 169.254.0.0/16
        (0xe000_0000, 3),  // 224.0.0.0/3
        (0x0a00_0000, 8),  // 10.0.0.0/8
        (0xac10_0000, 12), // 172.16.0.0/12
        (0xc0a8_0000, 16), // 192.168.0.0/16
        (0x6440_0000, 10), // 100.64.0.0/10
        (0xc612_0000, 15), // 198.18.0.0/15
    ];
    !SPECIAL
        .iter()
        .any(|(net, len)| Cidr::containing(Ipv4Addr::from(*net), *len).contains_addr(ip))
}
