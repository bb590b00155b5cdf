//! The gateway's enforcement: a table of its own (`inet isthmus_vpn`) in the gateway's
//! namespace, written in the `nftables` crate's typed schema and applied as one
//! transaction per change. A client's `AllowedIPs` only routes; this decides.
//!
//! ```text
//! map clients { ipv4_addr : verdict }       client tunnel address -> jump c_<address>
//! chain forward (hook forward, prio -10, policy accept)
//!   iifname <wg> ct state established,related accept
//!   iifname <wg> ip saddr vmap @clients     (a known client: its own chain)
//!   iifname <wg> drop                       (an address no client holds)
//!   oifname <wg> ct state established,related accept
//!   oifname <wg> meta l4proto tcp reject with tcp reset   (nodes never open connections
//!   oifname <wg> drop                                      to clients; a revoked flow ends)
//! chain input (hook input, prio -10): iifname <wg> established accept, DNS (udp/tcp 53:
//!   the platform zone's resolver on the gateway's tunnel address), else drop
//! chain c_<address>
//!   ip daddr . meta l4proto . th dport @g_<address> accept   (the grants, by element)
//!   counter                                                  (denied, per client)
//!   meta l4proto tcp reject with tcp reset                   (refused at once)
//!   reject with icmpx admin-prohibited
//! ```
//! No NAT anywhere: a node sees the client's tunnel address.
//!
//! The priority runs this table before the router's own (`isthmus`, prio 0): whatever
//! this one drops never reaches it.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use anyhow::{Context, Result};
use nftables::expr::{Expression, MetaKey, NamedExpression, Payload, PayloadField};
use nftables::schema::{self, FlushObject, NfCmd, NfListObject, SetType, SetTypeValue};
use nftables::stmt::{Counter, Reject, RejectType, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook, RejectCode};
use serde::Serialize;
use serde_json::Value;

use crate::firewall::{accept, ct_state, drop_, eq, ip, jump_entry, meta, set_ref, text, vmap};
use crate::netns;

pub const TABLE: &str = "isthmus_vpn";
const FAMILY: NfFamily = NfFamily::INet;
const CLIENTS_MAP: &str = "clients";

/// A destination a client may open connections to (TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grant {
    pub destination: Ipv4Addr,
    pub port: u16,
}

/// The chain of the client with tunnel address `address`.
pub fn client_chain(address: Ipv4Addr) -> String {
    format!("c_{}", address.to_string().replace('.', "_"))
}

fn grant_set(address: Ipv4Addr) -> String {
    format!("g_{}", address.to_string().replace('.', "_"))
}

fn owned(s: &str) -> Cow<'static, str> {
    Cow::Owned(s.to_string())
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Command {
    Typed(NfCmd<'static>),
    /// `add map … : verdict` (nftables 0.6's `SetType` has no `verdict`).
    VerdictMap {
        add: Value,
    },
}

/// The commands of one transaction on our table.
#[derive(Debug, Default)]
struct Batch(Vec<Command>);

fn chain(name: &str) -> schema::Chain<'static> {
    schema::Chain {
        family: FAMILY,
        table: TABLE.into(),
        name: owned(name),
        ..Default::default()
    }
}

fn grant_set_object(name: &str) -> Box<schema::Set<'static>> {
    Box::new(schema::Set {
        family: FAMILY,
        table: TABLE.into(),
        name: owned(name),
        set_type: SetTypeValue::Concatenated(Cow::Owned(vec![
            SetType::Ipv4Addr,
            SetType::InetProto,
            SetType::InetService,
        ])),
        ..Default::default()
    })
}

fn elements(set: &str, elem: Vec<Expression<'static>>) -> schema::Element<'static> {
    schema::Element {
        family: FAMILY,
        table: TABLE.into(),
        name: owned(set),
        elem: elem.into(),
    }
}

/// `th dport`: the destination port of whichever transport header follows.
fn th_dport() -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: "th".into(),
            field: "dport".into(),
        },
    )))
}

fn grant_element(g: &Grant) -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(vec![
        text(&g.destination.to_string()),
        text("tcp"),
        Expression::Number(u32::from(g.port)),
    ]))
}

fn reject(kind: RejectType, code: Option<RejectCode>) -> Statement<'static> {
    Statement::Reject(Some(Reject::new(Some(kind), code)))
}

impl Batch {
    fn cmd(&mut self, cmd: NfCmd<'static>) {
        self.0.push(Command::Typed(cmd));
    }

    fn rule(&mut self, chain: &str, expr: Vec<Statement<'static>>) {
        self.cmd(NfCmd::Add(NfListObject::Rule(schema::Rule {
            family: FAMILY,
            table: TABLE.into(),
            chain: owned(chain),
            expr: expr.into(),
            ..Default::default()
        })));
    }

    fn apply_in(self, ns: &str) -> Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let document = serde_json::to_string(&serde_json::json!({ "nftables": self.0 }))
            .context("serialize nftables batch")?;
        netns::run_in(Some(ns), move || {
            nftables::helper::apply_ruleset_raw(
                &document,
                nftables::helper::DEFAULT_NFT,
                nftables::helper::DEFAULT_ARGS,
            )
            .map(|_| ())
            .map_err(crate::errors::nft_error)
        })
        .with_context(|| format!("apply the VPN firewall in {ns}"))
    }
}

