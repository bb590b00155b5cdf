//! The platform zone: SOA and NS at the apex, `ns.<zone>`, and the record sets its
//! publishers hold ([`Names`]: one hash probe per question, so a lookup costs the same
//! with ten clusters or ten thousand).

use std::net::Ipv4Addr;
use std::sync::RwLock;

use anyhow::Context;
use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::rdata::{A, NS, SOA};
use hickory_server::proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};
use isthmus_core::id::ID_LEN;

use super::names::{BuiltSet, Names};
use super::record_set::{Publisher, RecordData, RecordSet, View, RECORD_TTL};
/// The name server's own name inside the zone: `ns.<zone>`.
const NS_LABEL: &str = "ns";
/// The SOA's mailbox: `hostmaster.<zone>`.
const HOSTMASTER_LABEL: &str = "hostmaster";
/// A DNS name is at most 255 bytes as written on the wire (RFC 1035 §2.3.4): one length
/// byte per label, the labels, and the root's zero byte.
const MAX_NAME_WIRE_LEN: usize = 255;
/// The longest first label the platform publishes under its zone: `public-<cluster id>`
/// (node names, `<cluster id>-<n>`, are shorter). A record set with a longer name is
/// refused, so every published name fits under every zone [`check_zone`] accepts.
pub const LONGEST_LABEL_LEN: usize = "public-".len() + ID_LEN;
/// The longest zone, written as a name, that leaves room for every published name.
pub const MAX_ZONE_WIRE_LEN: usize = MAX_NAME_WIRE_LEN - 1 - LONGEST_LABEL_LEN;

/// Checks a zone for `--dns-zone`: a valid DNS name, not the root, and short enough that
/// every name the platform publishes under it (up to `public-<20-character id>.<zone>`)
/// stays within DNS's 255-byte limit. Returns the zone as a lowercase, fully qualified name.
pub fn check_zone(zone: &str) -> anyhow::Result<Name> {
    let mut apex = Name::from_ascii(zone.trim_end_matches('.'))
        .with_context(|| format!("the DNS zone {zone:?} is not a valid DNS name"))?
        .to_lowercase();
    apex.set_fqdn(true);
    anyhow::ensure!(!apex.is_root(), "the DNS zone must not be the root");
    let wire_len = apex.len() + 1;
    anyhow::ensure!(
        wire_len <= MAX_ZONE_WIRE_LEN,
        "the DNS zone {zone:?} is too long: it takes {wire_len} bytes as a DNS name, and at \
         most {MAX_ZONE_WIRE_LEN} leave room for the longest name published under it \
         (public-<{ID_LEN}-character cluster id>.<zone>) within DNS's {MAX_NAME_WIRE_LEN}-byte limit"
    );
    Ok(apex)
}

/// What the server sends back for one question.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneAnswer {
    pub code: ResponseCode,
    /// Whether this server speaks with authority (false only for names outside the zone).
    pub authoritative: bool,
    pub answers: Vec<Record>,
    /// The SOA, sent with NXDOMAIN and with an empty answer so resolvers can cache the miss.
    pub soa: Vec<Record>,
}

pub struct Zone {
    apex: LowerName,
    /// The apex as a name on the wire (lowercase, ending in the root's zero byte).
    apex_wire: Vec<u8>,
    apex_name: Name,
    ns_name: Name,
    hostmaster_name: Name,
    /// `ns.<zone>` → this address, when the server was told where it is reachable.
    ns_address: Option<Ipv4Addr>,
    data: RwLock<ZoneData>,
}

#[derive(Default)]
struct ZoneData {
    names: Names,
    /// The SOA serial: bumped on every change.
    serial: u32,
}

