//! A batch of nft commands on our table, applied in one transaction (all or nothing).

use std::borrow::Cow;
use std::collections::HashSet;

use anyhow::{Context, Result};
use nftables::expr::Expression;
use nftables::schema::{self, FlushObject, NfCmd, NfListObject, SetFlag, SetType, SetTypeValue};
use nftables::stmt::Statement;
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use serde::Serialize;

use crate::names::TABLE;

const FAMILY: NfFamily = NfFamily::INet;

pub(super) fn owned(s: &str) -> Cow<'static, str> {
    Cow::Owned(s.to_string())
}

/// One command of a batch, as it goes into the `nft -j` document.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Command {
    Typed(NfCmd<'static>),
    /// `add map` of a verdict map: nftables 0.6's `SetType` has no `verdict`, so this
    /// one object is declared here, with the schema's field names.
    AddVerdictMap {
        add: VerdictMap,
    },
}

#[derive(Debug, Serialize)]
struct VerdictMap {
    map: VerdictMapBody,
}

#[derive(Debug, Serialize)]
struct VerdictMapBody {
    family: NfFamily,
    table: &'static str,
    name: &'static str,
    #[serde(rename = "type")]
    key: SetType,
    map: &'static str,
}

#[derive(Debug, Serialize)]
struct Document<'a> {
    nftables: &'a [Command],
}

/// A batch of nft commands applied in one transaction (all or nothing).
#[derive(Debug, Default)]
pub struct Batch {
    commands: Vec<Command>,
}

fn chain(name: &str) -> schema::Chain<'static> {
    schema::Chain {
        family: FAMILY,
        table: TABLE.into(),
        name: owned(name),
        ..Default::default()
    }
}

/// An `ipv4_addr` set of prefixes (`flags interval`).
fn interval_set(name: &str) -> Box<schema::Set<'static>> {
    Box::new(schema::Set {
        family: FAMILY,
        table: TABLE.into(),
        name: owned(name),
        set_type: SetTypeValue::Single(SetType::Ipv4Addr),
        flags: Some(HashSet::from([SetFlag::Interval])),
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

fn table() -> schema::Table<'static> {
    schema::Table {
        family: FAMILY,
        name: TABLE.into(),
        handle: None,
    }
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    fn cmd(&mut self, cmd: NfCmd<'static>) {
        self.commands.push(Command::Typed(cmd));
    }

    pub(crate) fn add_table(&mut self) {
        self.cmd(NfCmd::Add(NfListObject::Table(table())));
    }

    pub(crate) fn delete_table(&mut self) {
        self.cmd(NfCmd::Delete(NfListObject::Table(table())));
    }

    pub(crate) fn add_base_chain(
        &mut self,
        name: &str,
        kind: NfChainType,
        hook: NfHook,
        prio: i32,
        policy: NfChainPolicy,
    ) {
        self.cmd(NfCmd::Add(NfListObject::Chain(schema::Chain {
            _type: Some(kind),
            hook: Some(hook),
            prio: Some(prio),
            policy: Some(policy),
            ..chain(name)
        })));
    }

    /// Adds a regular chain (a no-op if it exists).
    pub(crate) fn add_chain(&mut self, name: &str) {
        self.cmd(NfCmd::Add(NfListObject::Chain(chain(name))));
    }

    pub(crate) fn flush_chain(&mut self, name: &str) {
        self.cmd(NfCmd::Flush(FlushObject::Chain(chain(name))));
    }

    /// Empties and deletes a chain (nft deletes only empty chains).
    pub(crate) fn remove_chain(&mut self, name: &str) {
        self.flush_chain(name);
        self.cmd(NfCmd::Delete(NfListObject::Chain(chain(name))));
    }

    /// Appends a rule to `chain`.
    pub(crate) fn rule(&mut self, chain: &str, expr: Vec<Statement<'static>>) {
        self.cmd(NfCmd::Add(NfListObject::Rule(schema::Rule {
            family: FAMILY,
            table: TABLE.into(),
            chain: owned(chain),
            expr: expr.into(),
            ..Default::default()
        })));
    }

    /// Adds a map from `key` to verdicts (a no-op if it exists).
    pub(crate) fn add_verdict_map(&mut self, name: &'static str, key: SetType) {
        self.commands.push(Command::AddVerdictMap {
            add: VerdictMap {
                map: VerdictMapBody {
                    family: FAMILY,
                    table: TABLE,
                    name,
                    key,
                    map: "verdict",
                },
            },
        });
    }

    /// Adds a prefix set (a no-op if it exists).
    pub(crate) fn add_interval_set(&mut self, name: &str) {
        self.cmd(NfCmd::Add(NfListObject::Set(interval_set(name))));
    }

    pub(crate) fn flush_set(&mut self, name: &str) {
        self.cmd(NfCmd::Flush(FlushObject::Set(interval_set(name))));
    }

    pub(crate) fn delete_set(&mut self, name: &str) {
        self.cmd(NfCmd::Delete(NfListObject::Set(interval_set(name))));
    }

    /// Adds elements to a set or map (nothing if `elem` is empty).
    pub(crate) fn add_elements(&mut self, set: &str, elem: Vec<Expression<'static>>) {
        if !elem.is_empty() {
            self.cmd(NfCmd::Add(NfListObject::Element(elements(set, elem))));
        }
    }

    /// Deletes elements (map entries by key) from a set or map (nothing if `elem` is empty).
    pub(crate) fn delete_elements(&mut self, set: &str, elem: Vec<Expression<'static>>) {
        if !elem.is_empty() {
            self.cmd(NfCmd::Delete(NfListObject::Element(elements(set, elem))));
        }
    }

    /// Applies the batch inside the current thread's namespace.
    pub fn apply(self) -> Result<()> {
        if self.commands.is_empty() {
            return Ok(());
        }
        let document = serde_json::to_string(&Document {
            nftables: &self.commands,
        })
        .context("serialize nftables batch")?;
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
