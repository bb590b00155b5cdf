//! The lab's internet: one namespace of ours (`<prefix>-inet`, never the host's root
//! namespace) that routes between internet hosts and the public endpoints of clusters.
//!
//! - An internet host is a namespace with its public-looking address as a /32 and a default
//!   route to [`INTERNET_GATEWAY`] (on-link) over its veth; the internet namespace routes
//!   the host's /32 to that veth.
//! - A network's uplink is a veth between its router and the internet namespace; the
//!   internet routes each public endpoint /32 of the network's clusters over it, and the
//!   router's default route points back (replies only: its firewall lets nodes open no
//!   connection to the internet).
//! - [`INTERNET_RESOLVER`] sits on the internet namespace's loopback: every host reaches
//!   it through its default route, so a resolver bound there inside
//!   [`LocalDriver::internet_namespace`] serves all internet hosts.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use anyhow::{bail, Context, Result};
use isthmus_core::Cidr;

use crate::driver::LocalDriver;
use crate::lab::{LabHost, LabHostSpec};
use crate::names::HOST_IFACE;
use crate::{netns, nl};

/// The internet end of every internet host's veth (hosts route everything to it).
pub const INTERNET_GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 2, 1);
/// Where a resolver for internet hosts listens, inside the internet namespace.
pub const INTERNET_RESOLVER: Ipv4Addr = Ipv4Addr::new(169, 254, 53, 53);
/// The router end and the internet end of every uplink.
pub(crate) const UPLINK_ROUTER_END: Ipv4Addr = Ipv4Addr::new(169, 254, 3, 1);
pub(crate) const UPLINK_INTERNET_END: Ipv4Addr = Ipv4Addr::new(169, 254, 3, 2);

/// Where internet hosts get an address when none is given (RFC 5737 TEST-NET-3, from .10).
fn default_range() -> Cidr {
    "203.0.113.0/24".parse().expect("static prefix")
}

fn host_route(ip: Ipv4Addr) -> Cidr {
    Cidr::containing(ip, 32)
}

impl LocalDriver {
    /// The internet namespace (a resolver for internet hosts binds
    /// [`INTERNET_RESOLVER`]`:53` inside it).
    pub fn internet_namespace(&self) -> String {
        self.names.internet_ns()
    }

    /// The address internet hosts' `resolv.conf` names, and the namespace it lives in.
    pub fn internet_resolver(&self) -> (String, Ipv4Addr) {
        (self.internet_namespace(), INTERNET_RESOLVER)
    }

    /// Creates (or repairs) the internet namespace: forwarding on, the resolver address
    /// on its loopback. Idempotent and cheap.
    pub async fn ensure_internet(&self) -> Result<()> {
        let _guard = self.changes.lock().await;
        self.ensure_internet_locked().await
    }

    pub(crate) async fn ensure_internet_locked(&self) -> Result<()> {
        let ns = self.names.internet_ns();
        netns::create_async(&ns).await?;
        netns::netlink_in_async(&ns, |h| async move {
            netns::set_ipv4_sysctl("ip_forward", "1")?;
            netns::set_ipv4_sysctl("conf/all/rp_filter", "0")?;
            netns::set_ipv4_sysctl("conf/default/rp_filter", "0")?;
            let lo = nl::require_link(&h, "lo").await?;
            nl::set_up(&h, lo.index).await?;
            nl::ensure_address(&h, lo.index, INTERNET_RESOLVER, 32).await
        })
        .await
        .with_context(|| format!("set up the internet namespace {ns}"))?;
        self.internet
            .lock()
            .expect("internet registry")
            .get_or_insert_with(BTreeMap::new);
        Ok(())
    }

    /// The internet hosts, by name.
    pub fn internet_hosts(&self) -> Vec<LabHost> {
        self.internet
            .lock()
            .expect("internet registry")
            .iter()
            .flat_map(|hosts| hosts.values().cloned())
            .collect()
    }

    pub fn internet_host_namespace(&self, name: &str) -> Result<String> {
        self.internet_hosts()
            .into_iter()
            .find(|h| h.name == name)
            .map(|h| h.namespace)
            .with_context(|| format!("the internet has no host '{name}'"))
    }

