//! The firewall of a router namespace: one nftables table (`inet isthmus`), driven through
//! nftables' JSON interface (`nft -j`, run by the `nftables` crate). Every value in a
//! document is data inside JSON; nothing is ever spliced into a command line.
//!
//! Layout (chains and sets are per object, so a change touches only its object):
//! ```text
//! chain pre      (hook prerouting, prio -150: per packet, before NAT)
//!   iifname <uplink> ip daddr vmap @public_in   -> jump pub_<c> per public endpoint ip
//!   iifname <uplink> drop                       (the internet reaches endpoints only)
//! chain nat_pre  (nat hook prerouting, prio -100: first packet of a connection)
//!   iifname <uplink> ip daddr vmap @public_dnat -> jump dnat_<c>
//! chain forward  (hook forward, policy drop)
//!   iifname vmap @peer_in          -> jump peer_<p> for each peering link
//!   ct state established,related accept
//!   ct state invalid drop
//!   iifname <bridge> oifname <bridge> accept      (node to node)
//!   oifname <uplink> drop                         (nodes never open connections to the internet)
//!   iifname <uplink> oifname <bridge> ct status dnat accept   (public endpoint -> node)
//!   iifname <bridge> ip saddr vmap @egress_from -> jump egress_<c> per node address
//! chain peer_<p>
//!   ip saddr != @src_<p> drop      (non-transitive: routes, + transit_routes if allowed)
//!   ip daddr vmap @private_to      -> jump prv_<c> per node of a cluster with a private list
//!   ct state established,related accept
//!   oifname <bridge> ct state new accept   (inbound to nodes)
//!   drop                           (no transit to other peerings)
//! chain pub_<c>   ip saddr != @pub_<c>_<0|1> drop; accept
//! chain dnat_<c>  dnat ip to numgen inc mod N map { i : node i }   (round robin, same port)
//! chain prv_<c>   ct direction original ip saddr != @prv_<c>_<0|1> drop
//! chain egress_<c>                 (the cluster's egress allow-list)
//!   ip daddr <cidr> [tcp dport { ports }] accept
//! chain input (hook input, policy drop): lo, established, the bridge
//! ```
//! A route change is an element change in `src_<p>`; no rule is rewritten. Allow-list
//! guards (`pub_`, `prv_`) change by elements too, or, when an added prefix overlaps a
//! removed one, by swapping to the other set of the pair in the same transaction.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use anyhow::{Context, Result};
use isthmus_core::resources::EgressRule;
use isthmus_core::Cidr;
use serde_json::{json, Value};

use crate::names::TABLE;

const PEER_IN_MAP: &str = "peer_in";
const EGRESS_MAP: &str = "egress_from";
/// Public endpoint ip -> jump to the cluster's allow-list chain (`pre`).
pub const PUBLIC_IN_MAP: &str = "public_in";
/// Public endpoint ip -> jump to the cluster's DNAT chain (`nat_pre`).
pub const PUBLIC_DNAT_MAP: &str = "public_dnat";
/// Node ip -> jump to the cluster's private allow-list chain (from peering chains).
pub const PRIVATE_TO_MAP: &str = "private_to";

/// A batch of nft commands applied in one transaction (all or nothing).
#[derive(Debug, Default)]
pub struct Batch {
    commands: Vec<Value>,
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    pub(crate) fn push(&mut self, verb: &str, object: &str, body: Value) {
        let mut body = body;
        body["family"] = json!("inet");
        if object == "table" {
            body["name"] = json!(TABLE);
        } else {
            body["table"] = json!(TABLE);
        }
        self.commands.push(json!({ verb: { object: body } }));
    }

    pub(crate) fn rule(&mut self, chain: &str, expr: Vec<Value>) {
        self.push("add", "rule", json!({ "chain": chain, "expr": expr }));
    }

    /// Applies the batch inside the current thread's namespace.
    pub fn apply(self) -> Result<()> {
        if self.commands.is_empty() {
            return Ok(());
        }
        let document = json!({ "nftables": self.commands }).to_string();
        nftables::helper::apply_ruleset_raw(
            &document,
            nftables::helper::DEFAULT_NFT,
            nftables::helper::DEFAULT_ARGS,
        )
        .map(|_| ())
        .map_err(crate::errors::nft_error)
        .context("apply nftables batch")
    }
}