/// Makes the table, its base chains and the clients map, and (re)fills the base chains:
/// run again, it repairs them without touching any client's chain or grants.
pub fn ensure_base(ns: &str, iface: &str) -> Result<()> {
    let mut b = Batch::default();
    b.cmd(NfCmd::Add(NfListObject::Table(schema::Table {
        family: FAMILY,
        name: TABLE.into(),
        handle: None,
    })));
    for (name, hook) in [("forward", NfHook::Forward), ("input", NfHook::Input)] {
        b.cmd(NfCmd::Add(NfListObject::Chain(schema::Chain {
            _type: Some(NfChainType::Filter),
            hook: Some(hook),
            prio: Some(-10),
            policy: Some(NfChainPolicy::Accept),
            ..chain(name)
        })));
        b.cmd(NfCmd::Flush(FlushObject::Chain(chain(name))));
    }
    b.0.push(Command::VerdictMap {
        add: serde_json::json!({ "map": {
            "family": "inet", "table": TABLE, "name": CLIENTS_MAP,
            "type": "ipv4_addr", "map": "verdict",
        }}),
    });
    let iif = || eq(meta(MetaKey::Iifname), text(iface));
    let oif = || eq(meta(MetaKey::Oifname), text(iface));
    let tcp = || eq(meta(MetaKey::L4proto), text("tcp"));
    let established = || ct_state(&["established", "related"]);
    b.rule("forward", vec![iif(), established(), accept()]);
    b.rule("forward", vec![iif(), vmap(ip("saddr"), CLIENTS_MAP)]);
    b.rule("forward", vec![iif(), drop_()]);
    b.rule("forward", vec![oif(), established(), accept()]);
    b.rule(
        "forward",
        vec![oif(), tcp(), reject(RejectType::TCPReset, None)],
    );
    b.rule("forward", vec![oif(), drop_()]);
    b.rule("input", vec![iif(), established(), accept()]);
    // DNS to the gateway itself: the platform zone's resolver (with `dns: push`).
    for proto in ["udp", "tcp"] {
        b.rule(
            "input",
            vec![
                iif(),
                eq(meta(MetaKey::L4proto), text(proto)),
                eq(th_dport(), Expression::Number(53)),
                accept(),
            ],
        );
    }
    b.rule("input", vec![iif(), drop_()]);
    b.apply_in(ns)
}

/// Sets the client at `address` to exactly `grants`, in one transaction: its chain, its
/// grant set (emptied and refilled), and its entry in the clients map.
pub fn set_client(ns: &str, address: Ipv4Addr, grants: &[Grant]) -> Result<()> {
    let (chain_name, set) = (client_chain(address), grant_set(address));
    // An intact chain stays (only its set's elements change), so its denied counter
    // survives a change of grants.
    let intact = read(ns)?.client_rules.get(&chain_name) == Some(&CLIENT_CHAIN_RULES);
    let mut b = Batch::default();
    b.cmd(NfCmd::Add(NfListObject::Set(grant_set_object(&set))));
    b.cmd(NfCmd::Flush(FlushObject::Set(grant_set_object(&set))));
    let unique: BTreeSet<Grant> = grants.iter().copied().collect();
    if !unique.is_empty() {
        b.cmd(NfCmd::Add(NfListObject::Element(elements(
            &set,
            unique.iter().map(grant_element).collect(),
        ))));
    }
    if !intact {
        client_chain_rules(&mut b, &chain_name, &set);
    }
    b.cmd(NfCmd::Add(NfListObject::Element(elements(
        CLIENTS_MAP,
        vec![jump_entry(&address.to_string(), &chain_name)],
    ))));
    b.apply_in(ns)
}

/// The rules [`client_chain_rules`] writes.
const CLIENT_CHAIN_RULES: usize = 4;

/// A client's chain, (re)made: its grant set, then count and refuse the rest.
fn client_chain_rules(b: &mut Batch, chain_name: &str, set: &str) {
    b.cmd(NfCmd::Add(NfListObject::Chain(chain(chain_name))));
    b.cmd(NfCmd::Flush(FlushObject::Chain(chain(chain_name))));
    let key = Expression::Named(NamedExpression::Concat(vec![
        ip("daddr"),
        meta(MetaKey::L4proto),
        th_dport(),
    ]));
    b.rule(chain_name, vec![eq(key, set_ref(set)), accept()]);
    b.rule(
        chain_name,
        vec![Statement::Counter(Counter::Anonymous(None))],
    );
    b.rule(
        chain_name,
        vec![
            eq(meta(MetaKey::L4proto), text("tcp")),
            reject(RejectType::TCPReset, None),
        ],
    );
    b.rule(
        chain_name,
        vec![reject(RejectType::ICMPX, Some(RejectCode::AdminProhibited))],
    );
}

