//! The table itself: its base chains (the hooks) and the verdict maps they dispatch through.

use nftables::expr::MetaKey;
use nftables::schema::SetType;
use nftables::types::{NfChainPolicy, NfChainType, NfHook};

use super::expr::{accept, ct, ct_state, drop_, eq, ip, is_in, meta, text, vmap};
use super::{Batch, EGRESS_MAP, PEER_IN_MAP, PRIVATE_TO_MAP, PUBLIC_DNAT_MAP, PUBLIC_IN_MAP};

/// The number of rules the base chains carry (how `observe` knows they are intact).
pub const FORWARD_RULES: usize = 7;
pub const INPUT_RULES: usize = 5;
pub const PRE_RULES: usize = 2;
pub const NAT_PRE_RULES: usize = 1;

/// The verdict maps [`base`] makes (`Table::base_intact` checks they exist).
pub(super) const MAPS: [&str; 5] = [
    PEER_IN_MAP,
    EGRESS_MAP,
    PUBLIC_IN_MAP,
    PUBLIC_DNAT_MAP,
    PRIVATE_TO_MAP,
];

/// The table, its base chains and maps. `add` of an existing table, chain or map is a
/// no-op; the base chains are flushed and refilled in the same transaction, so running
/// it again repairs them without touching peering or cluster sets and chains.
pub fn base(bridge: &str, uplink: &str) -> Batch {
    use NfChainPolicy::{Accept, Drop};
    let mut b = Batch::new();
    b.add_table();
    for (chain, kind, hook, prio, policy) in [
        ("forward", NfChainType::Filter, NfHook::Forward, 0, Drop),
        ("input", NfChainType::Filter, NfHook::Input, 0, Drop),
        ("pre", NfChainType::Filter, NfHook::Prerouting, -150, Accept),
        (
            "nat_pre",
            NfChainType::NAT,
            NfHook::Prerouting,
            -100,
            Accept,
        ),
    ] {
        b.add_base_chain(chain, kind, hook, prio, policy);
    }
    b.add_verdict_map(PEER_IN_MAP, SetType::Ifname);
    for map in [EGRESS_MAP, PUBLIC_IN_MAP, PUBLIC_DNAT_MAP, PRIVATE_TO_MAP] {
        b.add_verdict_map(map, SetType::Ipv4Addr);
    }
    for chain in ["forward", "input", "pre", "nat_pre"] {
        b.flush_chain(chain);
    }
    let iif = |name: &str| eq(meta(MetaKey::Iifname), text(name));
    let oif = |name: &str| eq(meta(MetaKey::Oifname), text(name));
    b.rule("pre", vec![iif(uplink), vmap(ip("daddr"), PUBLIC_IN_MAP)]);
    b.rule("pre", vec![iif(uplink), drop_()]);
    b.rule(
        "nat_pre",
        vec![iif(uplink), vmap(ip("daddr"), PUBLIC_DNAT_MAP)],
    );
    b.rule("forward", vec![vmap(meta(MetaKey::Iifname), PEER_IN_MAP)]);
    b.rule(
        "forward",
        vec![ct_state(&["established", "related"]), accept()],
    );
    b.rule("forward", vec![ct_state(&["invalid"]), drop_()]);
    b.rule("forward", vec![iif(bridge), oif(bridge), accept()]);
    b.rule("forward", vec![oif(uplink), drop_()]);
    b.rule(
        "forward",
        vec![
            iif(uplink),
            oif(bridge),
            is_in(ct("status"), text("dnat")),
            accept(),
        ],
    );
    b.rule("forward", vec![iif(bridge), vmap(ip("saddr"), EGRESS_MAP)]);
    b.rule("input", vec![iif("lo"), accept()]);
    b.rule(
        "input",
        vec![ct_state(&["established", "related"]), accept()],
    );
    b.rule("input", vec![iif(bridge), accept()]);
    // The router's own addresses on the uplink are VPN gateways' (a cluster's endpoint
    // is DNATed before input): their `public_in` chain admits the gateway's UDP port.
    b.rule("input", vec![iif(uplink), vmap(ip("daddr"), PUBLIC_IN_MAP)]);
    // From a peering or a VPN gateway's interface to the router itself: its chain decides
    // (a peering's accepts only replies; a gateway's table let only DNS through).
    b.rule("input", vec![vmap(meta(MetaKey::Iifname), PEER_IN_MAP)]);
    b
}

/// Deletes the whole table (used when a network goes).
pub fn delete_table(b: &mut Batch) {
    b.delete_table();
}