    /// Adds (or repairs) an internet host: its namespace, its /32 and default route, and
    /// the internet's route back to it. The address is the one asked for, or the lowest
    /// free one of 203.0.113.10-254 (the server checks that an asked-for one is public).
    pub async fn add_internet_host(&self, spec: &LabHostSpec) -> Result<LabHost> {
        crate::lab::check_name("internet host", &spec.name)?;
        let _guard = self.changes.lock().await;
        self.ensure_internet_locked().await?;
        let others: Vec<LabHost> = self
            .internet_hosts()
            .into_iter()
            .filter(|h| h.name != spec.name)
            .collect();
        let taken = |ip: Ipv4Addr| others.iter().find(|h| h.ip == ip);
        let ip = match spec.ip {
            Some(ip) => {
                if let Some(other) = taken(ip) {
                    bail!("{ip} is already internet host {}", other.name);
                }
                ip
            }
            None => {
                let range = default_range();
                (range.start() + 10..range.end())
                    .map(Ipv4Addr::from)
                    .find(|ip| taken(*ip).is_none())
                    .with_context(|| format!("{range} is full: give the host an address"))?
            }
        };
        let host = LabHost {
            name: spec.name.clone(),
            ip,
            namespace: self.names.internet_host_ns(&spec.name),
        };
        self.wire_internet_host(&host)
            .await
            .with_context(|| format!("add internet host {}", host.name))?;
        self.internet
            .lock()
            .expect("internet registry")
            .get_or_insert_with(BTreeMap::new)
            .insert(host.name.clone(), host.clone());
        Ok(host)
    }

    async fn wire_internet_host(&self, host: &LabHost) -> Result<()> {
        let created = netns::create_async(&host.namespace).await?;
        let inet = self.names.internet_ns();
        let port = self.names.internet_host_port(&host.name);
        let (host_ns, ip) = (host.namespace.clone(), host.ip);
        netns::netlink_in_async(&inet, move |h| async move {
            let existing = nl::link(&h, &port).await?;
            if let (Some(old), true) = (&existing, created) {
                // A port left from an earlier namespace of the same name leads nowhere.
                nl::delete_link(&h, old.index).await?;
            }
            if existing.is_none() || created {
                nl::create_veth_into(&h, &port, HOST_IFACE, &host_ns).await?;
            }
            let link = nl::require_link(&h, &port).await?;
            nl::ensure_address(&h, link.index, INTERNET_GATEWAY, 32).await?;
            nl::set_up(&h, link.index).await?;
            // The host's address changed: its old /32 leads nowhere.
            for route in nl::routes(&h).await? {
                if route.oif == Some(link.index) && route.destination != host_route(ip) {
                    nl::delete_route(&h, &route).await?;
                }
            }
            nl::replace_route(&h, &host_route(ip), Some(ip), link.index).await
        })
        .await
        .context("the internet's side")?;
        netns::netlink_in_async(&host.namespace, move |h| async move {
            let lo = nl::require_link(&h, "lo").await?;
            nl::set_up(&h, lo.index).await?;
            let eth = nl::require_link(&h, HOST_IFACE).await?;
            for (index, old, len) in nl::addresses(&h).await? {
                if index == eth.index && (old, len) != (ip, 32) {
                    nl::delete_address(&h, index, old, len).await?;
                }
            }
            nl::ensure_address(&h, eth.index, ip, 32).await?;
            nl::set_up(&h, eth.index).await?;
            let default = Cidr::containing(Ipv4Addr::UNSPECIFIED, 0);
            nl::replace_route(&h, &default, Some(INTERNET_GATEWAY), eth.index).await
        })
        .await
        .context("the host's side")
    }

    pub async fn delete_internet_host(&self, name: &str) -> Result<()> {
        let _guard = self.changes.lock().await;
        let inet = self.names.internet_ns();
        if netns::exists(&inet) {
            let port = self.names.internet_host_port(name);
            netns::netlink_in_async(&inet, move |h| async move {
                if let Some(link) = nl::link(&h, &port).await? {
                    nl::delete_link(&h, link.index).await?;
                }
                Ok(())
            })
            .await
            .with_context(|| format!("delete internet host {name}'s link"))?;
        }
        netns::delete_async(&self.names.internet_host_ns(name)).await?;
        if let Some(hosts) = self.internet.lock().expect("internet registry").as_mut() {
            hosts.remove(name);
        }
        self.release_internet_if_unused_locked().await
    }

    /// Deletes the internet namespace once nothing uses it: no internet host registered
    /// and no link left in it but loopback (every uplink went with its network). Without
    /// this it would outlive the last network until the next start's sweep. Called with
    /// the change lock held, so no uplink or host is being added meanwhile.
    pub(crate) async fn release_internet_if_unused_locked(&self) -> Result<()> {
        let inet = self.names.internet_ns();
        let no_hosts = self
            .internet
            .lock()
            .expect("internet registry")
            .as_ref()
            .is_none_or(|hosts| hosts.is_empty());
        if !no_hosts || !netns::exists(&inet) {
            return Ok(());
        }
        let only_loopback = netns::netlink_in_async(&inet, |h| async move {
            Ok(nl::links(&h).await?.iter().all(|l| l.name == "lo"))
        })
        .await
        .with_context(|| format!("list the links of {inet}"))?;
        if only_loopback {
            netns::delete_async(&inet)
                .await
                .with_context(|| format!("delete the unused {inet}"))?;
            *self.internet.lock().expect("internet registry") = None;
        }
        Ok(())
    }

