//! What the kernel holds of our table, read back through `nft -j list`. This side stays on
//! plain JSON: nftables 0.6's schema cannot parse our verdict maps (`map: verdict`), and
//! whatever someone added by hand must be readable too, to be reported or removed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use anyhow::{Context, Result};
use isthmus_core::Cidr;
use serde_json::Value;

use super::base::{FORWARD_RULES, INPUT_RULES, MAPS, NAT_PRE_RULES, PRE_RULES};
use super::{EGRESS_MAP, PEER_IN_MAP};
use crate::names::TABLE;

/// What the kernel holds of our table, read back through `nft -j list table`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub exists: bool,
    pub chains: BTreeSet<String>,
    /// Rule count per chain.
    pub rules: BTreeMap<String, usize>,
    /// Rule handles per chain, in order (unchanged handles: no rule was rewritten).
    pub rule_handles: BTreeMap<String, Vec<u64>>,
    pub sets: BTreeSet<String>,
    /// Interface names in the `peer_in` map.
    pub peer_links: BTreeSet<String>,
    /// Node addresses in the `egress_from` map.
    pub egress_sources: BTreeSet<String>,
    /// Node address -> the egress chain it jumps to.
    pub egress_targets: BTreeMap<String, String>,
    /// Verdict map -> (key -> the chain it jumps to), for every map of the table.
    pub jumps: BTreeMap<String, BTreeMap<String, String>>,
    /// Prefix set -> its elements (as [`read_set`] gives them).
    pub elements: BTreeMap<String, Vec<Element>>,
    /// Chain -> the sets its rules refer to (`@name`).
    pub set_refs: BTreeMap<String, BTreeSet<String>>,
}

/// A set element as read back: a prefix, or something else (added by hand; a set that
/// holds one is refilled afresh).
pub type Element = std::result::Result<Cidr, Value>;

impl Table {
    pub fn rule_count(&self, chain: &str) -> usize {
        self.rules.get(chain).copied().unwrap_or(0)
    }

    /// Whether the base chains and maps are as [`base`](super::base()) makes them.
    pub fn base_intact(&self) -> bool {
        self.exists
            && self.rule_count("forward") == FORWARD_RULES
            && self.rule_count("input") == INPUT_RULES
            && self.rule_count("pre") == PRE_RULES
            && self.rule_count("nat_pre") == NAT_PRE_RULES
            && MAPS.iter().all(|m| self.sets.contains(*m))
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
