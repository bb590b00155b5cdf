//! Building blocks shared by platform networks and lab VPCs: a router namespace with a
//! bridge that carries the gateway address, and hosts (cluster nodes or lab hosts) that
//! are namespaces attached to that bridge by a veth.

use std::net::Ipv4Addr;

use anyhow::{Context, Result};
use isthmus_core::Cidr;

use crate::names::HOST_IFACE;
use crate::{netns, nl};

/// A router namespace and its bridge.
#[derive(Debug, Clone)]
pub struct RouterSpec {
    pub ns: String,
    pub bridge: String,
    pub cidr: Cidr,
    pub gateway: Ipv4Addr,
}

/// A host namespace on a router's bridge.
#[derive(Debug, Clone)]
pub struct HostSpec {
    pub ns: String,
    /// The router-side end of the host's veth (a port of the bridge).
    pub port: String,
    pub ip: Ipv4Addr,
}

/// Creates the router namespace, turns on forwarding, and makes sure the bridge is up and
/// carries the gateway address. Returns whether the namespace was made just now (then it
/// holds nothing else yet).
pub async fn ensure_router(router: &RouterSpec) -> Result<bool> {
    let created = netns::create_async(&router.ns).await?;
    let r = router.clone();
    netns::netlink_in_async(&router.ns, move |h| async move {
        netns::set_ipv4_sysctl("ip_forward", "1")?;
        // The firewall, not reverse-path filtering, decides which sources are admitted
        // (so the reachability tool can explain every drop by a rule).
        netns::set_ipv4_sysctl("conf/all/rp_filter", "0")?;
        netns::set_ipv4_sysctl("conf/default/rp_filter", "0")?;
        let lo = nl::require_link(&h, "lo").await?;
        nl::set_up(&h, lo.index).await?;
        if nl::link(&h, &r.bridge).await?.is_none() {
            nl::create_bridge(&h, &r.bridge).await?;
        }
        let bridge = nl::require_link(&h, &r.bridge).await?;
        nl::ensure_address(&h, bridge.index, r.gateway, r.cidr.prefix_len()).await?;
        nl::set_up(&h, bridge.index).await
    })
    .await
    .with_context(|| format!("set up router namespace {}", router.ns))?;
    Ok(created)
}

/// What is wrong with a router (empty: nothing).
pub async fn router_drift(router: &RouterSpec) -> Result<Vec<String>> {
    if !netns::exists(&router.ns) {
        return Ok(vec![format!("namespace {} is missing", router.ns)]);
    }
    let r = router.clone();
    netns::netlink_in_async(&router.ns, move |h| async move {
        let mut drift = vec![];
        if netns::read_ipv4_sysctl("ip_forward")? != "1" {
            drift.push("forwarding is off".to_string());
        }
        match nl::link(&h, &r.bridge).await? {
            None => drift.push(format!("bridge {} is missing", r.bridge)),
            Some(bridge) => {
                if !bridge.up {
                    drift.push(format!("bridge {} is down", r.bridge));
                }
                let addrs = nl::addresses(&h).await?;
                if !addrs.contains(&(bridge.index, r.gateway, r.cidr.prefix_len())) {
                    drift.push(format!("gateway {} is not on {}", r.gateway, r.bridge));
                }
            }
        }
        Ok(drift)
    })
    .await
    .with_context(|| format!("inspect router namespace {}", router.ns))
}