pub(crate) fn meta(key: &str) -> Value {
    json!({ "meta": { "key": key } })
}
pub(crate) fn matches(op: &str, left: Value, right: Value) -> Value {
    json!({ "match": { "op": op, "left": left, "right": right } })
}
pub(crate) fn ip(field: &str) -> Value {
    json!({ "payload": { "protocol": "ip", "field": field } })
}
pub(crate) fn ct_state(states: &[&str]) -> Value {
    let right = if states.len() == 1 {
        json!(states[0])
    } else {
        json!(states)
    };
    matches("in", json!({ "ct": { "key": "state" } }), right)
}
pub(crate) fn accept() -> Value {
    json!({ "accept": null })
}
pub(crate) fn drop_() -> Value {
    json!({ "drop": null })
}
pub(crate) fn jump(chain: &str) -> Value {
    json!({ "jump": { "target": chain } })
}

/// A prefix as an nft set element (a /32 is a plain address).
pub fn prefix_element(cidr: &Cidr) -> Value {
    if cidr.prefix_len() == 32 {
        json!(cidr.network().to_string())
    } else {
        json!({ "prefix": { "addr": cidr.network().to_string(), "len": cidr.prefix_len() } })
    }
}

/// The number of rules the base chains carry (how `observe` knows they are intact).
pub const FORWARD_RULES: usize = 7;
pub const INPUT_RULES: usize = 3;
pub const PRE_RULES: usize = 2;
pub const NAT_PRE_RULES: usize = 1;

fn vmap(key: Value, map: &str) -> Value {
    json!({ "vmap": { "key": key, "data": format!("@{map}") } })
}

/// The table, its base chains and maps. `add` of an existing table, chain or map is a
/// no-op; the base chains are flushed and refilled in the same transaction, so running
/// it again repairs them without touching peering or cluster sets and chains.
pub fn base(bridge: &str, uplink: &str) -> Batch {
    let mut b = Batch::new();
    b.push("add", "table", json!({}));
    for (chain, kind, hook, prio, policy) in [
        ("forward", "filter", "forward", 0, "drop"),
        ("input", "filter", "input", 0, "drop"),
        ("pre", "filter", "prerouting", -150, "accept"),
        ("nat_pre", "nat", "prerouting", -100, "accept"),
    ] {
        b.push(
            "add",
            "chain",
            json!({ "name": chain, "type": kind, "hook": hook, "prio": prio, "policy": policy }),
        );
    }
    b.push(
        "add",
        "map",
        json!({ "name": PEER_IN_MAP, "type": "ifname", "map": "verdict" }),
    );
    for map in [EGRESS_MAP, PUBLIC_IN_MAP, PUBLIC_DNAT_MAP, PRIVATE_TO_MAP] {
        b.push(
            "add",
            "map",
            json!({ "name": map, "type": "ipv4_addr", "map": "verdict" }),
        );
    }
    for chain in ["forward", "input", "pre", "nat_pre"] {
        b.push("flush", "chain", json!({ "name": chain }));
    }
    let from_uplink = || matches("==", meta("iifname"), json!(uplink));
    b.rule("pre", vec![from_uplink(), vmap(ip("daddr"), PUBLIC_IN_MAP)]);
    b.rule("pre", vec![from_uplink(), drop_()]);
    b.rule(
        "nat_pre",
        vec![from_uplink(), vmap(ip("daddr"), PUBLIC_DNAT_MAP)],
    );
    b.rule("forward", vec![vmap(meta("iifname"), PEER_IN_MAP)]);
    b.rule(
        "forward",
        vec![ct_state(&["established", "related"]), accept()],
    );
    b.rule("forward", vec![ct_state(&["invalid"]), drop_()]);
    b.rule(
        "forward",
        vec![
            matches("==", meta("iifname"), json!(bridge)),
            matches("==", meta("oifname"), json!(bridge)),
            accept(),
        ],
    );
    b.rule(
        "forward",
        vec![matches("==", meta("oifname"), json!(uplink)), drop_()],
    );
    b.rule(
        "forward",
        vec![
            from_uplink(),
            matches("==", meta("oifname"), json!(bridge)),
            matches("in", json!({ "ct": { "key": "status" } }), json!("dnat")),
            accept(),
        ],
    );
    b.rule(
        "forward",
        vec![
            matches("==", meta("iifname"), json!(bridge)),
            vmap(ip("saddr"), EGRESS_MAP),
        ],
    );
    b.rule(
        "input",
        vec![matches("==", meta("iifname"), json!("lo")), accept()],
    );
    b.rule(
        "input",
        vec![ct_state(&["established", "related"]), accept()],
    );
    b.rule(
        "input",
        vec![matches("==", meta("iifname"), json!(bridge)), accept()],
    );
    b
}

