//! Finding and removing orphans: kernel objects under our prefix that no known resource
//! accounts for (left by a crash, a deleted row, an interrupted test).

use std::collections::HashSet;

use crate::driver::LocalDriver;
use crate::names::NamespaceKind;
use crate::{firewall, netns, nl};
use anyhow::{Context, Result};

/// The kernel objects live resources account for, by name: what each kind's local
/// provisioner names for its live objects ([`Provisioner::owned_names`]), collected by the
/// caller over every registered kind. (Lab VPCs and the lab's internet are added from the
/// driver's own registry.)
///
/// [`Provisioner::owned_names`]: isthmus_driver::Provisioner::owned_names
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownObjects {
    names: HashSet<String>,
}

impl KnownObjects {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts `names` as accounted for.
    pub fn claim(&mut self, names: impl IntoIterator<Item = String>) {
        self.names.extend(names);
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }
}

/// What a sweep removed, and what it could not (teardown goes on past errors).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub removed: Vec<String>,
    pub errors: Vec<String>,
}

/// The interfaces a sweep judges, by the letter after the prefix: those that belong to
/// one resource or one registered lab object (peering ends, node ports, uplinks, internet
/// host ports). The others (bridges, lab VPC ports and links) live and die with their
/// namespace.
const JUDGED_LINKS: &[&str] = &["p", "q", "n", "u", "w", "i"];

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
        self.endpoints.lock().expect("endpoint registry").clear();
        crate::endpoint::saved::forget(self.names.prefix());
        *self.internet.lock().expect("internet registry") = None;
        self.sweep_blocking(&KnownObjects::new())
            .unwrap_or_else(|e| SweepReport {
                removed: vec![],
                errors: vec![format!("{e:#}")],
            })
    }

    /// `known` with what the driver's own registries account for: each lab VPC's router
    /// and hosts, and the lab's internet with its hosts while it is in use.
    fn with_registered(&self, known: &KnownObjects) -> KnownObjects {
        let mut all = known.clone();
        let labs = self.labs.lock().expect("lab registry");
        for vpc in labs.values() {
            all.claim([vpc.router_namespace.clone()]);
            all.claim(vpc.hosts.iter().map(|h| h.namespace.clone()));
        }
        for ep in self.endpoints.lock().expect("endpoint registry").values() {
            all.claim([ep.namespace.clone()]);
        }
        if let Some(hosts) = self.internet.lock().expect("internet registry").as_ref() {
            all.claim([self.names.internet_ns()]);
            for name in hosts.keys() {
                all.claim([
                    self.names.internet_host_ns(name),
                    self.names.internet_host_port(name),
                ]);
            }
        }
        all
    }

    pub(crate) fn sweep_blocking(&self, known: &KnownObjects) -> Result<SweepReport> {
        let known = self.with_registered(known);
        let mut report = SweepReport::default();
        let mut kept_routers = vec![];
        let mut internet = None;
        for ns in netns::list()? {
            let Some(kind) = self.names.parse_ns(&ns) else {
                continue;
            };
            if known.contains(&ns) {
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
            let keep_link = |name: &str| self.keep_link(name, &known);
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
        self.sweep_vpn_gateways(&known, &mut report);
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
        known: &KnownObjects,
        report: &mut SweepReport,
    ) -> Result<Vec<String>> {
        let keep_link = |name: &str| self.keep_link(name, known);
        self.sweep_links(Some(ns), &keep_link, report)?;
        let owned_ns = ns.to_string();
        let known = known.clone();
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
                    .filter(|_| !known.contains(chain))
                {
                    let (link, set) = (format!("{prefix}p{h}"), format!("src_{h}"));
                    firewall::delete_peering(&mut batch, &table, &link, &set, chain);
                    removed.push(format!("firewall chain {chain} in {owned_ns}"));
                }
                if chain.starts_with("egress_") && !known.contains(chain) {
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
                        .is_some_and(|h| is_hash(h) && !known.contains(chain))
                };
                if forgotten("vpnin_") {
                    endpoints.extend(table.keys_jumping_to(firewall::PUBLIC_IN_MAP, chain));
                }
                if let Some(h) = chain.strip_prefix("vpn_").filter(|h| is_hash(h)) {
                    let in_chain = format!("vpnin_{h}");
                    if !known.contains(chain) {
                        let iface = format!("{prefix}g{h}");
                        crate::vpn::router::remove_into(
                            &mut batch, &table, &iface, chain, &in_chain,
                        );
                        removed.push(format!("firewall chains {chain}, {in_chain} in {owned_ns}"));
                    }
                }
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

    /// Stops the wireguard-go processes of gateways no live object accounts for (their
    /// interfaces go with them), and forgets their keys.
    fn sweep_vpn_gateways(&self, known: &KnownObjects, report: &mut SweepReport) {
        let prefix = format!("{}g", self.names.prefix());
        let doomed = |iface: &str| self.names.is_our_iface(iface) && !known.contains(iface);
        let keep: Vec<String> = crate::vpn::daemon::sockets_with_prefix(&prefix)
            .into_iter()
            .filter(|iface| !doomed(iface))
            .collect();
        let (stopped, errors) = crate::vpn::sweep::sweep_gateways(&prefix, &keep);
        report.removed.extend(
            stopped
                .into_iter()
                .map(|i| format!("VPN gateway process {i}")),
        );
        report
            .errors
            .extend(errors.iter().map(|e| format!("{e:#}")));
        for iface in crate::vpn::keys::on_file(self.names.prefix()) {
            if doomed(&iface) {
                match crate::vpn::keys::remove(self.names.prefix(), &iface) {
                    Ok(()) => report.removed.push(format!("VPN gateway key {iface}")),
                    Err(e) => report.errors.push(format!("key {iface}: {e:#}")),
                }
            }
        }
    }

    /// Whether a link of ours stays: judged ones only while something accounts for them.
    fn keep_link(&self, name: &str, known: &KnownObjects) -> bool {
        let kind = &name[self.names.prefix().len()..][..1];
        !JUDGED_LINKS.contains(&kind) || known.contains(name)
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
        batch.delete_elements(map, keys.iter().map(|k| firewall::text(k)).collect());
    }
    batch.remove_chain(chain);
    for slot in [0, 1] {
        let set = format!("{chain}_{slot}");
        if table.sets.contains(&set) {
            batch.delete_set(&set);
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
