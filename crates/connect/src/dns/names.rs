//! The zone's names: per view, a hash map from a name's label to the records a query gets,
//! and per publisher the names it holds. A lookup is one hash probe whatever the zone's
//! size; publishing replaces exactly one publisher's names.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

use hickory_server::proto::rr::{RData, Record};

use super::record_set::{Publisher, View};

/// One record set ready to serve: hickory records for `<name>.<zone>`.
pub(super) struct BuiltSet {
    pub view: View,
    pub name: String,
    pub records: Vec<Record>,
}

#[derive(Default)]
pub(super) struct Names {
    /// The default view, read by every query.
    default: HashMap<String, Name>,
    /// Every other view.
    views: HashMap<View, HashMap<String, Name>>,
    /// The names each publisher holds, so a change drops exactly the names it no longer has.
    held: HashMap<Publisher, Vec<(View, String)>>,
}

/// One name of one view.
struct Name {
    /// Each publisher's records, in publisher order: two objects may publish one name (an
    /// address moving from one object to another), and withdrawing one leaves the other's.
    by_publisher: Vec<(Publisher, Arc<[Record]>)>,
    /// What a query gets: every publisher's records, built once per change.
    answer: Arc<[Record]>,
    /// The A records of `answer` as they go on the wire after a question for this name
    /// (owner: a pointer to the question's name), and how many.
    a_wire: Box<[u8]>,
    a_count: u16,
}

impl Names {
    /// The records of `label` in `view`, or in the default view when `view` has none.
    pub fn get(&self, view: &View, label: &str) -> Option<&Arc<[Record]>> {
        let in_view = match view {
            View::Default => None,
            other => self.views.get(other).and_then(|names| names.get(label)),
        };
        in_view
            .or_else(|| self.default.get(label))
            .map(|name| &name.answer)
    }

    /// The A records of `label` in `view` (or the default view) in wire format, and
    /// their count; see [`Name`].
    pub fn a_wire(&self, view: &View, label: &str) -> Option<(&[u8], u16)> {
        let in_view = match view {
            View::Default => None,
            other => self.views.get(other).and_then(|names| names.get(label)),
        };
        in_view
            .or_else(|| self.default.get(label))
            .map(|name| (&*name.a_wire, name.a_count))
    }

    /// How many publishers hold at least one name.
    pub fn publisher_count(&self) -> usize {
        self.held.len()
    }

    /// Replaces every name `publisher` holds with `sets`; returns whether it held any.
    pub fn replace(&mut self, publisher: Publisher, sets: Vec<BuiltSet>) -> bool {
        let had = self.withdraw(publisher);
        let mut held = Vec::with_capacity(sets.len());
        for set in sets {
            let names = match &set.view {
                View::Default => &mut self.default,
                other => self.views.entry(other.clone()).or_default(),
            };
            match names.entry(set.name.clone()) {
                Entry::Occupied(mut name) => name.get_mut().add(publisher, set.records),
                Entry::Vacant(name) => {
                    name.insert(Name::new(publisher, set.records.into()));
                }
            }
            held.push((set.view, set.name));
        }
        if !held.is_empty() {
            self.held.insert(publisher, held);
        }
        had
    }

    /// Drops every name `publisher` holds; returns whether it held any.
    pub fn withdraw(&mut self, publisher: Publisher) -> bool {
        let Some(held) = self.held.remove(&publisher) else {
            return false;
        };
        for (view, label) in held {
            let names = match &view {
                View::Default => &mut self.default,
                other => match self.views.get_mut(other) {
                    Some(names) => names,
                    None => continue,
                },
            };
            if let Entry::Occupied(mut name) = names.entry(label) {
                if name.get_mut().remove(publisher) {
                    name.remove();
                }
            }
            if view != View::Default && names.is_empty() {
                self.views.remove(&view);
            }
        }
        true
    }
}

impl Name {
    fn new(publisher: Publisher, records: Arc<[Record]>) -> Name {
        let (a_wire, a_count) = a_wire(&records);
        Name {
            answer: records.clone(),
            by_publisher: vec![(publisher, records)],
            a_wire,
            a_count,
        }
    }

    /// Adds `publisher`'s records (to those it already has here, for a publisher that
    /// named the same name twice).
    fn add(&mut self, publisher: Publisher, records: Vec<Record>) {
        match self
            .by_publisher
            .binary_search_by_key(&publisher, |(p, _)| *p)
        {
            Ok(i) => {
                let own = &mut self.by_publisher[i].1;
                *own = own.iter().cloned().chain(records).collect();
            }
            Err(i) => self.by_publisher.insert(i, (publisher, records.into())),
        }
        self.rebuild_answer();
    }

    /// Drops `publisher`'s records; returns whether no publisher is left.
    fn remove(&mut self, publisher: Publisher) -> bool {
        self.by_publisher.retain(|(p, _)| *p != publisher);
        self.rebuild_answer();
        self.by_publisher.is_empty()
    }

    fn rebuild_answer(&mut self) {
        self.answer = match self.by_publisher.as_slice() {
            [(_, only)] => only.clone(),
            all => all
                .iter()
                .flat_map(|(_, records)| records.iter().cloned())
                .collect(),
        };
        (self.a_wire, self.a_count) = a_wire(&self.answer);
    }
}

/// The A records among `records` in wire format, each owned by the name at offset 12 (the
/// question's: a compression pointer), with their count.
fn a_wire(records: &[Record]) -> (Box<[u8]>, u16) {
    let mut wire = Vec::with_capacity(records.len() * 16);
    let mut count = 0u16;
    for record in records {
        if let RData::A(a) = &record.data {
            wire.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
            wire.extend_from_slice(&record.ttl.to_be_bytes());
            wire.extend_from_slice(&[0, 4]);
            wire.extend_from_slice(&a.0.octets());
            count += 1;
        }
    }
    (wire.into_boxed_slice(), count)
}
