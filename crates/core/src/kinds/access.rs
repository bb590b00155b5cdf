//! Who may reach a cluster and where its nodes may go: the public endpoint and its
//! allow-list, the private allow-list that narrows peered sources, and the egress
//! allow-list. The entries' rules (prefixes listed once, ports, printable comments), the
//! public pool, and the warnings the API gives without refusing a list.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::validate::{check_printable, parse_cidr, Checks};
use crate::resources::{Cluster, Network, Peering};
use crate::{Cidr, CoreError, FieldError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AllowlistEntry {
    pub cidr: Cidr,
    #[serde(default)]
    pub comment: String,
    /// When set, the entry is removed once this time passes (the removal is audited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// The public endpoint: off by default; when on, only `allowlist` may connect, and an
/// empty list admits nobody. `0.0.0.0/0` is accepted only when given, with a warning.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublicAccess {
    pub enabled: bool,
    #[serde(default)]
    pub allowlist: Vec<AllowlistEntry>,
}

/// Where the public endpoint answers, while public access is enabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublicEndpoint {
    /// `public-<cluster-id>.<zone>`.
    pub dns_name: String,
    /// From the installation's public pool (on `local`: 198.18.0.0/15, inside the lab).
    #[schema(value_type = String, example = "198.18.0.1")]
    pub ip: Ipv4Addr,
}

/// Nodes may connect to `cidr` on these TCP ports (empty `ports`: every port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EgressRule {
    pub cidr: Cidr,
    #[serde(default)]
    pub ports: Vec<u16>,
    #[serde(default)]
    pub comment: String,
}

// CIDRs arrive as plain strings so the core can name the field that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowlistEntryInput {
    pub cidr: String,
    #[serde(default)]
    pub comment: String,
    /// Remove the entry once this time (RFC 3339) passes; none: it stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicAccessInput {
    pub enabled: bool,
    #[serde(default)]
    pub allowlist: Vec<AllowlistEntryInput>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EgressRuleInput {
    pub cidr: String,
    #[serde(default)]
    pub ports: Vec<u16>,
    #[serde(default)]
    pub comment: String,
}

/// The most entries an allow-list (public or private) may hold.
pub const MAX_ALLOWLIST_ENTRIES: usize = 8_000;

/// The longest comment of an allow-list or egress entry, in characters.
pub const MAX_COMMENT_LEN: usize = 256;

/// The most ports one egress rule may list.
pub const MAX_EGRESS_PORTS: usize = 64;

/// `list` without the entries whose expiry is at or before `now`, and whether any went.
pub fn unexpired(list: &[AllowlistEntry], now: DateTime<Utc>) -> (Vec<AllowlistEntry>, bool) {
    let kept: Vec<AllowlistEntry> = list
        .iter()
        .filter(|e| e.expires_at.is_none_or(|t| t > now))
        .cloned()
        .collect();
    let removed = kept.len() < list.len();
    (kept, removed)
}

/// The pool public endpoints take their addresses from (RFC 2544 benchmarking space: never
/// a real internet address, so the lab's "internet" cannot collide with the real one).
pub fn public_pool() -> Cidr {
    "198.18.0.0/15".parse().expect("static prefix")
}

/// Parses an allow-list named `field`: at most 8,000 entries, each a prefix without host
/// bits, none listed twice. Overlapping entries are fine (10.0.0.0/8 and 10.1.0.0/16).
pub fn validate_allowlist(
    field: &str,
    input: &[AllowlistEntryInput],
) -> Result<Vec<AllowlistEntry>, CoreError> {
    check_entry_count(field, "an allow-list", input.len())?;
    let mut checks = Checks::new();
    let mut seen = HashMap::with_capacity(input.len());
    let mut list = Vec::with_capacity(input.len());
    for (i, e) in input.iter().enumerate() {
        if let Some(cidr) = checks.field(entry_cidr(field, i, &e.cidr, &mut seen, "", true)) {
            list.push(AllowlistEntry {
                cidr,
                comment: e.comment.clone(),
                expires_at: e.expires_at,
            });
        }
        checks.check(
            validate_comment("", &e.comment).map_err(|e| at(e, format!("{field}[{i}].comment"))),
        );
    }
    checks.finish(list)
}

