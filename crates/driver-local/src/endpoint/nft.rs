//! The endpoint namespace's firewall: one table (`ip isthmus_ep`) that is the whole
//! data plane of a lab endpoint. Written as an nftables JSON document (data, never a
//! command line) and applied in one transaction; rewriting it keeps the named counters.
//!
//! ```text
//! counter conns, counter bytes                 (the connection's figures)
//! chain nat_pre  (nat prerouting -100)         only while the connection is available:
//!   iifname lab0 ip daddr <E> tcp dport P        dnat to numgen inc mod N map {i: node i}:P
//!   iifname lab0 ip daddr <E_i> tcp dport P      dnat to node i:P   (an address per node)
//!   iifname lab0 ip daddr <E> tcp dport P+10000·(i+1)   dnat to node i:P   (a port per node)
//! chain nat_post (nat postrouting 100)
//!   oifname plat0 snat to <X>                    (the cluster sees only the NAT address)
//! chain forward  (filter, policy drop)
//!   iifname plat0 oifname lab0 ct state established,related counter bytes accept
//!   [available] iifname lab0 oifname plat0 ct status dnat ct state established,related counter bytes accept
//!   [available] iifname lab0 oifname plat0 ct status dnat ct state new counter conns counter bytes accept
//!   iifname lab0 meta l4proto tcp reject with tcp reset      (refused at once)
//! chain input    (filter, policy drop)
//!   iifname lo accept
//!   iifname lab0 icmp type echo-request accept                (the endpoint answers ping)
//!   meta l4proto tcp reject with tcp reset                    (nothing listens here)
//! ```
//! Nothing ever lets a packet from `plat0` open a flow: the platform cannot connect into
//! the lab VPC, whatever the addresses.

use std::net::Ipv4Addr;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::netns;

pub const TABLE: &str = "isthmus_ep";
/// The endpoint namespace's leg in the lab VPC and its leg on the platform network.
pub const LAB_IF: &str = "lab0";
pub const PLATFORM_IF: &str = "plat0";

/// The port node `index` answers on behind the endpoint for the cluster port `port`;
/// `None` when it would not fit in 16 bits.
pub fn node_port(port: u16, index: usize) -> Option<u16> {
    u16::try_from(u32::from(port) + 10_000 * (index as u32 + 1)).ok()
}

/// What the table should say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRules {
    /// The endpoint address (inside the lab VPC).
    pub address: Ipv4Addr,
    /// The NAT address on the platform network; `None` until first accepted.
    pub nat: Option<Ipv4Addr>,
    /// `Some((nodes, ports))` while the connection carries traffic.
    pub open: Option<(Vec<Ipv4Addr>, Vec<u16>)>,
    /// The endpoint's address of each node (same order as the nodes): every port of
    /// `<address i>` leads to node `i`, so clients that discover nodes by name get an
    /// address that works through the endpoint.
    pub node_addresses: Vec<Ipv4Addr>,
}

fn matches(left: Value, right: Value) -> Value {
    json!({ "match": { "op": "==", "left": left, "right": right } })
}
fn iif(name: &str) -> Value {
    matches(json!({ "meta": { "key": "iifname" } }), json!(name))
}
fn oif(name: &str) -> Value {
    matches(json!({ "meta": { "key": "oifname" } }), json!(name))
}
fn ct_state(states: &[&str]) -> Value {
    json!({ "match": { "op": "in", "left": { "ct": { "key": "state" } }, "right": states } })
}
fn ct_dnat() -> Value {
    json!({ "match": { "op": "in", "left": { "ct": { "key": "status" } }, "right": "dnat" } })
}
fn daddr(ip: Ipv4Addr) -> Value {
    matches(
        json!({ "payload": { "protocol": "ip", "field": "daddr" } }),
        json!(ip.to_string()),
    )
}
fn dport(port: u16) -> Value {
    matches(
        json!({ "payload": { "protocol": "tcp", "field": "dport" } }),
        json!(port),
    )
}
fn tcp() -> Value {
    matches(json!({ "meta": { "key": "l4proto" } }), json!("tcp"))
}
fn counter(name: &str) -> Value {
    json!({ "counter": name })
}
fn accept() -> Value {
    json!({ "accept": null })
}
fn reset() -> Value {
    json!({ "reject": { "type": "tcp reset" } })
}

fn rule(chain: &str, expr: Vec<Value>) -> Value {
    json!({ "add": { "rule": { "family": "ip", "table": TABLE, "chain": chain, "expr": expr } } })
}