/// Adds a peering: its allowed-sources set (filled with `routes`), its chain, and the
/// map entry that sends packets from its link to that chain.
pub fn add_peering(
    b: &mut Batch,
    link: &str,
    set: &str,
    chain: &str,
    bridge: &str,
    routes: &[Cidr],
) {
    b.push(
        "add",
        "set",
        json!({ "name": set, "type": "ipv4_addr", "flags": ["interval"] }),
    );
    b.push("add", "chain", json!({ "name": chain }));
    b.push("flush", "chain", json!({ "name": chain }));
    b.rule(
        chain,
        vec![
            matches("!=", ip("saddr"), json!(format!("@{set}"))),
            drop_(),
        ],
    );
    b.rule(chain, vec![vmap(ip("daddr"), PRIVATE_TO_MAP)]);
    b.rule(chain, vec![ct_state(&["established", "related"]), accept()]);
    b.rule(
        chain,
        vec![
            matches("==", meta("oifname"), json!(bridge)),
            ct_state(&["new"]),
            accept(),
        ],
    );
    b.rule(chain, vec![drop_()]);
    add_elements(b, set, routes);
    b.push(
        "add",
        "element",
        json!({ "name": PEER_IN_MAP, "elem": [[link, jump(chain)]] }),
    );
}

pub const PEERING_CHAIN_RULES: usize = 5;

pub fn add_elements(b: &mut Batch, set: &str, prefixes: &[Cidr]) {
    if prefixes.is_empty() {
        return;
    }
    let elem: Vec<Value> = prefixes.iter().map(prefix_element).collect();
    b.push("add", "element", json!({ "name": set, "elem": elem }));
}

pub fn delete_elements(b: &mut Batch, set: &str, prefixes: &[Cidr]) {
    if prefixes.is_empty() {
        return;
    }
    let elem: Vec<Value> = prefixes.iter().map(prefix_element).collect();
    b.push("delete", "element", json!({ "name": set, "elem": elem }));
}

/// Removes a peering's map entry, chain and set (each only if present in `current`).
pub fn delete_peering(b: &mut Batch, current: &Table, link: &str, set: &str, chain: &str) {
    if current.peer_links.contains(link) {
        b.push(
            "delete",
            "element",
            json!({ "name": PEER_IN_MAP, "elem": [link] }),
        );
    }
    if current.chains.contains(chain) {
        b.push("flush", "chain", json!({ "name": chain }));
        b.push("delete", "chain", json!({ "name": chain }));
    }
    if current.sets.contains(set) {
        b.push("delete", "set", json!({ "name": set }));
    }
}

/// Sets a cluster's egress chain to exactly `rules` and points its node addresses at it.
pub fn set_egress(
    b: &mut Batch,
    current: &Table,
    chain: &str,
    nodes: &[Ipv4Addr],
    rules: &[EgressRule],
) {
    b.push("add", "chain", json!({ "name": chain }));
    b.push("flush", "chain", json!({ "name": chain }));
    for rule in rules {
        let mut expr = vec![matches("==", ip("daddr"), prefix_element(&rule.cidr))];
        if !rule.ports.is_empty() {
            let ports: Vec<Value> = rule.ports.iter().map(|p| json!(p)).collect();
            expr.push(matches(
                "==",
                json!({ "payload": { "protocol": "tcp", "field": "dport" } }),
                json!({ "set": ports }),
            ));
        }
        expr.push(accept());
        b.rule(chain, expr);
    }
    let missing: Vec<Value> = nodes
        .iter()
        .filter(|ip| !current.egress_sources.contains(&ip.to_string()))
        .map(|ip| json!([ip.to_string(), jump(chain)]))
        .collect();
    if !missing.is_empty() {
        b.push(
            "add",
            "element",
            json!({ "name": EGRESS_MAP, "elem": missing }),
        );
    }
}