/// The private allow-list: as any allow-list, without expiries — when its last entry
/// left, the empty list would admit every peered source, the opposite of what expired.
pub fn validate_private_allowlist(
    input: &[AllowlistEntryInput],
) -> Result<Vec<AllowlistEntry>, CoreError> {
    const FIELD: &str = "private_allowlist";
    let expiring: Vec<FieldError> = input
        .iter()
        .enumerate()
        .filter(|(_, e)| e.expires_at.is_some())
        .map(|(i, _)| {
            FieldError::new(
                format!("{FIELD}[{i}].expires_at"),
                "no-expiry",
                "only public allow-list entries expire: an emptied private allow-list would \
                 admit every peered source",
            )
        })
        .collect();
    if !expiring.is_empty() {
        return Err(CoreError::Invalid(expiring));
    }
    validate_allowlist(FIELD, input)
}

/// Refuses a list of more than [`MAX_ALLOWLIST_ENTRIES`] entries (`what` names the list).
fn check_entry_count(field: &str, what: &str, len: usize) -> Result<(), CoreError> {
    if len > MAX_ALLOWLIST_ENTRIES {
        return Err(CoreError::invalid(
            field,
            "max-entries",
            format!("{what} holds at most {MAX_ALLOWLIST_ENTRIES} entries, got {len}"),
        ));
    }
    Ok(())
}

/// An allow-list entry's prefix: a CIDR, or a bare address meaning that one host (`/32`),
/// as Atlas takes it.
pub fn allowlist_cidr(field: &str, raw: &str) -> Result<Cidr, FieldError> {
    match raw.trim().parse::<Ipv4Addr>() {
        Ok(ip) => Ok(Cidr::containing(ip, 32)),
        Err(_) => parse_cidr(field, raw),
    }
}

/// `e` about the field named `field`. A list's entries are checked under the list's name
/// and renamed only when one fails: spelling out 8,000 entries' names cost more than
/// checking them.
fn at(mut e: FieldError, field: String) -> FieldError {
    e.field = field;
    e
}

/// Entry `i` of a list's CIDR; a prefix the list holds already (`seen`, by the index of
/// its last entry) is a `duplicate-entry` error (`hint` ends its message). `bare_ip`: an
/// address alone is its /32 (allow-lists); else a prefix length is required (egress).
fn entry_cidr(
    field: &str,
    i: usize,
    raw: &str,
    seen: &mut HashMap<Cidr, usize>,
    hint: &str,
    bare_ip: bool,
) -> Result<Cidr, FieldError> {
    let name = || format!("{field}[{i}].cidr");
    let cidr = match bare_ip {
        true => allowlist_cidr(field, raw),
        false => parse_cidr(field, raw),
    }
    .map_err(|e| at(e, name()))?;
    match seen.insert(cidr, i) {
        None => Ok(cidr),
        Some(j) => Err(FieldError::new(
            name(),
            "duplicate-entry",
            format!("{cidr} is listed twice (also {field}[{j}]){hint}"),
        )),
    }
}

/// An entry's comment: at most [`MAX_COMMENT_LEN`] printable characters.
pub fn validate_comment(field: &str, comment: &str) -> Result<(), FieldError> {
    if comment.chars().count() > MAX_COMMENT_LEN {
        return Err(FieldError::new(
            field,
            "comment",
            format!("a comment is at most {MAX_COMMENT_LEN} printable characters"),
        ));
    }
    check_printable(field, comment)
}

pub fn validate_public_access(
    input: &Option<PublicAccessInput>,
) -> Result<PublicAccess, CoreError> {
    let Some(input) = input else {
        return Ok(PublicAccess::default());
    };
    Ok(PublicAccess {
        enabled: input.enabled,
        allowlist: validate_allowlist("public_access.allowlist", &input.allowlist)?,
    })
}

/// What the API says about a cluster's access lists without refusing them.
pub fn cluster_warnings(cluster: &Cluster) -> Vec<String> {
    let mut w = Vec::new();
    let public = &cluster.public_access;
    if public.enabled && public.allowlist.is_empty() {
        w.push(
            "public access is enabled with an empty allow-list: nobody can connect to the \
             public endpoint until an entry is added"
                .to_string(),
        );
    }
    for (i, e) in public.allowlist.iter().enumerate() {
        if e.cidr.prefix_len() == 0 {
            w.push(format!(
                "public_access.allowlist[{i}] is {}: every address on the internet may \
                 connect to the public endpoint",
                e.cidr
            ));
        }
    }
    w
}

