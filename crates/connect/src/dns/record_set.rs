//! Record sets: what an object of any kind publishes in the platform DNS, in terms of
//! names and addresses only. The zone keys them by the publishing object, so a change of
//! one object replaces exactly its record sets and leaves everyone else's alone.

use std::net::Ipv4Addr;

use isthmus_core::Id;

/// Short on purpose: a caching resolver in between must see changes within a second or two.
pub const RECORD_TTL: u32 = 1;

/// The object that publishes record sets: its kind's name (`cluster`) and its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Publisher {
    pub kind: &'static str,
    pub id: Id,
}

/// Who is answered from a record set.
///
/// Only the default view is served today. Private endpoints will publish the names of a
/// cluster into the view of each customer network with an endpoint, where they resolve to
/// the endpoint instead of the nodes; that network's resolver then answers from its view
/// first and from the default view for every other name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum View {
    /// Every client of the platform DNS.
    #[default]
    Default,
    /// The resolvers of one customer network, by a name its publisher and resolver agree
    /// on.
    Network(String),
}

/// What a name resolves to. One variant per record type the zone serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordData {
    /// One A record per address.
    A(Vec<Ipv4Addr>),
}

/// One name and what it resolves to, in one view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSet {
    pub view: View,
    /// The name under the zone: a single label such as `<id>`, `<id>-0` or `public-<id>`,
    /// at most [`LONGEST_LABEL_LEN`](super::zone::LONGEST_LABEL_LEN) bytes so every name
    /// fits under the longest zone the server accepts.
    pub name: String,
    pub ttl: u32,
    pub data: RecordData,
}

impl RecordSet {
    /// `name` → `addresses` in the default view, with the zone's usual TTL.
    pub fn a(name: String, addresses: Vec<Ipv4Addr>) -> RecordSet {
        RecordSet {
            view: View::Default,
            name,
            ttl: RECORD_TTL,
            data: RecordData::A(addresses),
        }
    }
}
