//! Finding and removing orphans: kernel objects under our prefix that no known resource
//! accounts for (left by a crash, a deleted row, an interrupted test).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use anyhow::{Context, Result};
use isthmus_core::resources::{Cluster, Network, Peering};

use crate::driver::LocalDriver;
use crate::names::{short_hash, NamespaceKind};
use crate::{firewall, netns, nl};

/// The resources that should have kernel objects (lab VPCs: those registered with the
/// driver).
#[derive(Debug, Clone, Default)]
pub struct KnownObjects {
    pub networks: HashSet<String>,
    pub peerings: HashSet<String>,
    /// Cluster id -> node indices.
    pub clusters: BTreeMap<String, BTreeSet<u32>>,
}

impl KnownObjects {
    pub fn from_resources(
        networks: &[Network],
        peerings: &[Peering],
        clusters: &[Cluster],
    ) -> Self {
        KnownObjects {
            networks: networks.iter().map(|n| n.id.to_string()).collect(),
            peerings: peerings.iter().map(|p| p.id.to_string()).collect(),
            clusters: clusters
                .iter()
                .map(|c| (c.id.to_string(), c.nodes.iter().map(|n| n.index).collect()))
                .collect(),
        }
    }
}

/// What a sweep removed, and what it could not (teardown goes on past errors).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub removed: Vec<String>,
    pub errors: Vec<String>,
}

/// Hashes of everything known, in the form names carry them.
struct KnownHashes {
    networks: HashSet<String>,
    peerings: HashSet<String>,
    nodes: HashSet<(String, u32)>,
    clusters: HashSet<String>,
    node_ports: HashSet<String>,
    lab_routers: HashSet<String>,
    lab_hosts: HashSet<String>,
    /// `None`: the internet is not in use (its namespace goes too).
    internet_hosts: Option<HashSet<String>>,
}

impl LocalDriver {
    /// Removes every namespace, link and firewall object under this driver's prefix that
    /// `known` (and the lab VPC registry) does not account for.
    pub async fn sweep_orphans(
        self: &std::sync::Arc<Self>,
        known: &KnownObjects,
    ) -> Result<SweepReport> {
        let _guard = self.changes.lock().await;
        let (this, known) = (self.clone(), known.clone());
        tokio::task::spawn_blocking(move || this.sweep_blocking(&known))
            .await
            .context("sweep thread")?
    }

    /// Removes every kernel object under this driver's prefix and forgets all lab VPCs
    /// (tests' cleanup guards, uninstall). Blocking; safe to call from `Drop`.
    pub fn purge(&self) -> SweepReport {
        self.labs.lock().expect("lab registry").clear();
        *self.internet.lock().expect("internet registry") = None;
        self.sweep_blocking(&KnownObjects::default())
            .unwrap_or_else(|e| SweepReport {
                removed: vec![],
                errors: vec![format!("{e:#}")],
            })
    }

    fn known_hashes(&self, known: &KnownObjects) -> KnownHashes {
        let labs = self.labs.lock().expect("lab registry");
        let internet = self.internet.lock().expect("internet registry");
        KnownHashes {
            internet_hosts: internet
                .as_ref()
                .map(|hosts| hosts.keys().map(|name| short_hash(name)).collect()),
            networks: known.networks.iter().map(|id| short_hash(id)).collect(),
            peerings: known.peerings.iter().map(|id| short_hash(id)).collect(),
            nodes: known
                .clusters
                .iter()
                .flat_map(|(id, indices)| indices.iter().map(move |i| (short_hash(id), *i)))
                .collect(),
            clusters: known.clusters.keys().map(|id| short_hash(id)).collect(),
            node_ports: known
                .clusters
                .iter()
                .flat_map(|(id, indices)| indices.iter().map(move |i| self.names.node_port(id, *i)))
                .collect(),
            lab_routers: labs.keys().map(|name| short_hash(name)).collect(),
            lab_hosts: labs
                .values()
                .flat_map(|vpc| {
                    vpc.hosts
                        .iter()
                        .map(move |h| short_hash(&format!("{}/{}", vpc.name, h.name)))
                })
                .collect(),
        }
    }