    /// Creates (or repairs) a network's uplink to the internet, with the router's default
    /// route over it. Needs the internet namespace and the router.
    pub(crate) async fn ensure_uplink(&self, router_ns: &str, network_id: &str) -> Result<()> {
        self.ensure_internet_locked().await?;
        let inet = self.names.internet_ns();
        let (up, down) = (
            self.names.uplink(network_id),
            self.names.uplink_peer(network_id),
        );
        let (inet_ns, u) = (inet.clone(), up.clone());
        netns::netlink_in_async(router_ns, move |h| async move {
            if nl::link(&h, &u).await?.is_none() {
                nl::create_veth_into(&h, &u, &down, &inet_ns).await?;
            }
            let link = nl::require_link(&h, &u).await?;
            nl::ensure_address(&h, link.index, UPLINK_ROUTER_END, 32).await?;
            nl::set_up(&h, link.index).await?;
            let default = Cidr::containing(Ipv4Addr::UNSPECIFIED, 0);
            nl::replace_route(&h, &default, Some(UPLINK_INTERNET_END), link.index).await
        })
        .await
        .with_context(|| format!("uplink of {router_ns}"))?;
        let down = self.names.uplink_peer(network_id);
        netns::netlink_in_async(&inet, move |h| async move {
            let link = nl::require_link(&h, &down).await?;
            nl::ensure_address(&h, link.index, UPLINK_INTERNET_END, 32).await?;
            nl::set_up(&h, link.index).await
        })
        .await
        .with_context(|| format!("internet end of the uplink of {router_ns}"))
    }

    /// Whether the router's default route goes over its uplink (replies to the internet).
    pub(crate) async fn uplink_is_default(
        &self,
        router_ns: &str,
        network_id: &str,
    ) -> Result<bool> {
        let up = self.names.uplink(network_id);
        netns::netlink_in_async(router_ns, move |h| async move {
            let Some(link) = nl::link(&h, &up).await? else {
                return Ok(false);
            };
            Ok(nl::routes(&h).await?.iter().any(|r| {
                r.destination.prefix_len() == 0
                    && r.oif == Some(link.index)
                    && r.gateway == Some(UPLINK_INTERNET_END)
            }))
        })
        .await
        .with_context(|| format!("read the uplink route of {router_ns}"))
    }

    /// Routes public endpoint ips in the internet namespace over a network's uplink: `add`
    /// are routed there, `remove` lose their route if it goes over that uplink.
    pub(crate) async fn route_endpoints(
        &self,
        network_id: &str,
        add: Vec<Ipv4Addr>,
        remove: Vec<Ipv4Addr>,
    ) -> Result<()> {
        let inet = self.names.internet_ns();
        if !netns::exists(&inet) || (add.is_empty() && remove.is_empty()) {
            return Ok(());
        }
        let down = self.names.uplink_peer(network_id);
        netns::netlink_in_async(&inet, move |h| async move {
            let link = nl::link(&h, &down).await?;
            if let Some(link) = &link {
                for ip in add {
                    nl::replace_route(&h, &host_route(ip), Some(UPLINK_ROUTER_END), link.index)
                        .await?;
                }
            } else if !add.is_empty() {
                return Err(crate::errors::dependency(format!(
                    "uplink {down} is missing"
                )));
            }
            for route in nl::routes(&h).await? {
                let ours = link.as_ref().is_some_and(|l| route.oif == Some(l.index));
                if ours && remove.iter().any(|ip| route.destination == host_route(*ip)) {
                    nl::delete_route(&h, &route).await?;
                }
            }
            Ok(())
        })
        .await
        .context("routes to public endpoints in the internet namespace")
    }

    /// Which of `ips` the internet routes over the network's uplink.
    pub(crate) async fn routed_endpoints(
        &self,
        network_id: &str,
        ips: Vec<Ipv4Addr>,
    ) -> Result<Vec<Ipv4Addr>> {
        let inet = self.names.internet_ns();
        if !netns::exists(&inet) {
            return Ok(vec![]);
        }
        let down = self.names.uplink_peer(network_id);
        netns::netlink_in_async(&inet, move |h| async move {
            let Some(link) = nl::link(&h, &down).await? else {
                return Ok(vec![]);
            };
            let routes = nl::routes(&h).await?;
            Ok(ips
                .into_iter()
                .filter(|ip| {
                    routes.iter().any(|r| {
                        r.oif == Some(link.index)
                            && r.destination == host_route(*ip)
                            && r.gateway == Some(UPLINK_ROUTER_END)
                    })
                })
                .collect())
        })
        .await
        .context("read routes to public endpoints")
    }
}