impl Zone {
    /// Refuses a zone [`check_zone`] refuses. Every name a query can make the zone build
    /// (`ns`, `hostmaster`, the cluster labels) is built or checked here, not per query.
    pub fn new(zone: &str, ns_address: Option<Ipv4Addr>) -> anyhow::Result<Zone> {
        let apex_name = check_zone(zone)?;
        let ns_name = apex_name
            .prepend_label(NS_LABEL)
            .context("build the name server's name")?;
        let hostmaster_name = apex_name
            .prepend_label(HOSTMASTER_LABEL)
            .context("build the zone's hostmaster name")?;
        apex_name
            .prepend_label("p".repeat(LONGEST_LABEL_LEN))
            .context("build the longest published name")?;
        let mut apex_wire = Vec::new();
        for label in apex_name.iter() {
            apex_wire.push(label.len() as u8);
            apex_wire.extend(label.iter().map(u8::to_ascii_lowercase));
        }
        apex_wire.push(0);
        Ok(Zone {
            apex_wire,
            apex: LowerName::from(apex_name.clone()),
            apex_name,
            ns_name,
            hostmaster_name,
            ns_address,
            data: RwLock::new(ZoneData {
                serial: 1,
                ..ZoneData::default()
            }),
        })
    }

    /// The zone's name, fully qualified (`isthmus.internal.`).
    pub fn apex(&self) -> &Name {
        &self.apex_name
    }

    /// Replaces every publisher's record sets at once (the zone's load at start).
    pub fn set_record_sets(
        &self,
        published: impl IntoIterator<Item = (Publisher, Vec<RecordSet>)>,
    ) {
        let mut names = Names::default();
        for (publisher, sets) in published {
            names.replace(publisher, self.build(sets));
        }
        let mut data = self.data.write().expect("zone lock poisoned");
        data.serial = data.serial.wrapping_add(1);
        data.names = names;
    }

    /// Replaces exactly what `publisher` publishes with `sets`: names it no longer has go
    /// away, and nobody else's change. No sets withdraws it. Returns whether it had names.
    pub fn publish(&self, publisher: Publisher, sets: Vec<RecordSet>) -> bool {
        let built = self.build(sets);
        let mut data = self.data.write().expect("zone lock poisoned");
        data.serial = data.serial.wrapping_add(1);
        data.names.replace(publisher, built)
    }

    /// Removes every name of `publisher`; returns whether it had any.
    pub fn withdraw(&self, publisher: Publisher) -> bool {
        let mut data = self.data.write().expect("zone lock poisoned");
        data.serial = data.serial.wrapping_add(1);
        data.names.withdraw(publisher)
    }

    /// How many objects publish at least one name.
    pub fn publisher_count(&self) -> usize {
        self.data
            .read()
            .expect("zone lock poisoned")
            .names
            .publisher_count()
    }

    /// The hickory records of each set, built before the zone's lock is taken. A set
    /// without records publishes no name.
    fn build(&self, sets: Vec<RecordSet>) -> Vec<BuiltSet> {
        let mut built = Vec::with_capacity(sets.len());
        for RecordSet {
            view,
            mut name,
            ttl,
            data,
        } in sets
        {
            name.make_ascii_lowercase();
            let Some(owner) = self.publishable(&name) else {
                tracing::warn!(%name, "skipping a record set the zone cannot publish");
                continue;
            };
            let records: Vec<Record> = match data {
                RecordData::A(addresses) => addresses
                    .into_iter()
                    .map(|ip| Record::from_rdata(owner.clone(), ttl, RData::A(A(ip))))
                    .collect(),
            };
            if !records.is_empty() {
                built.push(BuiltSet {
                    view,
                    name,
                    records,
                });
            }
        }
        built
    }

    /// `<label>.<zone>`, if `label` is one DNS label no longer than [`LONGEST_LABEL_LEN`]
    /// (so it fits under every zone [`check_zone`] accepts) and not a name the zone keeps
    /// for itself.
    fn publishable(&self, label: &str) -> Option<Name> {
        let fits = !label.is_empty() && label.len() <= LONGEST_LABEL_LEN && !label.contains('.');
        let reserved = label == NS_LABEL || label == HOSTMASTER_LABEL;
        if !fits || reserved {
            return None;
        }
        self.apex_name.prepend_label(label).ok()
    }

    /// Answers one question from the default view. `name` is already lowercase (hickory's
    /// `LowerName`).
    pub fn lookup(&self, name: &LowerName, qtype: RecordType, qclass: DNSClass) -> ZoneAnswer {
        self.lookup_in(&View::Default, name, qtype, qclass)
    }

