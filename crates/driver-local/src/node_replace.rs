//! A replaced node on the local data plane. The store gave the node a new address (see
//! `isthmus_core::kinds::node_replace`); its namespace still holds the old one. Like a
//! cloud terminating the old instance before launching its replacement, the old
//! namespace and its bridge port are deleted, and `ensure_nodes` then makes the node anew
//! with the new address. The router forgets the old address too: its egress-map entry
//! and its conntrack flows, so a node given that address later inherits nothing.
//!
//! A node is "replaced" when its namespace holds an address of the network other than
//! the one the cluster says it has; nothing else (a missing address, a down link) is, so
//! ordinary drift is repaired in place as before.

use std::net::Ipv4Addr;

use anyhow::{Context, Result};
use isthmus_core::resources::{Cluster, Network};

use crate::driver::LocalDriver;
use crate::names::HOST_IFACE;
use crate::topology::{self, HostSpec, RouterSpec};
use crate::{firewall, netns, nl};

impl LocalDriver {
    /// Deletes the namespaces of `cluster`'s nodes that still hold an address the node no
    /// longer has; the addresses they held.
    pub(crate) async fn retire_replaced_nodes(
        &self,
        network: &Network,
        cluster: &Cluster,
    ) -> Result<Vec<Ipv4Addr>> {
        let router = self.router_spec(network);
        let id = cluster.id.to_string();
        let mut stale = vec![];
        for node in &cluster.nodes {
            let host = HostSpec {
                ns: self.names.node_ns(&id, node.index),
                port: self.names.node_port(&id, node.index),
                ip: node.ip,
            };
            let old = stale_addresses(&router, &host).await?;
            if !old.is_empty() {
                stale.push((node.index, host, old));
            }
        }
        let retired: Vec<Ipv4Addr> = stale.iter().flat_map(|(_, _, old)| old.clone()).collect();
        // The router forgets first: the old namespace is what marks the work to do, so a
        // crash in between repeats all of it on the next ensure.
        if !retired.is_empty() && netns::exists(&router.ns) {
            let (ns, ips) = (router.ns.clone(), retired.clone());
            tokio::task::spawn_blocking(move || forget_in_router(&ns, &ips))
                .await
                .context("forget the old addresses")??;
        }
        for (index, host, old) in stale {
            tracing::info!(node = index, cluster = %cluster.id, ?old, new = %host.ip,
                "node replaced: deleting its old namespace");
            topology::delete_host(&router.ns, &host)
                .await
                .with_context(|| format!("delete the old node {index} of {id}"))?;
        }
        Ok(retired)
    }
}

/// The network addresses on the node's interface other than its own (none when the
/// namespace or the interface does not exist).
async fn stale_addresses(router: &RouterSpec, host: &HostSpec) -> Result<Vec<Ipv4Addr>> {
    if !netns::exists(&host.ns) {
        return Ok(vec![]);
    }
    let (cidr, own) = (router.cidr, host.ip);
    netns::netlink_in_async(&host.ns, move |h| async move {
        let Some(eth) = nl::link(&h, HOST_IFACE).await? else {
            return Ok(vec![]);
        };
        Ok(nl::addresses(&h)
            .await?
            .into_iter()
            .filter(|(index, ip, _)| *index == eth.index && *ip != own && cidr.contains_addr(*ip))
            .map(|(_, ip, _)| ip)
            .collect())
    })
    .await
    .with_context(|| format!("read the addresses of {}", host.ns))
}

/// Out of the router's egress map and conntrack table.
fn forget_in_router(ns: &str, ips: &[Ipv4Addr]) -> Result<()> {
    let list = ips.to_vec();
    netns::run_in(Some(ns), move || {
        let current = firewall::read_table()?;
        let mut batch = firewall::Batch::new();
        firewall::forget_egress_sources(&mut batch, &current, &list);
        batch.apply()
    })?;
    for ip in ips {
        crate::vpn::conntrack::flush_address(ns, *ip)?;
    }
    Ok(())
}
