//! The platform's authoritative DNS for its zone (default `isthmus.internal`):
//! `<cluster-id>.<zone>` → every node, `<cluster-id>-<n>.<zone>` → node n,
//! `public-<cluster-id>.<zone>` → the public endpoint, SOA and NS at the apex.

mod handler;
mod records;
mod server;
mod zone;

pub use handler::PlatformZoneHandler;
pub use records::ClusterRecords;
pub use server::{DnsConfig, DnsHandle, DnsServer, DEFAULT_ZONE};
pub use zone::{check_zone, Zone, ZoneAnswer, MAX_ZONE_WIRE_LEN, RECORD_TTL};
