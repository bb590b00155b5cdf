//! What the simulated clouds remember: the customers' VPCs, the platform's networks and
//! nodes, and the peering connections between them, with each cloud's own state words.
//! Changes are `Record`s, applied here and journaled by the caller.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use isthmus_core::resources::{PeerSpec, Provider};
use isthmus_core::{Cidr, ClusterId, NetworkId, PeeringId};
use serde::{Deserialize, Serialize};

use super::journal::Record;
use super::CustomerVpc;

/// A network the platform created in a cloud.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SimNetwork {
    pub id: NetworkId,
    pub cloud: Provider,
    pub provider_network_id: String,
    pub region: String,
    pub cidr_block: Cidr,
    /// Clouds take a while to create a network; until then it is `Creating`.
    pub ready_at: DateTime<Utc>,
}

/// Where a peering connection is in its cloud's handshake (the word differs per cloud).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Phase {
    /// AWS: pending-acceptance; GCP: our side INACTIVE; Azure: waiting for the role grant.
    Pending,
    Active,
    /// The cloud refused the request (unknown peer, overlapping CIDR).
    Failed,
    Rejected,
    /// The customer deleted their side of a connection that was up.
    PeerDeleted,
}

impl Phase {
    /// Terminal phases are left only by a fresh request.
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Failed | Phase::Rejected | Phase::PeerDeleted)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SimPeering {
    pub id: PeeringId,
    pub cloud: Provider,
    pub provider_peering_id: String,
    pub network_id: NetworkId,
    pub peer: PeerSpec,
    pub phase: Phase,
    /// Why the cloud is in this phase, in its own terms.
    pub message: String,
    pub routes: Vec<String>,
    /// Azure: ranges behind the customer's gateway (VPN clients, spokes of their hub),
    /// reached over this peering only while `allow_gateway_transit` is on.
    #[serde(default)]
    pub transit_routes: Vec<String>,
    /// Azure: the customer's hub side allows gateway transit and our side uses the
    /// remote gateway (`useRemoteGateways`), so traffic from behind their gateway flows.
    #[serde(default)]
    pub allow_gateway_transit: bool,
    /// How many requests were made for this peering (a fresh request gets a fresh id).
    pub attempt: u32,
}

impl SimPeering {
    /// The cloud's own word for the phase, as its console would show it.
    pub fn state_word(&self) -> &'static str {
        match (self.cloud, self.phase) {
            (Provider::Aws, Phase::Pending) => "pending-acceptance",
            (Provider::Aws, Phase::Active) => "active",
            (Provider::Aws, Phase::Failed) => "failed",
            (Provider::Aws, Phase::Rejected) => "rejected",
            (Provider::Aws, Phase::PeerDeleted) => "deleted",
            (Provider::Gcp, Phase::Pending) => "INACTIVE",
            (Provider::Gcp, Phase::Active) => "ACTIVE",
            (Provider::Gcp, Phase::Failed) => "FAILED",
            (Provider::Gcp, Phase::Rejected) => "REJECTED",
            (Provider::Gcp, Phase::PeerDeleted) => "PEER_DELETED",
            (_, Phase::Pending) => "Initiated",
            (_, Phase::Active) => "Connected",
            (_, Phase::Failed) => "Failed",
            (_, Phase::Rejected) => "Rejected",
            (_, Phase::PeerDeleted) => "Disconnected",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SimNode {
    pub cluster: ClusterId,
    pub index: u32,
    pub network_id: NetworkId,
    pub ready_at: DateTime<Utc>,
    /// The address the instance was launched with (absent in journals written before
    /// nodes could be replaced): another address in the spec is a replacement.
    #[serde(default)]
    pub ip: Option<std::net::Ipv4Addr>,
}

type VpcKey = (Provider, String, String);

#[derive(Debug, Default)]
pub(crate) struct SimState {
    pub vpcs: HashMap<VpcKey, CustomerVpc>,
    pub networks: HashMap<NetworkId, SimNetwork>,
    pub peerings: HashMap<PeeringId, SimPeering>,
    pub nodes: HashMap<ClusterId, BTreeMap<u32, SimNode>>,
    /// Endpoint services the platform published, and the customers' endpoints.
    pub endpoints: super::endpoints::SimEndpoints,
}

impl SimState {
    pub fn vpc_key(cloud: Provider, account_id: &str, network_id: &str) -> VpcKey {
        (cloud, account_id.to_string(), network_id.to_string())
    }

    pub fn apply(&mut self, record: Record) {
        match record {
            Record::CustomerVpc(v) => {
                self.vpcs
                    .insert(Self::vpc_key(v.cloud, &v.account_id, &v.network_id), v);
            }
            Record::Network(n) => {
                self.networks.insert(n.id, n);
            }
            Record::NetworkDeleted { id } => {
                self.networks.remove(&id);
            }
            Record::Peering(p) => {
                self.peerings.insert(p.id, p);
            }
            Record::PeeringDeleted { id } => {
                self.peerings.remove(&id);
            }
            Record::Node(n) => {
                self.nodes.entry(n.cluster).or_default().insert(n.index, n);
            }
            Record::NodesDeleted { cluster } => {
                self.nodes.remove(&cluster);
            }
            Record::NodeDeleted { cluster, index } => {
                if let Some(nodes) = self.nodes.get_mut(&cluster) {
                    nodes.remove(&index);
                    if nodes.is_empty() {
                        self.nodes.remove(&cluster);
                    }
                }
            }
            r @ (Record::EndpointService(_)
            | Record::EndpointServiceDeleted { .. }
            | Record::Endpoint(_)
            | Record::EndpointDeleted { .. }) => self.endpoints.apply(r),
        }
    }
}

/// A stable provider-style id (`vpc-` + 17 hex digits) derived from `seed`, so the same
/// resource gets the same id after a restart. FNV-1a: small, deterministic, good enough
/// to tell simulated resources apart.
pub(crate) fn derived_id(prefix: &str, seed: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // 17 hex digits as AWS uses: one more nibble from a second round.
    let extra = (h.rotate_left(17) ^ h) & 0xf;
    format!("{prefix}-{h:016x}{extra:x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_look_like_aws_ids_and_are_stable() {
        let a = derived_id("vpc", "net-1");
        assert_eq!(a.len(), "vpc-".len() + 17);
        assert!(a[4..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a, derived_id("vpc", "net-1"));
        assert_ne!(a, derived_id("vpc", "net-2"));
    }
}
