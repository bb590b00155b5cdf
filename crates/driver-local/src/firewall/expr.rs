//! Building blocks of our rules and elements, in the `nftables` crate's typed schema.

use std::net::Ipv4Addr;

use isthmus_core::Cidr;
use nftables::expr::{
    Expression, Map, Meta, MetaKey, NamedExpression, NgMode, Numgen, Payload, PayloadField, Prefix,
    SetItem, Verdict, CT,
};
use nftables::stmt::{JumpTarget, Match, NATFamily, Operator, Statement, VerdictMap, NAT};

use super::batch::owned;

/// An immediate string: an interface name, an address, a `ct` keyword.
pub(crate) fn text(s: &str) -> Expression<'static> {
    Expression::String(owned(s))
}

/// A reference to a named set or map (`@name`).
pub(crate) fn set_ref(name: &str) -> Expression<'static> {
    Expression::String(format!("@{name}").into())
}

/// An anonymous set of numbers (`{ 80, 443 }`).
pub(crate) fn numbers(values: impl IntoIterator<Item = u32>) -> Expression<'static> {
    Expression::Named(NamedExpression::Set(
        values
            .into_iter()
            .map(|n| SetItem::Element(Expression::Number(n)))
            .collect(),
    ))
}

pub(crate) fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

/// A header field: `ip saddr`, `tcp dport`.
fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: protocol.into(),
            field: field.into(),
        },
    )))
}

pub(crate) fn ip(field: &'static str) -> Expression<'static> {
    payload("ip", field)
}

pub(crate) fn tcp(field: &'static str) -> Expression<'static> {
    payload("tcp", field)
}

pub(crate) fn udp(field: &'static str) -> Expression<'static> {
    payload("udp", field)
}

/// Conntrack data: `ct state`, `ct status`, `ct direction`.
pub(crate) fn ct(key: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT {
        key: key.into(),
        family: None,
        dir: None,
    }))
}

fn matches(
    op: Operator,
    left: Expression<'static>,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

pub(crate) fn eq(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    matches(Operator::EQ, left, right)
}

pub(crate) fn ne(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    matches(Operator::NEQ, left, right)
}

/// `<left> in <right>`: bits or membership (`ct status dnat`).
pub(crate) fn is_in(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    matches(Operator::IN, left, right)
}

/// `ct state <states>` (one state, or any of several).
pub(crate) fn ct_state(states: &[&'static str]) -> Statement<'static> {
    let right = match states {
        [one] => text(one),
        many => Expression::List(many.iter().map(|s| text(s)).collect()),
    };
    is_in(ct("state"), right)
}

pub(crate) fn accept() -> Statement<'static> {
    Statement::Accept(None)
}

pub(crate) fn drop_() -> Statement<'static> {
    Statement::Drop(None)
}

/// The verdict `jump <chain>` (as a map value).
pub(crate) fn jump(chain: &str) -> Expression<'static> {
    Expression::Verdict(Verdict::Jump(JumpTarget {
        target: owned(chain),
    }))
}

/// `<key> vmap @<map>`: the verdict the named map holds for the key.
pub(crate) fn vmap(key: Expression<'static>, map: &str) -> Statement<'static> {
    Statement::VerdictMap(VerdictMap {
        key,
        data: set_ref(map),
    })
}

/// A verdict-map entry `<key> : jump <chain>`.
pub(crate) fn jump_entry(key: &str, chain: &str) -> Expression<'static> {
    Expression::List(vec![text(key), jump(chain)])
}

/// A prefix as an nft set element (a /32 is a plain address).
pub fn prefix_element(cidr: &Cidr) -> Expression<'static> {
    let addr = text(&cidr.network().to_string());
    if cidr.prefix_len() == 32 {
        addr
    } else {
        Expression::Named(NamedExpression::Prefix(Prefix {
            addr: Box::new(addr),
            len: u32::from(cidr.prefix_len()),
        }))
    }
}

/// `dnat ip to numgen inc mod N map { 0 : node0, … }`: each new connection to the next
/// node, on the same port.
/// `snat ip to <ip>`.
pub(crate) fn snat_to(ip: Ipv4Addr) -> Statement<'static> {
    Statement::SNAT(Some(NAT {
        addr: Some(text(&ip.to_string())),
        family: Some(NATFamily::IP),
        port: None,
        flags: None,
    }))
}

pub(crate) fn round_robin_dnat(nodes: &[Ipv4Addr]) -> Statement<'static> {
    let targets = nodes
        .iter()
        .enumerate()
        .map(|(i, ip)| SetItem::Mapping(Expression::Number(i as u32), text(&ip.to_string())))
        .collect();
    let pick = Numgen {
        mode: NgMode::Inc,
        ng_mod: nodes.len() as u32,
        offset: Some(0),
    };
    Statement::DNAT(Some(NAT {
        addr: Some(Expression::Named(NamedExpression::Map(Box::new(Map {
            key: Expression::Named(NamedExpression::Numgen(pick)),
            data: Expression::Named(NamedExpression::Set(targets)),
        })))),
        family: Some(NATFamily::IP),
        port: None,
        flags: None,
    }))
}