    pub(crate) fn sweep_blocking(&self, known: &KnownObjects) -> Result<SweepReport> {
        let known = self.known_hashes(known);
        let mut report = SweepReport::default();
        let mut kept_routers = vec![];
        let mut internet = None;
        for ns in netns::list()? {
            let Some(kind) = self.names.parse_ns(&ns) else {
                continue;
            };
            let keep = match &kind {
                NamespaceKind::Router(h) => known.networks.contains(h),
                NamespaceKind::Node { cluster, index } => {
                    known.nodes.contains(&(cluster.clone(), *index))
                }
                NamespaceKind::LabRouter(h) => known.lab_routers.contains(h),
                NamespaceKind::LabHost(h) => known.lab_hosts.contains(h),
                // In use while it has hosts or may carry public endpoints.
                NamespaceKind::Internet => {
                    known.internet_hosts.is_some() || !known.networks.is_empty()
                }
                NamespaceKind::InternetHost(h) => known
                    .internet_hosts
                    .as_ref()
                    .is_some_and(|hosts| hosts.contains(h)),
            };
            if keep {
                match kind {
                    NamespaceKind::Router(_) | NamespaceKind::LabRouter(_) => kept_routers.push(ns),
                    NamespaceKind::Internet => internet = Some(ns),
                    _ => {}
                }
                continue;
            }
            match netns::delete(&ns) {
                Ok(_) => report.removed.push(format!("namespace {ns}")),
                Err(e) => report.errors.push(format!("namespace {ns}: {e:#}")),
            }
        }
        let mut forgotten_endpoints = vec![];
        for ns in &kept_routers {
            match self.sweep_router(ns, &known, &mut report) {
                Ok(endpoints) => forgotten_endpoints.extend(endpoints),
                Err(e) => report.errors.push(format!("router {ns}: {e:#}")),
            }
        }
        if let Some(ns) = internet {
            // Host links of forgotten hosts, uplinks of forgotten networks (their routes
            // to public endpoints go with them).
            let prefix = self.names.prefix().to_string();
            let hosts = known.internet_hosts.clone().unwrap_or_default();
            let keep_link = |name: &str| -> bool {
                let (kind, hash) = name[prefix.len()..].split_at(1);
                match kind {
                    "i" => hosts.contains(hash),
                    "w" => known.networks.contains(hash),
                    _ => true,
                }
            };
            if let Err(e) = self.sweep_links(Some(&ns), &keep_link, &mut report) {
                report.errors.push(format!("internet {ns}: {e:#}"));
            }
            match unroute(&ns, forgotten_endpoints) {
                Ok(gone) => report.removed.extend(
                    gone.into_iter()
                        .map(|ip| format!("route to public endpoint {ip} in {ns}")),
                ),
                Err(e) => report.errors.push(format!("internet {ns}: {e:#}")),
            }
        }
        // Nothing of ours belongs in the root namespace; remove anything found there.
        if let Err(e) = self.sweep_links(None, &|_| false, &mut report) {
            report.errors.push(format!("root namespace: {e:#}"));
        }
        Ok(report)
    }

