//! What the driver applied last to each router's access firewall, kept in memory so that
//! an allow-list change is a diff against it, applied as element changes over netlink,
//! instead of a full read of the kernel's table (8,000 entries take nft 50-230 ms to dump,
//! and nft dumps them again before any command of its own).
//!
//! A record is trusted only while the namespace's nftables ruleset is at the generation
//! recorded with it: any other change there (another cluster's, a peering's, a hand edit)
//! moves the generation on, and the next change of a cluster reads the kernel in full
//! again, as it does after a restart (the record starts empty). The element batch itself
//! carries that generation, so the kernel refuses it if anything slipped in between.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Mutex;

use isthmus_core::resources::EgressRule;
use isthmus_core::Cidr;

/// A namespace's identity (its inode: a namespace deleted and made again under the same
/// name is another) and its nftables ruleset generation.
pub(crate) type Generation = (u64, u32);

/// The parts of a cluster's access plan that are rules, chains and map entries (not list
/// elements): while they stay as recorded, a change is elements only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    pub endpoint: Option<Ipv4Addr>,
    pub nodes: Vec<Ipv4Addr>,
    pub egress: Option<(String, Vec<EgressRule>)>,
    /// The set each guard's chain uses (`None`: the guard is not in place).
    pub public_set: Option<String>,
    pub private_set: Option<String>,
}

#[derive(Debug, Default)]
struct Router {
    generation: Generation,
    /// Cluster id -> its shape as applied.
    shapes: HashMap<String, Shape>,
    /// Set name -> the prefixes it holds (collapsed, as applied).
    sets: HashMap<String, BTreeSet<Cidr>>,
}

/// Per router namespace, what was applied last.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    routers: Mutex<HashMap<String, Router>>,
}

/// A cluster's record, as the fast path reads it.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub generation: Generation,
    pub shape: Shape,
    pub public: BTreeSet<Cidr>,
    pub private: BTreeSet<Cidr>,
}

impl Applied {
    /// The record of `cluster` in `router_ns`, if there is one.
    pub fn get(&self, router_ns: &str, cluster: &str) -> Option<Record> {
        let routers = self.routers.lock().expect("applied record");
        let router = routers.get(router_ns)?;
        let shape = router.shapes.get(cluster)?.clone();
        let set = |name: &Option<String>| -> Option<BTreeSet<Cidr>> {
            match name {
                None => Some(BTreeSet::new()),
                Some(name) => router.sets.get(name).cloned(),
            }
        };
        Some(Record {
            generation: router.generation,
            public: set(&shape.public_set)?,
            private: set(&shape.private_set)?,
            shape,
        })
    }

    /// Records what a full apply for `cluster` left in place, at `generation`. Other
    /// clusters' records in the namespace are dropped: the full apply began from a fresh
    /// read of the kernel, which they were not checked against.
    pub fn replace(
        &self,
        router_ns: &str,
        cluster: &str,
        generation: Generation,
        shape: Shape,
        sets: Vec<(String, BTreeSet<Cidr>)>,
    ) {
        let mut router = Router {
            generation,
            ..Router::default()
        };
        router.shapes.insert(cluster.to_string(), shape);
        router.sets.extend(sets);
        self.routers
            .lock()
            .expect("applied record")
            .insert(router_ns.to_string(), router);
    }

    /// Records an element change made on top of the record at its generation.
    pub fn update_sets(
        &self,
        router_ns: &str,
        generation: Generation,
        sets: Vec<(String, BTreeSet<Cidr>)>,
    ) {
        let mut routers = self.routers.lock().expect("applied record");
        if let Some(router) = routers.get_mut(router_ns) {
            router.generation = generation;
            router.sets.extend(sets);
        }
    }

    /// Forgets a namespace (its kernel state is not what was recorded, or it is going).
    pub fn forget(&self, router_ns: &str) {
        self.routers
            .lock()
            .expect("applied record")
            .remove(router_ns);
    }
}
