//! xid-style ids: 12 bytes (4 bytes of seconds since the epoch, 8 bytes that make it
//! unique) written as 20 characters of lowercase base32hex. Sortable by creation time,
//! DNS-label safe, and typed per resource so a `NetworkId` can never be passed where a
//! `ClusterId` is meant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
pub const ID_LEN: usize = 20;

/// An untyped id. Build one from its parts (the clock and randomness live outside the core).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id([u8; 12]);

impl Id {
    pub fn from_parts(unix_seconds: u32, unique: [u8; 8]) -> Id {
        let mut raw = [0u8; 12];
        raw[..4].copy_from_slice(&unix_seconds.to_be_bytes());
        raw[4..].copy_from_slice(&unique);
        Id(raw)
    }

    pub fn unix_seconds(&self) -> u32 {
        u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]])
    }

    fn encode(&self) -> String {
        // 96 bits -> 20 five-bit groups (the last group carries 1 padding bit, as in xid).
        let mut out = String::with_capacity(ID_LEN);
        let mut acc: u128 = 0;
        for b in self.0 {
            acc = (acc << 8) | b as u128;
        }
        acc <<= 4; // 96 bits + 4 padding = 100 bits = 20 groups
        for i in (0..ID_LEN).rev() {
            let group = ((acc >> (i * 5)) & 0x1f) as usize;
            out.push(ALPHABET[group] as char);
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be {ID_LEN} characters of 0-9 and a-v (an xid)")]
pub struct InvalidId;

impl FromStr for Id {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != ID_LEN {
            return Err(InvalidId);
        }
        let mut acc: u128 = 0;
        for c in s.bytes() {
            let v = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'v' => c - b'a' + 10,
                _ => return Err(InvalidId),
            };
            acc = (acc << 5) | v as u128;
        }
        if acc & 0xf != 0 {
            return Err(InvalidId);
        }
        acc >>= 4;
        let mut raw = [0u8; 12];
        for (i, b) in raw.iter_mut().enumerate() {
            *b = (acc >> ((11 - i) * 8)) as u8;
        }
        Ok(Id(raw))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({self})")
    }
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub Id);

        impl $name {
            pub fn as_id(&self) -> Id {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        impl From<Id> for $name {
            fn from(id: Id) -> Self {
                $name(id)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length(Some(ID_LEN))
                    .max_length(Some(ID_LEN))
                    .pattern(Some("^[0-9a-v]{20}$"))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

typed_id!(
    /// A project: the tenant boundary for networks, peerings, clusters and roles.
    ProjectId
);
typed_id!(
    /// A project network (one CIDR block in one provider region).
    NetworkId
);
typed_id!(
    /// A peering between a project network and a customer's VPC/VNet.
    PeeringId
);
typed_id!(
    /// A database cluster placed into a network.
    ClusterId
);
typed_id!(
    /// An endpoint service: a cluster published to chosen principals of its cloud.
    EndpointServiceId
);
typed_id!(
    /// An API token (its secret is never stored, only a hash).
    TokenId
);
typed_id!(
    /// A network's WireGuard VPN gateway.
    VpnGatewayId
);
typed_id!(
    /// A client (one person's key) of a VPN gateway.
    VpnClientId
);
typed_id!(
    /// A live migration into a cluster.
    MigrationId
);
typed_id!(
    /// A lab VPC: a stand-in for a customer's VPC on the local provider.
    LabVpcId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_text_form() {
        let id = Id::from_parts(1_700_000_000, [1, 2, 3, 4, 5, 6, 7, 255]);
        let text = id.to_string();
        assert_eq!(text.len(), ID_LEN);
        assert!(text
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'v').contains(&c)));
        assert_eq!(text.parse::<Id>().unwrap(), id);
        assert_eq!(id.unix_seconds(), 1_700_000_000);
    }

    #[test]
    fn ids_sort_by_creation_time_in_text_form() {
        let older = Id::from_parts(1_000, [255; 8]).to_string();
        let newer = Id::from_parts(1_001, [0; 8]).to_string();
        assert!(older < newer);
    }

    #[test]
    fn malformed_ids_are_rejected() {
        assert!("short".parse::<Id>().is_err());
        assert!("ABCDEFGHIJKLMNOPQRST".parse::<Id>().is_err());
        assert!("wwwwwwwwwwwwwwwwwwww".parse::<Id>().is_err());
        // padding bits must be zero
        assert!("0000000000000000000v".parse::<Id>().is_err());
    }

    #[test]
    fn typed_ids_serialize_as_plain_strings() {
        let id = NetworkId(Id::from_parts(5, [9; 8]));
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        let back: NetworkId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<NetworkId>("\"nope\"").is_err());
    }
}