/// The whole table as one transaction: objects added (counters keep their values), base
/// chains flushed and refilled.
pub fn document(r: &EndpointRules) -> Value {
    let mut cmds = vec![json!({ "add": { "table": { "family": "ip", "name": TABLE } } })];
    for name in ["conns", "bytes"] {
        cmds.push(
            json!({ "add": { "counter": { "family": "ip", "table": TABLE, "name": name } } }),
        );
    }
    for (name, kind, hook, prio, policy) in [
        ("nat_pre", "nat", "prerouting", -100, "accept"),
        ("nat_post", "nat", "postrouting", 100, "accept"),
        ("forward", "filter", "forward", 0, "drop"),
        ("input", "filter", "input", 0, "drop"),
    ] {
        let chain = json!({ "family": "ip", "table": TABLE, "name": name, "type": kind,
            "hook": hook, "prio": prio, "policy": policy });
        cmds.push(json!({ "add": { "chain": chain.clone() } }));
        cmds.push(
            json!({ "flush": { "chain": { "family": "ip", "table": TABLE, "name": name } } }),
        );
    }
    if let Some((nodes, ports)) = &r.open {
        for &port in ports {
            let targets: Vec<Value> = nodes
                .iter()
                .enumerate()
                .map(|(i, ip)| json!([i, ip.to_string()]))
                .collect();
            let pick = json!({ "map": {
                "key": { "numgen": { "mode": "inc", "mod": nodes.len(), "offset": 0 } },
                "data": { "set": targets } } });
            cmds.push(rule(
                "nat_pre",
                vec![
                    iif(LAB_IF),
                    daddr(r.address),
                    dport(port),
                    json!({ "dnat": { "addr": pick, "port": port } }),
                ],
            ));
            for (node, own) in nodes.iter().zip(&r.node_addresses) {
                cmds.push(rule(
                    "nat_pre",
                    vec![
                        iif(LAB_IF),
                        daddr(*own),
                        dport(port),
                        json!({ "dnat": { "addr": node.to_string(), "port": port } }),
                    ],
                ));
            }
            for (i, node) in nodes.iter().enumerate() {
                let Some(outer) = node_port(port, i) else {
                    continue;
                };
                cmds.push(rule(
                    "nat_pre",
                    vec![
                        iif(LAB_IF),
                        daddr(r.address),
                        dport(outer),
                        json!({ "dnat": { "addr": node.to_string(), "port": port } }),
                    ],
                ));
            }
        }
    }
    if let Some(nat) = r.nat {
        cmds.push(rule(
            "nat_post",
            vec![
                oif(PLATFORM_IF),
                json!({ "snat": { "addr": nat.to_string() } }),
            ],
        ));
    }
    cmds.push(rule(
        "forward",
        vec![
            iif(PLATFORM_IF),
            oif(LAB_IF),
            ct_state(&["established", "related"]),
            counter("bytes"),
            accept(),
        ],
    ));
    if r.open.is_some() {
        cmds.push(rule(
            "forward",
            vec![
                iif(LAB_IF),
                oif(PLATFORM_IF),
                ct_dnat(),
                ct_state(&["established", "related"]),
                counter("bytes"),
                accept(),
            ],
        ));
        cmds.push(rule(
            "forward",
            vec![
                iif(LAB_IF),
                oif(PLATFORM_IF),
                ct_dnat(),
                ct_state(&["new"]),
                counter("conns"),
                counter("bytes"),
                accept(),
            ],
        ));
    }
    cmds.push(rule("forward", vec![iif(LAB_IF), tcp(), reset()]));
    cmds.push(rule("input", vec![iif("lo"), accept()]));
    cmds.push(rule(
        "input",
        vec![
            iif(LAB_IF),
            matches(
                json!({ "payload": { "protocol": "icmp", "field": "type" } }),
                json!("echo-request"),
            ),
            accept(),
        ],
    ));
    cmds.push(rule("input", vec![tcp(), reset()]));
    json!({ "nftables": cmds })
}

/// Applies the table in namespace `ns`.
pub fn apply(ns: &str, rules: &EndpointRules) -> Result<()> {
    let doc = serde_json::to_string(&document(rules)).context("serialize endpoint table")?;
    netns::run_in(Some(ns), move || {
        nftables::helper::apply_ruleset_raw(
            &doc,
            nftables::helper::DEFAULT_NFT,
            nftables::helper::DEFAULT_ARGS,
        )
        .map(|_| ())
        .map_err(crate::errors::nft_error)
    })
    .with_context(|| format!("apply the endpoint firewall in {ns}"))
}

/// The connection's figures: connections opened through it, bytes both ways.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub connections: u64,
    pub bytes: u64,
}

/// Reads the counters in namespace `ns` (zero when the table is not there).
pub fn counters(ns: &str) -> Result<Counters> {
    if !netns::exists(ns) {
        return Ok(Counters::default());
    }
    let out = netns::run_in(
        Some(ns),
        || match nftables::helper::get_current_ruleset_raw(
            nftables::helper::DEFAULT_NFT,
            ["list", "counters", "table", "ip", TABLE],
        ) {
            Ok(out) => Ok(Some(out)),
            Err(nftables::helper::NftablesError::NftFailed { stderr, .. })
                if stderr.contains("No such file") =>
            {
                Ok(None)
            }
            Err(e) => Err(crate::errors::nft_error(e)),
        },
    )
    .with_context(|| format!("read the endpoint counters in {ns}"))?;
    let Some(out) = out else {
        return Ok(Counters::default());
    };
    let doc: Value = serde_json::from_str(&out).context("parse nft -j output")?;
    let mut c = Counters::default();
    for object in doc["nftables"].as_array().into_iter().flatten() {
        let Some(counter) = object.get("counter") else {
            continue;
        };
        match counter["name"].as_str() {
            Some("conns") => c.connections = counter["packets"].as_u64().unwrap_or(0),
            Some("bytes") => c.bytes = counter["bytes"].as_u64().unwrap_or(0),
            _ => {}
        }
    }
    Ok(c)
}
