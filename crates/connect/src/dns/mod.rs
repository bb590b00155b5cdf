//! The platform's authoritative DNS for its zone (default `isthmus.internal`): SOA and NS
//! at the apex, and the record sets objects of any kind publish, each keyed by its
//! publisher. Clusters publish `<cluster-id>.<zone>` → every node,
//! `<cluster-id>-<n>.<zone>` → node n, `public-<cluster-id>.<zone>` → the public endpoint.
//!
//! hickory's `Catalog` picks a zone by the question's name; this server has one zone, and
//! what it must pick by is the asker's network (a [`View`]), which a `Catalog` does not
//! see. So one handler answers from [`Zone`] directly: one hash probe per question.

mod handler;
mod names;
mod record_set;
mod records;
mod server;
mod udp;
mod zone;

pub use handler::PlatformZoneHandler;
pub use record_set::{Publisher, RecordData, RecordSet, View, RECORD_TTL};
pub use records::ClusterRecords;
pub use server::{DnsConfig, DnsHandle, DnsServer, DEFAULT_ZONE};
pub use zone::{check_zone, Zone, ZoneAnswer, LONGEST_LABEL_LEN, MAX_ZONE_WIRE_LEN};