/// Removes a cluster's egress chain and its node addresses from the egress map.
pub fn delete_egress(b: &mut Batch, current: &Table, chain: &str, nodes: &[Ipv4Addr]) {
    let present: Vec<Value> = nodes
        .iter()
        .map(|ip| ip.to_string())
        .filter(|ip| current.egress_sources.contains(ip))
        .map(Value::from)
        .collect();
    if !present.is_empty() {
        b.push(
            "delete",
            "element",
            json!({ "name": EGRESS_MAP, "elem": present }),
        );
    }
    if current.chains.contains(chain) {
        b.push("flush", "chain", json!({ "name": chain }));
        b.push("delete", "chain", json!({ "name": chain }));
    }
}

/// What the kernel holds of our table, read back through `nft -j list table`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub exists: bool,
    pub chains: BTreeSet<String>,
    /// Rule count per chain.
    pub rules: std::collections::BTreeMap<String, usize>,
    /// Rule handles per chain, in order (unchanged handles: no rule was rewritten).
    pub rule_handles: std::collections::BTreeMap<String, Vec<u64>>,
    pub sets: BTreeSet<String>,
    /// Interface names in the `peer_in` map.
    pub peer_links: BTreeSet<String>,
    /// Node addresses in the `egress_from` map.
    pub egress_sources: BTreeSet<String>,
    /// Node address -> the egress chain it jumps to.
    pub egress_targets: std::collections::BTreeMap<String, String>,
    /// Verdict map -> (key -> the chain it jumps to), for every map of the table.
    pub jumps: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    /// Prefix set -> its elements (as [`read_set`] gives them).
    pub elements: std::collections::BTreeMap<String, Vec<Element>>,
    /// Chain -> the sets its rules refer to (`@name`).
    pub set_refs: std::collections::BTreeMap<String, BTreeSet<String>>,
}

/// A set element as read back: a prefix, or something else (added by hand) to remove.
pub type Element = std::result::Result<Cidr, Value>;

impl Table {
    pub fn rule_count(&self, chain: &str) -> usize {
        self.rules.get(chain).copied().unwrap_or(0)
    }

    /// Whether the base chains and maps are as [`base`] makes them.
    pub fn base_intact(&self) -> bool {
        self.exists
            && self.rule_count("forward") == FORWARD_RULES
            && self.rule_count("input") == INPUT_RULES
            && self.rule_count("pre") == PRE_RULES
            && self.rule_count("nat_pre") == NAT_PRE_RULES
            && [
                PEER_IN_MAP,
                EGRESS_MAP,
                PUBLIC_IN_MAP,
                PUBLIC_DNAT_MAP,
                PRIVATE_TO_MAP,
            ]
            .iter()
            .all(|m| self.sets.contains(*m))
    }

    /// The keys of verdict map `map` that jump to `chain`.
    pub fn keys_jumping_to(&self, map: &str, chain: &str) -> Vec<String> {
        self.jumps
            .get(map)
            .into_iter()
            .flatten()
            .filter(|(_, target)| *target == chain)
            .map(|(key, _)| key.clone())
            .collect()
    }
}

/// Every `@set` reference inside a rule's expressions.
fn collect_set_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix('@') {
                out.insert(name.to_string());
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_set_refs(i, out)),
        Value::Object(fields) => fields.values().for_each(|i| collect_set_refs(i, out)),
        _ => {}
    }
}

