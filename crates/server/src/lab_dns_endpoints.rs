//! Names of clusters inside lab VPCs with a private endpoint: in the view of each such
//! VPC (its resolver answers from it first), the cluster's name resolves to the endpoint
//! address and each node's name to the endpoint's address of that node, so clients that
//! discover nodes by name (NATS cluster URLs) reach them through the endpoint. Only while
//! the connection is available; nowhere else (never a public name for a private address).

use std::collections::BTreeMap;

use isthmus_connect::dns::{Publisher, RecordSet, View, Zone};
use isthmus_core::kinds::endpoint_connection::ConnectionStatus;
use isthmus_core::ClusterId;
use isthmus_driver_local::LocalDriver;

/// What every available lab endpoint publishes now, per cluster (one publisher per
/// cluster, with record sets in the view of each VPC that reaches it).
pub fn wanted(local: &LocalDriver) -> BTreeMap<Publisher, Vec<RecordSet>> {
    let mut out: BTreeMap<Publisher, Vec<RecordSet>> = BTreeMap::new();
    for ep in local.lab_endpoints() {
        if ep.status != ConnectionStatus::Available {
            continue;
        }
        let Some(cluster) = ep.cluster.as_deref() else {
            continue;
        };
        let Ok(id) = cluster.parse::<ClusterId>() else {
            continue;
        };
        let view = View::Network(ep.vpc.clone());
        let set = |name: String, ip| RecordSet {
            view: view.clone(),
            ..RecordSet::a(name, vec![ip])
        };
        let sets = out
            .entry(Publisher {
                kind: "lab_endpoint",
                id: id.0,
            })
            .or_default();
        sets.push(set(cluster.to_string(), ep.ip));
        for (i, ip) in ep.node_ips.iter().enumerate() {
            sets.push(set(format!("{cluster}-{i}"), *ip));
        }
    }
    out
}

/// Brings the zone to `wanted`, touching only publishers whose names changed.
pub fn sync(zone: &Zone, last: &mut BTreeMap<Publisher, Vec<RecordSet>>, local: &LocalDriver) {
    let now = wanted(local);
    for (publisher, sets) in &now {
        if last.get(publisher) != Some(sets) {
            zone.publish(*publisher, sets.clone());
        }
    }
    for publisher in last.keys() {
        if !now.contains_key(publisher) {
            zone.withdraw(*publisher);
        }
    }
    *last = now;
}