/// Creates the host namespace and its veth (born with one end in each namespace), puts the
/// router end on the bridge, and gives the host its address and default route.
pub async fn ensure_host(router: &RouterSpec, host: &HostSpec) -> Result<()> {
    let created = netns::create_async(&host.ns).await?;
    let (r, hs) = (router.clone(), host.clone());
    netns::netlink_in_async(&router.ns, move |h| async move {
        let existing = nl::link(&h, &hs.port).await?;
        if let (Some(port), true) = (&existing, created) {
            // A port left from an earlier namespace of the same name leads nowhere.
            nl::delete_link(&h, port.index).await?;
        }
        if existing.is_none() || created {
            nl::create_veth_into(&h, &hs.port, HOST_IFACE, &hs.ns).await?;
        }
        let port = nl::require_link(&h, &hs.port).await?;
        let bridge = nl::require_link(&h, &r.bridge).await?;
        if port.master != Some(bridge.index) {
            nl::set_master(&h, port.index, bridge.index).await?;
        }
        // The bridge as read before the attach: a new one is raised now it has a port.
        nl::raise_gso_ipv4_max(&h, &port).await?;
        nl::raise_gso_ipv4_max(&h, &bridge).await?;
        nl::set_up(&h, port.index).await
    })
    .await
    .with_context(|| format!("attach {} to bridge {}", host.ns, router.bridge))?;
    let (r, hs) = (router.clone(), host.clone());
    netns::netlink_in_async(&host.ns, move |h| async move {
        let lo = nl::require_link(&h, "lo").await?;
        nl::set_up(&h, lo.index).await?;
        let eth = nl::require_link(&h, HOST_IFACE).await?;
        nl::raise_gso_ipv4_max(&h, &eth).await?;
        nl::ensure_address(&h, eth.index, hs.ip, r.cidr.prefix_len()).await?;
        nl::set_up(&h, eth.index).await?;
        let default = Cidr::containing(Ipv4Addr::UNSPECIFIED, 0);
        nl::replace_route(&h, &default, Some(r.gateway), eth.index).await
    })
    .await
    .with_context(|| format!("configure host namespace {}", host.ns))
}

/// What is wrong with a host (empty: nothing; `None`: its namespace does not exist).
pub async fn host_drift(router: &RouterSpec, host: &HostSpec) -> Result<Option<Vec<String>>> {
    if !netns::exists(&host.ns) {
        return Ok(None);
    }
    let mut drift = vec![];
    if netns::exists(&router.ns) {
        let (r, hs) = (router.clone(), host.clone());
        drift.extend(
            netns::netlink_in_async(&router.ns, move |h| async move {
                let bridge = nl::link(&h, &r.bridge).await?.map(|b| b.index);
                Ok(match nl::link(&h, &hs.port).await? {
                    None => vec![format!("port {} is missing", hs.port)],
                    Some(port) if !port.up || port.master != bridge || bridge.is_none() => {
                        vec![format!("port {} is down or off the bridge", hs.port)]
                    }
                    Some(_) => vec![],
                })
            })
            .await?,
        );
    }
    let (r, hs) = (router.clone(), host.clone());
    drift.extend(
        netns::netlink_in_async(&host.ns, move |h| async move {
            let Some(eth) = nl::link(&h, HOST_IFACE).await? else {
                return Ok(vec![format!("{HOST_IFACE} is missing in {}", hs.ns)]);
            };
            let mut drift = vec![];
            if !eth.up {
                drift.push(format!("{HOST_IFACE} is down in {}", hs.ns));
            }
            if !nl::addresses(&h)
                .await?
                .contains(&(eth.index, hs.ip, r.cidr.prefix_len()))
            {
                drift.push(format!("{} is not on {HOST_IFACE} in {}", hs.ip, hs.ns));
            }
            let has_default = nl::routes(&h).await?.iter().any(|route| {
                route.destination.prefix_len() == 0 && route.gateway == Some(r.gateway)
            });
            if !has_default {
                drift.push(format!(
                    "default route via {} is missing in {}",
                    r.gateway, hs.ns
                ));
            }
            Ok(drift)
        })
        .await?,
    );
    Ok(Some(drift))
}

/// Removes a host: its port first (so the bridge forgets it at once), then its namespace.
pub async fn delete_host(router_ns: &str, host: &HostSpec) -> Result<()> {
    if netns::exists(router_ns) {
        let port = host.port.clone();
        netns::netlink_in_async(router_ns, move |h| async move {
            if let Some(link) = nl::link(&h, &port).await? {
                nl::delete_link(&h, link.index).await?;
            }
            Ok(())
        })
        .await
        .with_context(|| format!("delete port {}", host.port))?;
    }
    netns::delete_async(&host.ns).await?;
    Ok(())
}