    /// Answers one question as `view` sees the zone: its own names first, then the
    /// default view's.
    pub fn lookup_in(
        &self,
        view: &View,
        name: &LowerName,
        qtype: RecordType,
        qclass: DNSClass,
    ) -> ZoneAnswer {
        if !self.apex.zone_of(name) || qclass != DNSClass::IN {
            return ZoneAnswer::refused();
        }
        let data = self.data.read().expect("zone lock poisoned");
        let soa = vec![self.soa_record(data.serial)];
        // Every label counts: `num_labels` leaves out a leading `*`, which made
        // `*.<zone>` pass for the apex (found by fuzz/fuzz_targets/dns.rs).
        let extra_labels = name.iter().count().saturating_sub(self.apex.iter().count());
        let found: Option<Vec<Record>> = match extra_labels {
            0 => Some(self.apex_records(qtype, data.serial)),
            1 => {
                let label = name.iter().next().unwrap_or_default();
                let label = std::str::from_utf8(label).unwrap_or_default();
                if label == NS_LABEL && self.ns_address.is_some() {
                    Some(self.ns_address_records(qtype))
                } else {
                    data.names
                        .get(view, label)
                        .map(|records| wanted(records, qtype))
                }
            }
            _ => None,
        };
        match found {
            None => ZoneAnswer::authoritative(ResponseCode::NXDomain, Vec::new(), soa),
            Some(answers) if answers.is_empty() => {
                ZoneAnswer::authoritative(ResponseCode::NoError, answers, soa)
            }
            Some(answers) => ZoneAnswer::authoritative(ResponseCode::NoError, answers, Vec::new()),
        }
    }

    /// Appends the A records `qname` (a name as on the wire, any case) has in `view`,
    /// prebuilt, and returns their count — when `qname` is one published label under the
    /// apex with at least one A record; None (nothing written) for any other name, which
    /// [`lookup_in`](Self::lookup_in) answers.
    pub(super) fn write_a(&self, view: &View, qname: &[u8], out: &mut Vec<u8>) -> Option<u16> {
        let len = usize::from(*qname.first()?);
        let (label, rest) = (qname.get(1..1 + len)?, qname.get(1 + len..)?);
        if len == 0 || len > LONGEST_LABEL_LEN || !rest.eq_ignore_ascii_case(&self.apex_wire) {
            return None;
        }
        let mut lower = [0u8; LONGEST_LABEL_LEN];
        let lower = &mut lower[..len];
        lower.copy_from_slice(label);
        lower.make_ascii_lowercase();
        let label = std::str::from_utf8(lower).ok()?;
        let data = self.data.read().expect("zone lock poisoned");
        match data.names.a_wire(view, label)? {
            (_, 0) => None,
            (wire, count) => {
                out.extend_from_slice(wire);
                Some(count)
            }
        }
    }

    fn apex_records(&self, qtype: RecordType, serial: u32) -> Vec<Record> {
        let ns = || {
            Record::from_rdata(
                self.apex_name.clone(),
                RECORD_TTL,
                RData::NS(NS(self.ns_name.clone())),
            )
        };
        match qtype {
            RecordType::SOA => vec![self.soa_record(serial)],
            RecordType::NS => vec![ns()],
            RecordType::ANY => vec![self.soa_record(serial), ns()],
            _ => Vec::new(),
        }
    }

    fn ns_address_records(&self, qtype: RecordType) -> Vec<Record> {
        match (qtype, self.ns_address) {
            (RecordType::A | RecordType::ANY, Some(ip)) => vec![Record::from_rdata(
                self.ns_name.clone(),
                RECORD_TTL,
                RData::A(A(ip)),
            )],
            _ => Vec::new(),
        }
    }

    fn soa_record(&self, serial: u32) -> Record {
        // refresh/retry/expire matter only to secondaries; the minimum is the negative-cache
        // TTL, kept as short as the records so a new cluster resolves at once.
        let soa = SOA::new(
            self.ns_name.clone(),
            self.hostmaster_name.clone(),
            serial,
            60,
            30,
            3600,
            RECORD_TTL,
        );
        Record::from_rdata(self.apex_name.clone(), RECORD_TTL, RData::SOA(soa))
    }
}

