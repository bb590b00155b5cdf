//! Lab VPCs: the customer's side of `local` peerings. A lab VPC stands in for a customer's
//! VPC on this host; its hosts are places to run commands from. The rules here decide
//! what may be stored; the local driver builds the namespaces.

use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::rules::{gateway_address, validate_private_cidr};
use crate::{Cidr, CoreError, FieldError};

/// The longest lab VPC or host name (a DNS label).
pub const MAX_LAB_NAME_LEN: usize = 63;

/// A lab VPC needs room for its network, gateway, one host and broadcast address.
pub const MAX_LAB_PREFIX_LEN: u8 = 30;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LabHost {
    pub name: String,
    #[schema(value_type = String, example = "172.16.0.2")]
    pub ip: Ipv4Addr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LabVpc {
    pub name: String,
    pub cidr_block: Cidr,
    /// A VPC reached only through another lab VPC's gateway (a VPN-client range or the
    /// spoke of a hub): its traffic to the platform leaves through that VPC's peerings.
    #[serde(default)]
    pub behind: Option<String>,
    pub hosts: Vec<LabHost>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabVpcCreate {
    pub name: String,
    pub cidr_block: String,
    /// Name of the lab VPC whose gateway this one sits behind (see [`LabVpc::behind`]).
    #[serde(default)]
    pub behind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabHostCreate {
    pub name: String,
    /// `None`: the lowest free address after the network and gateway addresses.
    #[serde(default)]
    pub ip: Option<String>,
}

/// A DNS-label-like token: 1…63 of `a-z`, `0-9` and `-`, not starting or ending with `-`.
/// Lab names end up in kernel object names (hashed) and in `VPC/HOST` arguments, so they
/// stay plain.
pub fn validate_lab_name(field: &str, name: &str) -> Result<String, FieldError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_LAB_NAME_LEN
        && crate::clouds::lowercase_digits_hyphens(name)
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !ok {
        return Err(FieldError::new(
            field,
            "dns-label",
            format!(
                "'{name}' must be 1 to {MAX_LAB_NAME_LEN} characters of a-z, 0-9 and '-', \
                 not starting or ending with '-'"
            ),
        ));
    }
    Ok(name.to_string())
}

/// A lab VPC's CIDR: private, /8 … /30, no host bits.
pub fn validate_lab_cidr(raw: &str) -> Result<Cidr, FieldError> {
    validate_private_cidr(raw, MAX_LAB_PREFIX_LEN, "a lab VPC")
}

/// A new lab VPC (no hosts yet); its name must not be taken by one of `existing`.
pub fn new_lab_vpc(
    req: &LabVpcCreate,
    existing: &[LabVpc],
    now: DateTime<Utc>,
) -> Result<LabVpc, CoreError> {
    let name = validate_lab_name("name", &req.name);
    let cidr = validate_lab_cidr(&req.cidr_block);
    let (name, cidr_block) = match (name, cidr) {
        (Ok(n), Ok(c)) => (n, c),
        (n, c) => {
            let errors = [n.err(), c.err()].into_iter().flatten().collect();
            return Err(CoreError::Invalid(errors));
        }
    };
    if existing.iter().any(|v| v.name == name) {
        return Err(CoreError::conflict(
            Some("name"),
            "name-taken",
            format!("a lab VPC named '{name}' already exists"),
        ));
    }
    if name == INTERNET {
        return Err(CoreError::invalid(
            "name",
            "reserved-name",
            "'internet' is the lab's internet; add hosts to it with `lab internet host add`",
        ));
    }
    if let Some(other) = existing.iter().find(|v| v.cidr_block.overlaps(&cidr_block)) {
        return Err(CoreError::conflict(
            Some("cidr_block"),
            "vpc-overlap",
            format!(
                "{cidr_block} overlaps lab VPC {} ({})",
                other.name, other.cidr_block
            ),
        ));
    }
    if let Some(hub) = &req.behind {
        match existing.iter().find(|v| &v.name == hub) {
            None => {
                return Err(CoreError::invalid(
                    "behind",
                    "known-vpc",
                    format!("there is no lab VPC named '{hub}'"),
                ))
            }
            Some(v) if v.behind.is_some() => {
                return Err(CoreError::invalid(
                    "behind",
                    "one-hop",
                    format!(
                        "lab VPC {hub} is itself behind {}; put {name} behind a VPC that is not",
                        v.behind.as_deref().unwrap_or_default()
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(LabVpc {
        name,
        cidr_block,
        behind: req.behind.clone(),
        hosts: Vec::new(),
        created_at: now,
    })
}

/// The name of the lab's internet: `internet/HOST` is an internet host.
pub const INTERNET: &str = "internet";

/// Where internet hosts get an address when none is given (RFC 5737 TEST-NET-3).
pub fn internet_default_range() -> Cidr {
    "203.0.113.0/24".parse().expect("static prefix")
}

/// A new internet host: a unique name and a public-looking address — not private, shared,
/// loopback, link-local, multicast or reserved, and not in the public endpoints' pool.
/// Without an address, the lowest free one of 203.0.113.0/24 from .10.
pub fn new_internet_host(existing: &[LabHost], req: &LabHostCreate) -> Result<LabHost, CoreError> {
    let name = validate_lab_name("name", &req.name).map_err(|e| CoreError::Invalid(vec![e]))?;
    if existing.iter().any(|h| h.name == name) {
        return Err(CoreError::conflict(
            Some("name"),
            "name-taken",
            format!("the internet already has a host named '{name}'"),
        ));
    }
    let taken_by = |ip: Ipv4Addr| existing.iter().find(|h| h.ip == ip);
    let ip = match &req.ip {
        None => {
            let range = internet_default_range();
            (range.start() + 10..range.end())
                .map(Ipv4Addr::from)
                .find(|ip| taken_by(*ip).is_none())
                .ok_or_else(|| {
                    CoreError::conflict(
                        Some("ip"),
                        "no-free-address",
                        format!("{range} is full: give the host an address with --ip"),
                    )
                })?
        }
        Some(raw) => {
            let ip: Ipv4Addr = raw.parse().map_err(|_| {
                CoreError::invalid("ip", "ip-syntax", format!("'{raw}' is not an IPv4 address"))
            })?;
            check_internet_ip(ip)?;
            if let Some(other) = taken_by(ip) {
                return Err(CoreError::conflict(
                    Some("ip"),
                    "ip-taken",
                    format!("{ip} is already internet host {}", other.name),
                ));
            }
            ip
        }
    };
    Ok(LabHost { name, ip })
}

fn check_internet_ip(ip: Ipv4Addr) -> Result<(), CoreError> {
    let special: [(&str, &str); 9] = [
        ("0.0.0.0/8", "'this network'"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("224.0.0.0/3", "multicast or reserved"),
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("100.64.0.0/10", "shared (carrier-grade NAT)"),
        ("198.18.0.0/15", "the public endpoints' pool"),
    ];
    for (range, what) in special {
        let range: Cidr = range.parse().expect("static prefix");
        if range.contains_addr(ip) {
            return Err(CoreError::invalid(
                "ip",
                "public-address",
                format!("{ip} is {what} ({range}); an internet host needs a public address"),
            ));
        }
    }
    Ok(())
}

/// Addresses of a lab VPC no host may have: network, gateway (its router), broadcast.
pub fn lab_reserved_addresses(cidr: &Cidr) -> [Ipv4Addr; 3] {
    [cidr.network(), gateway_address(cidr), cidr.broadcast()]
}

/// A new host of `vpc`: a unique name and an address inside the VPC that is neither
/// reserved nor taken; without an address, the lowest free one.
pub fn new_lab_host(vpc: &LabVpc, req: &LabHostCreate) -> Result<LabHost, CoreError> {
    let name = validate_lab_name("name", &req.name).map_err(|e| CoreError::Invalid(vec![e]))?;
    if vpc.hosts.iter().any(|h| h.name == name) {
        return Err(CoreError::conflict(
            Some("name"),
            "name-taken",
            format!("lab VPC {} already has a host named '{name}'", vpc.name),
        ));
    }
    let reserved = lab_reserved_addresses(&vpc.cidr_block);
    let taken_by = |ip: Ipv4Addr| vpc.hosts.iter().find(|h| h.ip == ip);
    let ip = match &req.ip {
        None => (vpc.cidr_block.start()..=vpc.cidr_block.end())
            .map(Ipv4Addr::from)
            .find(|ip| !reserved.contains(ip) && taken_by(*ip).is_none())
            .ok_or_else(|| {
                CoreError::conflict(
                    Some("ip"),
                    "no-free-address",
                    format!(
                        "lab VPC {} ({}) has no free address",
                        vpc.name, vpc.cidr_block
                    ),
                )
            })?,
        Some(raw) => {
            let ip: Ipv4Addr = raw.parse().map_err(|_| {
                CoreError::invalid("ip", "ip-syntax", format!("'{raw}' is not an IPv4 address"))
            })?;
            check_host_ip(vpc, ip)?;
            if let Some(other) = taken_by(ip) {
                return Err(CoreError::conflict(
                    Some("ip"),
                    "ip-taken",
                    format!(
                        "{ip} is already host {} of lab VPC {}",
                        other.name, vpc.name
                    ),
                ));
            }
            ip
        }
    };
    Ok(LabHost { name, ip })
}

fn check_host_ip(vpc: &LabVpc, ip: Ipv4Addr) -> Result<(), CoreError> {
    let cidr = &vpc.cidr_block;
    if !cidr.contains_addr(ip) {
        return Err(CoreError::invalid(
            "ip",
            "outside-vpc",
            format!("{ip} is outside lab VPC {} ({cidr})", vpc.name),
        ));
    }
    let what = if ip == cidr.network() {
        Some("the network address")
    } else if ip == cidr.broadcast() {
        Some("the broadcast address")
    } else if ip == gateway_address(cidr) {
        Some("the gateway (the lab VPC's router)")
    } else {
        None
    };
    match what {
        Some(what) => Err(CoreError::invalid(
            "ip",
            "reserved-address",
            format!("{ip} is {what} of lab VPC {} ({cidr})", vpc.name),
        )),
        None => Ok(()),
    }
}
