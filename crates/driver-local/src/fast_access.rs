//! The fast path of an access change (in the router's namespace): when only list entries
//! changed since the last apply, and the ruleset is still where that apply left it, the
//! difference goes to the kernel as element additions and deletions in one transaction
//! (`firewall::nfnl`), without reading the table or running nft. Entries that stay are
//! never touched, so their connections never notice. Anything else (a first apply, a
//! changed endpoint or node list, a generation moved on, a change the kernel refuses such
//! as a prefix widened over one that goes) takes the full path in `access`, which reads
//! the table and records what it applied.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;

use anyhow::{Context, Result};
use isthmus_core::Cidr;

use crate::access::AccessPlan;
use crate::applied::{Applied, Generation, Record, Shape};
use crate::firewall::nfnl::{self, Outcome, SetElements};
use crate::guard::collapse;
use crate::netns;

/// The current thread's namespace (`ns`) identity and ruleset generation.
fn generation(ns: &str) -> Result<Generation> {
    let inode = std::fs::metadata(netns::path(ns))
        .with_context(|| format!("stat namespace {ns}"))?
        .ino();
    Ok((inode, nfnl::generation()?))
}

/// Whether the record's shape is the plan's (the same endpoint, nodes, egress rules and
/// guards in place): then the plan differs from it by list entries at most.
fn same_shape(shape: &Shape, p: &AccessPlan) -> bool {
    shape.endpoint == p.endpoint
        && shape.nodes == p.nodes
        && shape.egress == p.egress
        && shape.public_set.is_some() == p.endpoint.is_some()
        && shape.private_set.is_some() != p.private_list.is_empty()
}

fn wanted(list: &[Cidr]) -> BTreeSet<Cidr> {
    collapse(list).into_iter().collect()
}

/// The element changes from the record to the plan, per guard set in place.
fn changes(record: &Record, p: &AccessPlan) -> Vec<(SetElements, BTreeSet<Cidr>)> {
    let guards = [
        (&record.shape.public_set, &record.public, &p.public_list),
        (&record.shape.private_set, &record.private, &p.private_list),
    ];
    let mut out = vec![];
    for (set, have, list) in guards {
        let Some(set) = set else { continue };
        let want = wanted(list);
        let delete: Vec<Cidr> = have.difference(&want).copied().collect();
        // Most of the set going (a list replaced): emptying it is one message and the
        // kernel walks it once, where deleting element by element looks each one up.
        let flush = delete.len() > have.len() - delete.len();
        let change = SetElements {
            set: set.clone(),
            add: match flush {
                true => want.iter().copied().collect(),
                false => want.difference(have).copied().collect(),
            },
            delete: if flush { vec![] } else { delete },
            flush,
        };
        if change.flush || !change.add.is_empty() || !change.delete.is_empty() {
            out.push((change, want));
        }
    }
    out
}

/// Applies the plan as element changes if it can (`Some`: done; the endpoint ips the
/// firewall had before, which are the plan's own). `None`: take the full path.
pub(crate) fn apply_elements_only(
    p: &AccessPlan,
    applied: &Applied,
) -> Result<Option<Vec<Ipv4Addr>>> {
    let Some(record) = applied.get(&p.router_ns, &p.cluster) else {
        return Ok(None);
    };
    if !same_shape(&record.shape, p) || generation(&p.router_ns)? != record.generation {
        return Ok(None);
    }
    let old = p.endpoint.into_iter().collect();
    let changes = changes(&record, p);
    let encodable = changes
        .iter()
        .flat_map(|(c, _)| c.add.iter().chain(&c.delete))
        .all(nfnl::encodable);
    if !encodable {
        return Ok(None);
    }
    if changes.is_empty() {
        return Ok(Some(old));
    }
    let (elements, sets): (Vec<SetElements>, Vec<_>) = changes
        .into_iter()
        .map(|(c, want)| {
            let set = c.set.clone();
            (c, (set, want))
        })
        .unzip();
    let sending = std::time::Instant::now();
    let outcome = nfnl::apply(record.generation.1, &elements);
    tracing::debug!(
        elements = elements
            .iter()
            .map(|e| e.add.len() + e.delete.len())
            .sum::<usize>(),
        flushed = elements.iter().filter(|e| e.flush).count(),
        netlink_ms = sending.elapsed().as_secs_f64() * 1e3,
        "element changes sent"
    );
    match outcome {
        Ok(Outcome::Applied(next)) => {
            applied.update_sets(&p.router_ns, (record.generation.0, next), sets);
            Ok(Some(old))
        }
        // Something changed the ruleset, or the kernel refused the change (an added
        // prefix overlapping one that stays): the full path reads the table and decides.
        Ok(Outcome::Stale) | Err(_) => {
            applied.forget(&p.router_ns);
            Ok(None)
        }
    }
}

/// Records what the full path applied for `p` (the sets its guards use now).
pub(crate) fn record(
    p: &AccessPlan,
    applied: &Applied,
    public_set: Option<String>,
    private_set: Option<String>,
) -> Result<()> {
    let mut sets = vec![];
    if let Some(set) = &public_set {
        sets.push((set.clone(), wanted(&p.public_list)));
    }
    if let Some(set) = &private_set {
        sets.push((set.clone(), wanted(&p.private_list)));
    }
    let shape = Shape {
        endpoint: p.endpoint,
        nodes: p.nodes.clone(),
        egress: p.egress.clone(),
        public_set,
        private_set,
    };
    let generation = generation(&p.router_ns)?;
    applied.replace(&p.router_ns, &p.cluster, generation, shape, sets);
    Ok(())
}

/// Whether the record shows the plan applied and the ruleset has not moved since.
pub(crate) fn record_holds(p: &AccessPlan, applied: &Applied) -> Result<bool> {
    let Some(record) = applied.get(&p.router_ns, &p.cluster) else {
        return Ok(false);
    };
    Ok(same_shape(&record.shape, p)
        && changes(&record, p).is_empty()
        && generation(&p.router_ns)? == record.generation)
}
