//! What a gateway needs of its network's router besides its own process and table: the
//! router's table (`inet isthmus`, policy drop) must let the gateway's traffic through,
//! and the lab's internet must route its public address to the router.
//!
//! - `peer_in[<wg iface>] -> jump vpn_<g>`, a chain that accepts: packets from the tunnel
//!   were judged already by the gateway's table (`isthmus_vpn`, priority -10), which
//!   rejects whatever no grant allows; replies go back through `established`.
//! - `public_in[<public ip>] -> jump vpnin_<g>`: established accept, `udp dport <port>
//!   accept`, drop. The
//!   router's `pre` chain sends the uplink's packets through `public_in`, and its `input`
//!   chain does the same for packets addressed to the router itself (only a gateway's
//!   address is: a cluster's endpoint is DNATed to a node before input).
//! - The public address as a /32 on the router's uplink, and the internet namespace's
//!   route to it over that uplink.
//! - `vpnout_<g>` (nat postrouting): the gateway's UDP leaves from its public address. A
//!   reply takes the address the laptop wrote to, but a packet the gateway starts (a
//!   handshake toward each peer's last endpoint after a restart) would get the uplink's
//!   first address, which the internet cannot route back.

use std::net::Ipv4Addr;

use anyhow::{Context, Result};

use nftables::expr::MetaKey;
use nftables::types::{NfChainPolicy, NfChainType, NfHook};

use crate::firewall::{
    self, accept, ct_state, delete_chain, drop_, eq, jump_entry, meta, set_map_keys, snat_to, text,
    udp, Batch, Table, PEER_IN_MAP, PUBLIC_IN_MAP,
};

/// A gateway's objects in its router's table.
#[derive(Debug, Clone)]
pub struct RouterEntries {
    pub iface: String,
    pub chain: String,
    pub in_chain: String,
    pub public_ip: Ipv4Addr,
    pub port: u16,
    /// The router's uplink (the gateway's packets to the internet leave through it).
    pub uplink: String,
}

impl RouterEntries {
    fn snat_chain(&self) -> String {
        snat_chain_of(&self.chain)
    }
}

/// `vpnout_<h>` for `vpn_<h>`.
fn snat_chain_of(chain: &str) -> String {
    chain.replacen("vpn_", "vpnout_", 1)
}

/// Rules in the chains [`apply`] makes (how [`drift`] knows they are intact).
const IN_CHAIN_RULES: usize = 3;

/// Applies the entries in one transaction (in the router's namespace, blocking).
pub fn apply(e: &RouterEntries) -> Result<()> {
    let table = firewall::read_table()?;
    if !table.base_intact() {
        return Err(crate::errors::dependency(
            "the router's firewall base is missing (ensure the network first)",
        ));
    }
    let mut b = Batch::new();
    b.add_chain(&e.chain);
    b.flush_chain(&e.chain);
    b.rule(&e.chain, vec![accept()]);
    b.add_chain(&e.in_chain);
    b.flush_chain(&e.in_chain);
    // The replies to a packet the gateway started come back to the port `vpnout_`
    // mapped it to (`pre` runs before NAT undoes that): conntrack knows them.
    b.rule(
        &e.in_chain,
        vec![ct_state(&["established", "related"]), accept()],
    );
    b.rule(
        &e.in_chain,
        vec![
            eq(
                udp("dport"),
                nftables::expr::Expression::Number(e.port.into()),
            ),
            accept(),
        ],
    );
    b.rule(&e.in_chain, vec![drop_()]);
    let snat = e.snat_chain();
    b.add_base_chain(
        &snat,
        NfChainType::NAT,
        NfHook::Postrouting,
        100,
        NfChainPolicy::Accept,
    );
    b.flush_chain(&snat);
    b.rule(
        &snat,
        vec![
            eq(meta(MetaKey::Oifname), text(&e.uplink)),
            eq(
                udp("sport"),
                nftables::expr::Expression::Number(e.port.into()),
            ),
            snat_to(e.public_ip),
        ],
    );
    if !table.peer_links.contains(&e.iface) {
        b.add_elements(PEER_IN_MAP, vec![jump_entry(&e.iface, &e.chain)]);
    }
    set_map_keys(&mut b, &table, PUBLIC_IN_MAP, &e.in_chain, &[e.public_ip]);
    b.apply()
        .context("apply the VPN gateway's entries in the router")
}

/// What differs from [`apply`]'s result (empty: nothing).
pub fn drift(table: &Table, e: &RouterEntries) -> Vec<String> {
    let mut out = vec![];
    let jumps = |map: &str, key: &str| {
        table
            .jumps
            .get(map)
            .and_then(|m| m.get(key))
            .map(String::as_str)
    };
    if table.rule_count(&e.chain) != 1 || jumps(PEER_IN_MAP, &e.iface) != Some(e.chain.as_str()) {
        out.push(format!("the router does not forward from {}", e.iface));
    }
    if table.rule_count(&e.snat_chain()) != 1 {
        out.push(format!(
            "the gateway's packets do not leave from {}",
            e.public_ip
        ));
    }
    if table.rule_count(&e.in_chain) != IN_CHAIN_RULES
        || jumps(PUBLIC_IN_MAP, &e.public_ip.to_string()) != Some(e.in_chain.as_str())
    {
        out.push(format!(
            "the router does not admit UDP {} on {}",
            e.port, e.public_ip
        ));
    }
    out
}

/// Removes the entries and chains (each only if present).
pub fn remove(e: &RouterEntries) -> Result<()> {
    let table = firewall::read_table()?;
    if !table.exists {
        return Ok(());
    }
    let mut b = Batch::new();
    remove_into(&mut b, &table, &e.iface, &e.chain, &e.in_chain);
    if b.is_empty() {
        return Ok(());
    }
    b.apply()
        .context("remove the VPN gateway's entries in the router")
}

/// The removal of a gateway's entries, into `b` (the sweep uses it for forgotten ones).
pub fn remove_into(b: &mut Batch, table: &Table, iface: &str, chain: &str, in_chain: &str) {
    if table.peer_links.contains(iface) {
        b.delete_elements(PEER_IN_MAP, vec![text(iface)]);
    }
    let stale: Vec<_> = table
        .keys_jumping_to(PUBLIC_IN_MAP, in_chain)
        .iter()
        .map(|k| text(k))
        .collect();
    b.delete_elements(PUBLIC_IN_MAP, stale);
    delete_chain(b, table, chain);
    delete_chain(b, table, in_chain);
    delete_chain(b, table, &snat_chain_of(chain));
}