/// The records of a name that answer `qtype`: those of its type, or all for ANY.
fn wanted(records: &[Record], qtype: RecordType) -> Vec<Record> {
    match qtype {
        RecordType::ANY => records.to_vec(),
        _ => records
            .iter()
            .filter(|r| r.record_type() == qtype)
            .cloned()
            .collect(),
    }
}

impl ZoneAnswer {
    /// SERVFAIL: this server could not answer the question.
    pub fn server_failure() -> ZoneAnswer {
        ZoneAnswer {
            code: ResponseCode::ServFail,
            authoritative: false,
            answers: Vec::new(),
            soa: Vec::new(),
        }
    }

    fn refused() -> ZoneAnswer {
        ZoneAnswer {
            code: ResponseCode::Refused,
            authoritative: false,
            answers: Vec::new(),
            soa: Vec::new(),
        }
    }

    fn authoritative(code: ResponseCode, answers: Vec<Record>, soa: Vec<Record>) -> ZoneAnswer {
        ZoneAnswer {
            code,
            authoritative: true,
            answers,
            soa,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(zone: &Zone, name: &str, qtype: RecordType) -> ZoneAnswer {
        let name = LowerName::from(Name::from_ascii(name).unwrap());
        zone.lookup(&name, qtype, DNSClass::IN)
    }

    #[test]
    fn a_wildcard_label_is_a_name_of_its_own_not_the_apex() {
        let zone = Zone::new("isthmus.internal", Some(Ipv4Addr::new(127, 0, 0, 53))).unwrap();
        for qtype in [
            RecordType::SOA,
            RecordType::NS,
            RecordType::ANY,
            RecordType::A,
        ] {
            let answer = ask(&zone, "*.isthmus.internal.", qtype);
            assert_eq!(answer.code, ResponseCode::NXDomain, "{qtype}");
            assert!(answer.answers.is_empty(), "{qtype}: {:?}", answer.answers);
        }
        let apex = ask(&zone, "isthmus.internal.", RecordType::SOA);
        assert_eq!(apex.code, ResponseCode::NoError);
        assert_eq!(apex.answers.len(), 1);
    }

    /// The addresses `view` gets for `name`.
    fn addresses_in(zone: &Zone, view: &View, name: &str) -> Vec<Ipv4Addr> {
        let name = LowerName::from(Name::from_ascii(name).unwrap());
        let answer = zone.lookup_in(view, &name, RecordType::A, DNSClass::IN);
        let a = |r: &Record| match &r.data {
            RData::A(a) => a.0,
            other => panic!("expected A records, got {other:?}"),
        };
        answer.answers.iter().map(a).collect()
    }

    #[test]
    fn a_network_view_answers_its_own_names_first_and_the_default_ones_otherwise() {
        let zone = Zone::new("isthmus.internal", None).unwrap();
        let publisher = |kind, n| Publisher {
            kind,
            id: isthmus_core::Id::from_parts(1, [n; 8]),
        };
        let (cluster, endpoint) = (publisher("cluster", 1), publisher("endpoint", 2));
        let view = View::Network("lab-a".into());
        let node = Ipv4Addr::new(10, 0, 0, 5);
        let other = Ipv4Addr::new(10, 0, 0, 6);
        let endpoint_ip = Ipv4Addr::new(172, 16, 0, 9);
        let orders = |ips| RecordSet::a("orders".into(), ips);
        zone.publish(
            cluster,
            vec![
                orders(vec![node]),
                RecordSet::a("other".into(), vec![other]),
            ],
        );
        let in_view = RecordSet {
            view: view.clone(),
            ..orders(vec![endpoint_ip])
        };
        zone.publish(endpoint, vec![in_view]);
        let (orders, other_name) = ("orders.isthmus.internal.", "other.isthmus.internal.");

        assert_eq!(addresses_in(&zone, &View::Default, orders), vec![node]);
        assert_eq!(addresses_in(&zone, &view, orders), vec![endpoint_ip]);
        assert_eq!(addresses_in(&zone, &view, other_name), vec![other]);
        assert_eq!(zone.publisher_count(), 2);
        assert!(zone.withdraw(endpoint));
        assert_eq!(addresses_in(&zone, &view, orders), vec![node]);
        assert_eq!(zone.publisher_count(), 1);
    }
}
