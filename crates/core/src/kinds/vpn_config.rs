//! What a client's grants become: the (address, port) pairs the gateway lets through, and
//! the wg-quick config a laptop brings the tunnel up with, whose `AllowedIPs` is the
//! smallest exact cover of the granted addresses (never the whole network: the config
//! routes only what the client may reach; the gateway enforces it anyway).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use super::vpn_client::VpnClient;
use super::vpn_gateway::{VpnDns, VpnGateway};
use crate::resources::Cluster;
use crate::wg_key::WgKey;
use crate::Cidr;

/// Keepalive the config asks of the laptop (keeps NAT bindings on its side open).
pub const CLIENT_KEEPALIVE_SECS: u16 = 25;

/// Every (node address, TCP port) the client's grants allow, resolved against the
/// clusters as they are now (a replaced node is covered at once).
pub fn granted_destinations(client: &VpnClient, clusters: &[Cluster]) -> Vec<(Ipv4Addr, u16)> {
    let mut out = BTreeSet::new();
    for grant in &client.grants {
        let Some(cluster) = clusters.iter().find(|c| c.id == grant.cluster_id) else {
            continue;
        };
        for node in &cluster.nodes {
            for port in &grant.ports {
                out.insert((node.ip, *port));
            }
        }
    }
    out.into_iter().collect()
}

/// The fewest prefixes that cover exactly `addresses` (no address outside them).
pub fn covering_prefixes(addresses: impl IntoIterator<Item = Ipv4Addr>) -> Vec<Cidr> {
    let sorted: Vec<u32> = addresses
        .into_iter()
        .map(u32::from)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut out = vec![];
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        // The largest aligned block starting here whose every address is present: the
        // sorted, distinct run from `i` must be consecutive for the block's length.
        let mut len = 32u8;
        while len > 0 {
            let size = 1u64 << (33 - len);
            let aligned = u64::from(start) % size == 0;
            let last = i as u64 + size - 1;
            let full = last < sorted.len() as u64
                && u64::from(sorted[last as usize]) == u64::from(start) + size - 1;
            if !(aligned && full) {
                break;
            }
            len -= 1;
        }
        let size = 1usize << (32 - len);
        out.push(Cidr::new(Ipv4Addr::from(start), len).expect("aligned by construction"));
        i += size;
    }
    out
}

/// The wg-quick config of `client` on `gateway`. `private_key` is known only at the
/// moment the server generated the pair; otherwise the laptop fills in its own.
pub fn wg_quick_config(
    gateway: &VpnGateway,
    client: &VpnClient,
    clusters: &[Cluster],
    dns_zone: &str,
    private_key: Option<&WgKey>,
) -> String {
    let destinations = granted_destinations(client, clusters);
    let mut routed: Vec<Ipv4Addr> = destinations.iter().map(|(ip, _)| *ip).collect();
    if gateway.dns == VpnDns::Push {
        routed.push(gateway.tunnel_address());
    }
    let allowed = covering_prefixes(routed)
        .iter()
        .map(Cidr::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let private = private_key.map_or_else(
        || "<the private key of the pair you registered>".to_string(),
        WgKey::to_string,
    );
    let mut text = format!(
        "# Isthmus VPN client {} ({}) on gateway {}\n[Interface]\nPrivateKey = {private}\nAddress = {}/32\n",
        client.name, client.id, gateway.id, client.address
    );
    if gateway.dns == VpnDns::Push {
        text.push_str(&format!("DNS = {}, {dns_zone}\n", gateway.tunnel_address()));
    }
    text.push_str("\n[Peer]\n");
    if let Some(key) = &gateway.public_key {
        text.push_str(&format!("PublicKey = {key}\n"));
    }
    if let Some(endpoint) = &gateway.endpoint {
        text.push_str(&format!("Endpoint = {endpoint}\n"));
    }
    text.push_str(&format!(
        "AllowedIPs = {allowed}\nPersistentKeepalive = {CLIENT_KEEPALIVE_SECS}\n"
    ));
    text
}