/// Removes the client at `address` (map entry, chain, grant set), each only if present.
pub fn remove_client(ns: &str, address: Ipv4Addr) -> Result<()> {
    let current = read(ns)?;
    let (chain_name, set) = (client_chain(address), grant_set(address));
    let mut b = Batch::default();
    if current.clients.contains(&address) {
        b.cmd(NfCmd::Delete(NfListObject::Element(elements(
            CLIENTS_MAP,
            vec![text(&address.to_string())],
        ))));
    }
    if current.chains.contains(&chain_name) {
        b.cmd(NfCmd::Flush(FlushObject::Chain(chain(&chain_name))));
        b.cmd(NfCmd::Delete(NfListObject::Chain(chain(&chain_name))));
    }
    if current.sets.contains(&set) {
        b.cmd(NfCmd::Delete(NfListObject::Set(grant_set_object(&set))));
    }
    b.apply_in(ns)
}

/// Deletes the whole table (the gateway goes).
pub fn delete_table(ns: &str) -> Result<()> {
    if !read(ns)?.exists {
        return Ok(());
    }
    let mut b = Batch::default();
    b.cmd(NfCmd::Delete(NfListObject::Table(schema::Table {
        family: FAMILY,
        name: TABLE.into(),
        handle: None,
    })));
    b.apply_in(ns)
}

/// What the kernel holds of the table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VpnTable {
    pub exists: bool,
    pub chains: BTreeSet<String>,
    pub sets: BTreeSet<String>,
    /// Client addresses in the clients map.
    pub clients: BTreeSet<Ipv4Addr>,
    /// Denied packets per client chain (its counter).
    pub denied: BTreeMap<String, u64>,
    /// Rules per base chain (how a repair knows they are intact).
    pub base_rules: BTreeMap<String, usize>,
    /// Rules per client chain (an intact one is kept: its counter goes on).
    pub client_rules: BTreeMap<String, usize>,
    /// The grants each client's set holds, by set name.
    pub grants: BTreeMap<String, BTreeSet<Grant>>,
}

impl VpnTable {
    /// Packets the client at `address` sent that no grant allowed.
    pub fn denied_for(&self, address: Ipv4Addr) -> u64 {
        self.denied
            .get(&client_chain(address))
            .copied()
            .unwrap_or(0)
    }

    /// The grants the gateway holds for the client at `address` (`None`: no set).
    pub fn grants_of(&self, address: Ipv4Addr) -> Option<&BTreeSet<Grant>> {
        self.grants.get(&grant_set(address))
    }
}

/// A grant set's element as `nft -j` prints it: `{"concat": [addr, "tcp", port]}`.
fn parse_grant(elem: &Value) -> Option<Grant> {
    let parts = elem
        .get("concat")
        .or_else(|| elem["elem"]["val"].get("concat"))?;
    Some(Grant {
        destination: parts[0].as_str()?.parse().ok()?,
        port: u16::try_from(parts[2].as_u64()?).ok()?,
    })
}

/// Reads the table in namespace `ns` (`exists: false` when there is none).
pub fn read(ns: &str) -> Result<VpnTable> {
    let out = netns::run_in(
        Some(ns),
        || match nftables::helper::get_current_ruleset_raw(
            nftables::helper::DEFAULT_NFT,
            ["list", "table", "inet", TABLE],
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
    .with_context(|| format!("read the VPN firewall in {ns}"))?;
    let Some(out) = out else {
        return Ok(VpnTable::default());
    };
    let doc: Value = serde_json::from_str(&out).context("parse nft -j output")?;
    let mut table = VpnTable {
        exists: true,
        ..VpnTable::default()
    };
    for object in doc["nftables"].as_array().into_iter().flatten() {
        if let Some(c) = object.get("chain") {
            table.chains.insert(c["name"].as_str().unwrap_or("").into());
        } else if let Some(map) = object.get("map") {
            let name = map["name"].as_str().unwrap_or("");
            table.sets.insert(name.into());
            if name == CLIENTS_MAP {
                for e in map["elem"].as_array().into_iter().flatten() {
                    if let Some(addr) = e[0].as_str().and_then(|a| a.parse().ok()) {
                        table.clients.insert(addr);
                    }
                }
            }
        } else if let Some(set) = object.get("set") {
            let name = set["name"].as_str().unwrap_or("").to_string();
            if name.starts_with("g_") {
                let grants = set["elem"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(parse_grant)
                    .collect();
                table.grants.insert(name.clone(), grants);
            }
            table.sets.insert(name);
        } else if let Some(rule) = object.get("rule") {
            let chain = rule["chain"].as_str().unwrap_or("").to_string();
            if chain == "forward" || chain == "input" {
                *table.base_rules.entry(chain.clone()).or_default() += 1;
            } else if chain.starts_with("c_") {
                *table.client_rules.entry(chain.clone()).or_default() += 1;
            }
            for stmt in rule["expr"].as_array().into_iter().flatten() {
                if let Some(packets) = stmt["counter"]["packets"].as_u64() {
                    table.denied.insert(chain.clone(), packets);
                }
            }
        }
    }
    Ok(table)
}
