//! What a provisioner of VPN gateways and clients is handed and reports (see
//! [`Provisioned`]). Kept apart from `kinds.rs` so the VPN kinds touch no other kind's code.

use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use isthmus_core::kinds::vpn_client::VpnClient;
use isthmus_core::kinds::vpn_gateway::VpnGateway;
use isthmus_core::resources::Network;
use isthmus_core::wg_key::WgKey;

use crate::Provisioned;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpnGatewayState {
    /// Asked for, not serving yet.
    Starting,
    Ready,
    /// Nothing runs at the provider for it (it died, or never started).
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpnGatewayObservation {
    pub state: VpnGatewayState,
    /// Where clients connect (`address:port`).
    pub endpoint: Option<String>,
    /// The gateway's public key (its private key stays with the provider).
    pub public_key: Option<WgKey>,
    pub message: String,
}

/// A gateway is made from its network.
impl Provisioned for VpnGateway {
    type Owner = Network;
    type Observation = VpnGatewayObservation;
}

/// What a client's provisioner is handed: its gateway and network, and its grants
/// resolved to the granted clusters' current nodes (a replaced node is covered).
#[derive(Debug, Clone)]
pub struct VpnClientContext {
    pub gateway: VpnGateway,
    pub network: Network,
    /// Every (node address, TCP port) the client may open.
    pub destinations: Vec<(Ipv4Addr, u16)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpnClientObservation {
    /// The gateway holds the client's peer and grants.
    pub applied: bool,
    pub last_handshake_at: Option<DateTime<Utc>>,
    pub endpoint: Option<String>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Connections the gateway refused for lack of a grant.
    pub denied_flows: u64,
    pub message: String,
}

impl Provisioned for VpnClient {
    type Owner = VpnClientContext;
    type Observation = VpnClientObservation;
}
