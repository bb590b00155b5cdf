//! The temporary link of a cluster's move between two local networks (issue 19): while
//! the old nodes (in the source network) and the new ones (in the target) run side by
//! side as one engine cluster, they must reach each other. A veth pair joins the two
//! router namespaces; each router routes the other side's node addresses (/32s, nothing
//! else) over it, and admits from it only those addresses, through a chain built like a
//! peering's (non-transitive: to its own bridge only). Connections the nodes open toward
//! the other side leave through the cluster's egress chain, which the caller widens for
//! the move (the engine's cluster port to the other side's nodes); the link adds no
//! egress of its own. Deleting either end of the veth removes both, and the routes.
//!
//! Both ends carry a link-local /32 (as peerings do) and routes use the other end as an
//! on-link gateway.

use std::net::Ipv4Addr;

use anyhow::{Context, Result};
use isthmus_core::resources::Network;
use isthmus_core::Cidr;

use crate::driver::LocalDriver;
use crate::errors::{dependency, driver_error};
use crate::{firewall, netns, nl};

const SOURCE_END: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
const TARGET_END: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 2);

/// One router's side of the link.
#[derive(Debug, Clone)]
struct Side {
    ns: String,
    bridge: String,
    link: String,
    own_end: Ipv4Addr,
    other_end: Ipv4Addr,
    /// The other side's node addresses: routed over the link and admitted from it.
    other_nodes: Vec<Cidr>,
    set: String,
    chain: String,
}

impl LocalDriver {
    /// Kernel names of the move link of `cluster_id` (its source-side and target-side
    /// ends), like a peering's, under a key of their own.
    fn move_key(cluster_id: &str) -> String {
        format!("move:{cluster_id}")
    }

    fn move_sides(
        &self,
        source: &Network,
        target: &Network,
        cluster_id: &str,
        old: &[Ipv4Addr],
        new: &[Ipv4Addr],
    ) -> (Side, Side) {
        let key = Self::move_key(cluster_id);
        let hosts = |ips: &[Ipv4Addr]| ips.iter().map(|ip| Cidr::containing(*ip, 32)).collect();
        let side = |net: &Network, link: String, own, other, nodes: &[Ipv4Addr], tag: &str| {
            let id = net.id.to_string();
            Side {
                ns: self.names.router_ns(&id),
                bridge: self.names.bridge(&id),
                link,
                own_end: own,
                other_end: other,
                other_nodes: hosts(nodes),
                set: self.names.peering_set(&format!("{key}:{tag}")),
                chain: self.names.peering_chain(&format!("{key}:{tag}")),
            }
        };
        (
            side(
                source,
                self.names.peering_link(&key),
                SOURCE_END,
                TARGET_END,
                new,
                "s",
            ),
            side(
                target,
                self.names.peering_peer_link(&key),
                TARGET_END,
                SOURCE_END,
                old,
                "t",
            ),
        )
    }

    /// Joins the routers of `source` and `target` for the move of `cluster_id`: the old
    /// nodes `old` (in the source) and the new nodes `new` (in the target) reach each
    /// other. Idempotent; the address lists may change between calls.
    pub async fn ensure_move_link(
        &self,
        source: &Network,
        target: &Network,
        cluster_id: &str,
        old: &[Ipv4Addr],
        new: &[Ipv4Addr],
    ) -> isthmus_driver::Result<()> {
        let _guard = self.changes.lock().await;
        self.ensure_move_link_impl(source, target, cluster_id, old, new)
            .await
            .map_err(driver_error)
    }

    async fn ensure_move_link_impl(
        &self,
        source: &Network,
        target: &Network,
        cluster_id: &str,
        old: &[Ipv4Addr],
        new: &[Ipv4Addr],
    ) -> Result<()> {
        let (s, t) = self.move_sides(source, target, cluster_id, old, new);
        for side in [&s, &t] {
            if !netns::exists(&side.ns) {
                return Err(dependency(format!(
                    "the move of cluster {cluster_id} needs router {}",
                    side.ns
                )));
            }
        }
        let (side, peer_link, peer_ns) = (s.clone(), t.link.clone(), t.ns.clone());
        netns::netlink_in_async(&s.ns, move |h| async move {
            if nl::link(&h, &side.link).await?.is_none() {
                nl::create_veth_into(&h, &side.link, &peer_link, &peer_ns).await?;
            }
            Ok(())
        })
        .await
        .with_context(|| format!("create the move link of cluster {cluster_id}"))?;
        for side in [s, t] {
            let ns = side.ns.clone();
            netns::netlink_in_async(&ns, move |h| async move { configure(&h, &side).await })
                .await
                .with_context(|| format!("configure the move link in {ns}"))?;
        }
        Ok(())
    }

    /// Removes the move link of `cluster_id` (both ends, their routes and chains).
    pub async fn delete_move_link(
        &self,
        source: &Network,
        target: &Network,
        cluster_id: &str,
    ) -> isthmus_driver::Result<()> {
        let _guard = self.changes.lock().await;
        let (s, t) = self.move_sides(source, target, cluster_id, &[], &[]);
        let mut result = Ok(());
        for side in [s, t] {
            if !netns::exists(&side.ns) {
                continue;
            }
            let ns = side.ns.clone();
            let done = netns::netlink_in_async(&ns, move |h| async move {
                if let Some(link) = nl::link(&h, &side.link).await? {
                    nl::delete_link(&h, link.index).await?;
                }
                let current = firewall::read_table()?;
                let mut batch = firewall::Batch::new();
                firewall::delete_peering(&mut batch, &current, &side.link, &side.set, &side.chain);
                batch.apply()
            })
            .await
            .with_context(|| format!("delete the move link of cluster {cluster_id} in {ns}"));
            // Teardown goes on with the other side; the first error is reported.
            if let Err(e) = done {
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        result.map_err(driver_error)
    }
}

/// One end: its address, routes to exactly the other side's nodes, and the chain that
/// admits them (replaced whole: a move's lists are a handful of addresses).
async fn configure(h: &rtnetlink::Handle, side: &Side) -> Result<()> {
    let link = nl::require_link(h, &side.link).await?;
    nl::ensure_address(h, link.index, side.own_end, 32).await?;
    nl::set_up(h, link.index).await?;
    for route in nl::routes(h).await? {
        let stale = route.oif == Some(link.index)
            && route.gateway.is_some()
            && !side.other_nodes.contains(&route.destination);
        if stale {
            nl::delete_route(h, &route).await?;
        }
    }
    for host in &side.other_nodes {
        nl::replace_route(h, host, Some(side.other_end), link.index).await?;
    }
    let current = firewall::read_table()?;
    let mut batch = firewall::Batch::new();
    firewall::delete_peering(&mut batch, &current, &side.link, &side.set, &side.chain);
    firewall::add_peering(
        &mut batch,
        &side.link,
        &side.set,
        &side.chain,
        &side.bridge,
        &side.other_nodes,
    );
    batch.apply()
}