fn list_json(args: &[&str]) -> Result<Option<Value>> {
    match nftables::helper::get_current_ruleset_raw(nftables::helper::DEFAULT_NFT, args) {
        Ok(out) => Ok(Some(
            serde_json::from_str(&out).context("parse nft -j output")?,
        )),
        Err(nftables::helper::NftablesError::NftFailed { stderr, .. })
            if stderr.contains("No such file") =>
        {
            Ok(None)
        }
        Err(e) => Err(crate::errors::nft_error(e)).context(format!("nft -j {}", args.join(" "))),
    }
}

fn objects(doc: &Value) -> impl Iterator<Item = &Value> {
    doc["nftables"].as_array().into_iter().flatten()
}

/// Reads our table in the current thread's namespace.
pub fn read_table() -> Result<Table> {
    let Some(doc) = list_json(&["list", "table", "inet", TABLE])? else {
        return Ok(Table::default());
    };
    let mut table = Table {
        exists: true,
        ..Table::default()
    };
    for object in objects(&doc) {
        if let Some(chain) = object.get("chain") {
            table
                .chains
                .insert(chain["name"].as_str().unwrap_or_default().into());
        } else if let Some(rule) = object.get("rule") {
            let chain = rule["chain"].as_str().unwrap_or_default().to_string();
            *table.rules.entry(chain.clone()).or_default() += 1;
            let handle = rule["handle"].as_u64().unwrap_or_default();
            table
                .rule_handles
                .entry(chain.clone())
                .or_default()
                .push(handle);
            collect_set_refs(&rule["expr"], table.set_refs.entry(chain).or_default());
        } else if let Some(set) = object.get("set").or_else(|| object.get("map")) {
            let name = set["name"].as_str().unwrap_or_default().to_string();
            let keys = set["elem"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| {
                    // Map elements are [key, verdict] pairs.
                    e.as_array()
                        .and_then(|pair| pair.first())
                        .and_then(Value::as_str)
                        .map(str::to_string)
                });
            if object.get("map").is_some() {
                let jumps = table.jumps.entry(name.clone()).or_default();
                for e in set["elem"].as_array().into_iter().flatten() {
                    let key = e[0].as_str();
                    let target = e[1]["jump"]["target"].as_str();
                    if let (Some(key), Some(target)) = (key, target) {
                        jumps.insert(key.into(), target.into());
                    }
                }
                if name == EGRESS_MAP {
                    table.egress_targets = jumps.clone();
                }
            } else {
                table.elements.insert(name.clone(), parse_elements(set));
            }
            if name == PEER_IN_MAP {
                table.peer_links.extend(keys);
            } else if name == EGRESS_MAP {
                table.egress_sources.extend(keys);
            }
            table.sets.insert(name);
        }
    }
    Ok(table)
}

/// A set's elements as prefixes (`None` if the set does not exist). Elements that are
/// not prefixes (ranges someone added by hand) are reported as `Err(raw)` to be removed.
pub fn read_set(set: &str) -> Result<Option<Vec<Element>>> {
    let Some(doc) = list_json(&["list", "set", "inet", TABLE, set])? else {
        return Ok(None);
    };
    let Some(found) = objects(&doc).find_map(|o| o.get("set")) else {
        return Ok(None);
    };
    Ok(Some(parse_elements(found)))
}

fn parse_elements(set: &Value) -> Vec<Element> {
    set["elem"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| parse_element(e).ok_or_else(|| e.clone()))
        .collect()
}

fn parse_element(e: &Value) -> Option<Cidr> {
    if let Some(addr) = e.as_str() {
        return Cidr::new(addr.parse().ok()?, 32).ok();
    }
    let prefix = e.get("prefix")?;
    let addr: Ipv4Addr = prefix["addr"].as_str()?.parse().ok()?;
    Cidr::new(addr, u8::try_from(prefix["len"].as_u64()?).ok()?).ok()
}

/// Deletes raw elements (as read back) from a set.
pub fn delete_raw_elements(b: &mut Batch, set: &str, raw: Vec<Value>) {
    if !raw.is_empty() {
        b.push("delete", "element", json!({ "name": set, "elem": raw }));
    }
}

/// Deletes the whole table (used when a network goes).
pub fn delete_table(b: &mut Batch) {
    b.push("delete", "table", json!({}));
}
