//! `Cidr`: an IPv4 prefix that cannot hold host bits. Parsing `172.29.98.7/24` fails with
//! a message that names the network the user most likely meant.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr(Ipv4Net);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("'{0}' is not an IPv4 prefix in a.b.c.d/len form")]
    Syntax(String),
    #[error("'{given}' has host bits set: did you mean {meant}?")]
    HostBits { given: String, meant: Cidr },
}

impl CidrError {
    /// The stable rule name used in API errors.
    pub fn rule(&self) -> &'static str {
        match self {
            CidrError::Syntax(_) => "cidr-syntax",
            CidrError::HostBits { .. } => "host-bits-set",
        }
    }
}

impl Cidr {
    /// Builds a prefix from an address and length, refusing host bits.
    pub fn new(addr: Ipv4Addr, len: u8) -> Result<Cidr, CidrError> {
        let net =
            Ipv4Net::new(addr, len).map_err(|_| CidrError::Syntax(format!("{addr}/{len}")))?;
        Cidr::from_net(net)
    }

    /// Wraps an `Ipv4Net`, refusing host bits.
    pub fn from_net(net: Ipv4Net) -> Result<Cidr, CidrError> {
        if net.addr() != net.network() {
            return Err(CidrError::HostBits {
                given: net.to_string(),
                meant: Cidr(net.trunc()),
            });
        }
        Ok(Cidr(net))
    }

    /// The prefix that contains `addr` at length `len` (host bits cleared).
    pub fn containing(addr: Ipv4Addr, len: u8) -> Cidr {
        Cidr(Ipv4Net::new(addr, len.min(32)).expect("len <= 32").trunc())
    }

    pub fn net(&self) -> Ipv4Net {
        self.0
    }
    pub fn network(&self) -> Ipv4Addr {
        self.0.network()
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        self.0.broadcast()
    }
    pub fn prefix_len(&self) -> u8 {
        self.0.prefix_len()
    }
    /// First address as an integer.
    pub fn start(&self) -> u32 {
        u32::from(self.0.network())
    }
    /// Last address as an integer (inclusive).
    pub fn end(&self) -> u32 {
        u32::from(self.0.broadcast())
    }
    /// Number of addresses in the prefix.
    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix_len())
    }
    pub fn contains_addr(&self, addr: Ipv4Addr) -> bool {
        self.0.contains(&addr)
    }
    /// True when `other` lies entirely inside `self`.
    pub fn contains(&self, other: &Cidr) -> bool {
        self.0.contains(&other.0)
    }
    /// True when the two prefixes share at least one address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other) || other.contains(self)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if !trimmed.contains('/') {
            return Err(CidrError::Syntax(s.to_string()));
        }
        let net: Ipv4Net = trimmed
            .parse()
            .map_err(|_| CidrError::Syntax(s.to_string()))?;
        Cidr::from_net(net)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cidr({})", self.0)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Cidr {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .examples(["172.29.98.0/24"])
            .description(Some("IPv4 prefix without host bits"))
            .into()
    }
}

impl utoipa::ToSchema for Cidr {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_bits_are_refused_with_the_network_meant() {
        let err = "172.29.98.7/24".parse::<Cidr>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "'172.29.98.7/24' has host bits set: did you mean 172.29.98.0/24?"
        );
        assert_eq!(err.rule(), "host-bits-set");
    }

    #[test]
    fn syntax_errors_name_the_input() {
        for bad in [
            "",
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/8",
            "fd00::/8",
            "banana",
        ] {
            let err = bad.parse::<Cidr>().unwrap_err();
            assert_eq!(err.rule(), "cidr-syntax", "{bad}");
        }
    }

    #[test]
    fn overlap_and_containment() {
        let a: Cidr = "10.0.0.0/16".parse().unwrap();
        let b: Cidr = "10.0.128.0/17".parse().unwrap();
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(a.contains(&b) && !b.contains(&a));
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert_eq!(a.size(), 65536);
    }
}