/// Keeps, clears or asks for the public endpoint as `public_access.enabled` says. An
/// endpoint the cluster already has keeps its address; a new one takes the lowest free
/// address of the public pool not in `taken` (the store passes every live endpoint's).
pub fn assign_public_endpoint(
    cluster: &mut Cluster,
    taken: &HashSet<Ipv4Addr>,
) -> Result<(), CoreError> {
    if !cluster.public_access.enabled {
        cluster.public_endpoint = None;
        return Ok(());
    }
    if cluster.public_endpoint.is_some() {
        return Ok(());
    }
    let pool = public_pool();
    let ip = (pool.start() + 1..pool.end())
        .map(Ipv4Addr::from)
        .find(|ip| !taken.contains(ip))
        .ok_or_else(|| {
            CoreError::conflict(
                Some("public_access.enabled"),
                "public-pool-full",
                format!("every address of the public pool {pool} is in use"),
            )
        })?;
    let zone = cluster
        .dns_name
        .strip_prefix(&format!("{}.", cluster.id))
        .unwrap_or(&cluster.dns_name);
    cluster.public_endpoint = Some(PublicEndpoint {
        dns_name: format!("public-{}.{zone}", cluster.id),
        ip,
    });
    Ok(())
}

/// Parses the egress allow-list with the allow-lists' rules: at most
/// [`MAX_ALLOWLIST_ENTRIES`] entries, each a prefix without host bits listed once (merge
/// the ports of two entries for the same prefix), at most [`MAX_EGRESS_PORTS`] distinct
/// ports of 1…65535 (none: every port), and a printable comment of at most
/// [`MAX_COMMENT_LEN`] characters.
pub fn validate_egress(input: &Option<Vec<EgressRuleInput>>) -> Result<Vec<EgressRule>, CoreError> {
    let Some(input) = input else {
        return Ok(Vec::new());
    };
    let field = "egress_allowlist";
    check_entry_count(field, "the egress allow-list", input.len())?;
    let mut checks = Checks::new();
    let mut seen = HashMap::new();
    let mut rules = Vec::with_capacity(input.len());
    for (i, e) in input.iter().enumerate() {
        let entry = format!("{field}[{i}]");
        let hint = "; list its ports in one entry";
        if let Some(cidr) = checks.field(entry_cidr(field, i, &e.cidr, &mut seen, hint, false)) {
            rules.push(EgressRule {
                cidr,
                ports: e.ports.clone(),
                comment: e.comment.clone(),
            });
        }
        checks.check(validate_ports(&format!("{entry}.ports"), &e.ports));
        checks.check(validate_comment(&format!("{entry}.comment"), &e.comment));
    }
    checks.finish(rules)
}

/// An egress rule's ports: at most [`MAX_EGRESS_PORTS`], each 1…65535 and listed once.
fn validate_ports(field: &str, ports: &[u16]) -> Result<(), FieldError> {
    if ports.len() > MAX_EGRESS_PORTS {
        return Err(FieldError::new(
            field,
            "max-ports",
            format!(
                "an egress rule lists at most {MAX_EGRESS_PORTS} ports, got {}; leave ports \
                 empty to allow every port",
                ports.len()
            ),
        ));
    }
    if ports.contains(&0) {
        return Err(FieldError::new(field, "port-range", "ports are 1…65535"));
    }
    let mut seen = HashSet::new();
    if let Some(p) = ports.iter().find(|p| !seen.insert(**p)) {
        return Err(FieldError::new(
            field,
            "duplicate-port",
            format!("port {p} is listed twice"),
        ));
    }
    Ok(())
}

/// Warnings for egress entries no live peering of the cluster's network routes (and not
/// inside the network itself): traffic to them has nowhere to go. Checked when the
/// cluster is written; `peerings` are those on `network`.
pub fn egress_warnings(cluster: &Cluster, network: &Network, peerings: &[Peering]) -> Vec<String> {
    let routes: Vec<Cidr> = peerings
        .iter()
        .filter(|p| p.network_id == network.id && p.status.is_live())
        .flat_map(|p| p.routes.iter().chain(&p.transit_routes).copied())
        .collect();
    cluster
        .egress_allowlist
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            !network.cidr_block.contains(&e.cidr) && !routes.iter().any(|r| r.overlaps(&e.cidr))
        })
        .map(|(i, e)| {
            format!(
                "egress_allowlist[{i}] {} lies outside every route of the live peerings of \
                 network {}: nothing reaches it until a peering routes it",
                e.cidr, network.id
            )
        })
        .collect()
}
