//! The indexes a snapshot is queried through, built once: lab VPCs by prefix, live
//! peering routes per platform network by prefix, and names (ids, DNS names, node IPs)
//! by hash.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::ipam::PrefixSet;
use crate::lab::LabVpc;
use crate::NetworkId;

use super::{ReachError, ReachSnapshot, Source};

/// A destination node: (cluster index, node index) into the snapshot.
pub(super) type NodeRef = (usize, usize);

pub struct ReachIndex<'a> {
    pub(super) snap: &'a ReachSnapshot,
    /// Lab VPC CIDRs → index into `snap.lab_vpcs`.
    lab_by_prefix: PrefixSet<usize>,
    lab_by_name: HashMap<&'a str, usize>,
    /// Per platform network: the routes of its live peerings → index into `snap.peerings`.
    pub(super) routes: HashMap<NetworkId, PrefixSet<usize>>,
    /// (platform network, peer network name) → live peerings between them.
    pub(super) peerings_to: HashMap<(NetworkId, &'a str), Vec<usize>>,
    pub(super) networks: HashMap<NetworkId, usize>,
    /// Cluster id and DNS name → cluster index.
    clusters: HashMap<String, usize>,
    /// Node DNS name, `<id>-<n>` and IP → node.
    nodes: HashMap<String, NodeRef>,
}

impl<'a> ReachIndex<'a> {
    pub fn new(snap: &'a ReachSnapshot) -> Self {
        let lab_by_prefix = snap
            .lab_vpcs
            .iter()
            .enumerate()
            .map(|(i, v)| (v.cidr_block, i))
            .collect();
        let lab_by_name = snap
            .lab_vpcs
            .iter()
            .enumerate()
            .map(|(i, v)| (v.name.as_str(), i))
            .collect();
        let mut routes: HashMap<NetworkId, PrefixSet<usize>> = HashMap::new();
        let mut peerings_to: HashMap<(NetworkId, &str), Vec<usize>> = HashMap::new();
        for (i, p) in snap.peerings.iter().enumerate() {
            if !p.status.is_live() {
                continue;
            }
            let set = routes.entry(p.network_id).or_default();
            for r in &p.routes {
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
        for (ci, c) in snap.clusters.iter().enumerate() {
            if !c.status.is_live() {
                continue;
            }
            clusters.insert(c.id.to_string(), ci);
            clusters.insert(c.dns_name.clone(), ci);
            for (ni, n) in c.nodes.iter().enumerate() {
                nodes.insert(n.dns_name.clone(), (ci, ni));
                nodes.insert(format!("{}-{}", c.id, n.index), (ci, ni));
                nodes.insert(n.ip.to_string(), (ci, ni));
            }
        }
        ReachIndex {
            snap,
            lab_by_prefix,
            lab_by_name,
            routes,
            peerings_to,
            networks,
            clusters,
            nodes,
        }
    }

    /// The source address and the lab VPC it lies in, if any.
    pub(super) fn resolve_source(
        &self,
        source: &Source,
    ) -> Result<(Ipv4Addr, Option<&'a LabVpc>), ReachError> {
        match source {
            Source::Ip(ip) => {
                let vpc = self
                    .lab_by_prefix
                    .longest_match(*ip)
                    .map(|(_, i)| &self.snap.lab_vpcs[*i]);
                Ok((*ip, vpc))
            }
            Source::LabHost { vpc, host } => {
                let v = self
                    .lab_by_name
                    .get(vpc.as_str())
                    .map(|i| &self.snap.lab_vpcs[*i])
                    .ok_or_else(|| ReachError::UnknownSource(format!("no lab VPC '{vpc}'")))?;
                let h = v.hosts.iter().find(|h| &h.name == host).ok_or_else(|| {
                    ReachError::UnknownSource(format!("lab VPC {vpc} has no host '{host}'"))
                })?;
                Ok((h.ip, Some(v)))
            }
        }
    }

    /// The nodes a destination names: a cluster (id or DNS name) is every node; a node
    /// DNS name, `<id>-<n>` or node IP is that node. A trailing dot is ignored.
    pub(super) fn resolve_destination(&self, to: &str) -> Result<Vec<NodeRef>, ReachError> {
        let key = to.trim_end_matches('.');
        if let Some(ci) = self.clusters.get(key) {
            return Ok((0..self.snap.clusters[*ci].nodes.len())
                .map(|ni| (*ci, ni))
                .collect());
        }
        self.nodes
            .get(key)
            .map(|n| vec![*n])
            .ok_or_else(|| ReachError::UnknownDestination(to.to_string()))
    }
}