    /// Removes stale peering links and node ports inside a kept router, and the firewall
    /// objects of peerings and clusters no longer known.
    /// Returns the public endpoint ips of forgotten clusters (the internet unroutes them).
    fn sweep_router(
        &self,
        ns: &str,
        known: &KnownHashes,
        report: &mut SweepReport,
    ) -> Result<Vec<String>> {
        let prefix = self.names.prefix().to_string();
        let keep_link = |name: &str| -> bool {
            let rest = &name[prefix.len()..];
            let (kind, hash) = rest.split_at(1);
            match kind {
                "p" | "q" => known.peerings.contains(hash),
                "u" => known.networks.contains(hash),
                // Node ports hash "<cluster id>/<index>": compare with the ports known nodes have.
                "n" => known.node_ports.contains(name),
                _ => true,
            }
        };
        self.sweep_links(Some(ns), &keep_link, report)?;
        let owned_ns = ns.to_string();
        let peerings = known.peerings.clone();
        let clusters = known.clusters.clone();
        let prefix = self.names.prefix().to_string();
        let removed = netns::run_in(Some(ns), move || {
            let table = firewall::read_table()?;
            if !table.exists {
                return Ok((vec![], vec![]));
            }
            let mut batch = firewall::Batch::new();
            let mut removed = vec![];
            let mut endpoints = vec![];
            for chain in &table.chains {
                if let Some(h) = chain
                    .strip_prefix("peer_")
                    .filter(|h| !peerings.contains(*h))
                {
                    let (link, set) = (format!("{prefix}p{h}"), format!("src_{h}"));
                    firewall::delete_peering(&mut batch, &table, &link, &set, chain);
                    removed.push(format!("firewall chain {chain} in {owned_ns}"));
                }
                if chain
                    .strip_prefix("egress_")
                    .is_some_and(|h| !clusters.contains(h))
                {
                    let nodes: Vec<_> = table
                        .egress_targets
                        .iter()
                        .filter(|(_, target)| *target == chain)
                        .filter_map(|(ip, _)| ip.parse().ok())
                        .collect();
                    firewall::delete_egress(&mut batch, &table, chain, &nodes);
                    removed.push(format!("firewall chain {chain} in {owned_ns}"));
                }
                let forgotten = |p: &str| {
                    chain
                        .strip_prefix(p)
                        .is_some_and(|h| is_hash(h) && !clusters.contains(h))
                };
                if forgotten("pub_") || forgotten("dnat_") || forgotten("prv_") {
                    endpoints.extend(table.keys_jumping_to(firewall::PUBLIC_IN_MAP, chain));
                    delete_cluster_chain(&mut batch, &table, chain);
                    removed.push(format!("firewall chain {chain} in {owned_ns}"));
                }
            }
            batch.apply()?;
            Ok((removed, endpoints))
        })?;
        report.removed.extend(removed.0);
        Ok(removed.1)
    }

    fn sweep_links(
        &self,
        ns: Option<&str>,
        keep: &dyn Fn(&str) -> bool,
        report: &mut SweepReport,
    ) -> Result<()> {
        let names = self.names.clone();
        let ours: Vec<String> = netns::netlink_in(ns, move |h| async move {
            Ok(nl::links(&h)
                .await?
                .into_iter()
                .map(|l| l.name)
                .filter(|n| names.is_our_iface(n))
                .collect())
        })?;
        let doomed: Vec<String> = ours.into_iter().filter(|n| !keep(n)).collect();
        if doomed.is_empty() {
            return Ok(());
        }
        let list = doomed.clone();
        netns::netlink_in(ns, move |h| async move {
            for name in list {
                if let Some(link) = nl::link(&h, &name).await? {
                    nl::delete_link(&h, link.index).await?;
                }
            }
            Ok(())
        })?;
        let place = ns.unwrap_or("the root namespace");
        report
            .removed
            .extend(doomed.into_iter().map(|n| format!("link {n} in {place}")));
        Ok(())
    }
}

fn is_hash(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Removes a forgotten cluster's access chain: the map entries that jump to it, the chain,
/// and the sets of its pair.
fn delete_cluster_chain(batch: &mut firewall::Batch, table: &firewall::Table, chain: &str) {
    for map in [
        firewall::PUBLIC_IN_MAP,
        firewall::PUBLIC_DNAT_MAP,
        firewall::PRIVATE_TO_MAP,
    ] {
        let keys = table.keys_jumping_to(map, chain);
        if !keys.is_empty() {
            batch.push(
                "delete",
                "element",
                serde_json::json!({ "name": map, "elem": keys }),
            );
        }
    }
    batch.push("flush", "chain", serde_json::json!({ "name": chain }));
    batch.push("delete", "chain", serde_json::json!({ "name": chain }));
    for slot in [0, 1] {
        let set = format!("{chain}_{slot}");
        if table.sets.contains(&set) {
            batch.push("delete", "set", serde_json::json!({ "name": set }));
        }
    }
}

/// Deletes the internet's routes to `endpoints` (ips of forgotten clusters' endpoints).
fn unroute(ns: &str, endpoints: Vec<String>) -> Result<Vec<String>> {
    if endpoints.is_empty() {
        return Ok(vec![]);
    }
    netns::netlink_in(Some(ns), move |h| async move {
        let mut gone = vec![];
        for route in nl::routes(&h).await? {
            let ip = route.destination.network().to_string();
            if route.destination.prefix_len() == 32 && endpoints.contains(&ip) {
                nl::delete_route(&h, &route).await?;
                gone.push(ip);
            }
        }
        Ok(gone)
    })
}
