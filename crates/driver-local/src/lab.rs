//! Lab VPCs: namespaces that stand in for a customer's VPC, so local peerings have a real
//! other side. A lab VPC is a router namespace with a bridge (its gateway is the first
//! address of its CIDR) and hosts, each a namespace on that bridge to run commands from.

use std::net::Ipv4Addr;

use anyhow::{bail, Context, Result};
use isthmus_core::rules::gateway_address;
use isthmus_core::Cidr;

use crate::driver::LocalDriver;
use crate::topology::{self, HostSpec, RouterSpec};
use crate::{netns, nl};
use rtnetlink::Handle;

/// Link-local addresses on the two ends of a link between lab VPC routers.
const LAB_LINK_A: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
const LAB_LINK_B: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 2);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabHostSpec {
    pub name: String,
    /// `None`: the lowest free address of the VPC (after network and gateway).
    pub ip: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabVpcSpec {
    pub name: String,
    pub cidr: Cidr,
    pub hosts: Vec<LabHostSpec>,
    /// The lab VPC (hub) whose gateway this one sits behind: linked to it, with a default
    /// route through it, and the hub routes this CIDR back.
    pub behind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabHost {
    pub name: String,
    pub ip: Ipv4Addr,
    /// The namespace to run commands in (`ip netns exec <namespace> …`).
    pub namespace: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabVpc {
    pub name: String,
    pub cidr: Cidr,
    pub gateway: Ipv4Addr,
    pub router_namespace: String,
    pub hosts: Vec<LabHost>,
    pub behind: Option<String>,
}

impl LabVpcSpec {
    /// A lab VPC as it stands: every host at the address it holds.
    pub fn at_addresses<'a>(
        name: &str,
        cidr: Cidr,
        behind: Option<&str>,
        hosts: impl IntoIterator<Item = (&'a str, Ipv4Addr)>,
    ) -> Self {
        LabVpcSpec {
            name: name.to_string(),
            cidr,
            behind: behind.map(str::to_string),
            hosts: hosts
                .into_iter()
                .map(|(name, ip)| LabHostSpec {
                    name: name.to_string(),
                    ip: Some(ip),
                })
                .collect(),
        }
    }
}

/// The driver's spec of a lab VPC it runs, as it stands.
impl From<&LabVpc> for LabVpcSpec {
    fn from(vpc: &LabVpc) -> Self {
        let hosts = vpc.hosts.iter().map(|h| (h.name.as_str(), h.ip));
        Self::at_addresses(&vpc.name, vpc.cidr, vpc.behind.as_deref(), hosts)
    }
}

/// The driver's spec of a stored lab VPC.
impl From<&isthmus_core::lab::LabVpc> for LabVpcSpec {
    fn from(vpc: &isthmus_core::lab::LabVpc) -> Self {
        let hosts = vpc.hosts.iter().map(|h| (h.name.as_str(), h.ip));
        Self::at_addresses(&vpc.name, vpc.cidr_block, vpc.behind.as_deref(), hosts)
    }
}

/// The driver's spec of a stored host (of a lab VPC or the internet), at its address.
impl From<&isthmus_core::lab::LabHost> for LabHostSpec {
    fn from(host: &isthmus_core::lab::LabHost) -> Self {
        LabHostSpec {
            name: host.name.clone(),
            ip: Some(host.ip),
        }
    }
}

pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        bail!("{what} name '{name}' must be 1-63 characters of a-z, A-Z, 0-9, '-' and '_'");
    }
    Ok(())
}

/// Picks the host's address: the one asked for (checked), or the lowest free one.
fn assign_ip(vpc: &LabVpc, spec: &LabHostSpec) -> Result<Ipv4Addr> {
    let reserved = [vpc.cidr.network(), vpc.gateway, vpc.cidr.broadcast()];
    let taken = |ip: &Ipv4Addr| {
        reserved.contains(ip) || vpc.hosts.iter().any(|h| h.ip == *ip && h.name != spec.name)
    };
    if let Some(ip) = spec.ip {
        if !vpc.cidr.contains_addr(ip) {
            bail!(
                "host {} address {ip} is outside lab VPC {} ({})",
                spec.name,
                vpc.name,
                vpc.cidr
            );
        }
        if taken(&ip) {
            bail!(
                "host {} address {ip} is reserved or taken in lab VPC {}",
                spec.name,
                vpc.name
            );
        }
        return Ok(ip);
    }
    (vpc.cidr.start()..=vpc.cidr.end())
        .map(Ipv4Addr::from)
        .find(|ip| !taken(ip))
        .with_context(|| format!("lab VPC {} ({}) has no free address", vpc.name, vpc.cidr))
}

impl LocalDriver {
    fn lab_router(&self, vpc: &LabVpc) -> RouterSpec {
        RouterSpec {
            ns: vpc.router_namespace.clone(),
            bridge: self.names.lab_bridge(&vpc.name),
            cidr: vpc.cidr,
            gateway: vpc.gateway,
        }
    }

    fn lab_host_spec(&self, vpc: &LabVpc, host: &LabHost) -> HostSpec {
        HostSpec {
            ns: host.namespace.clone(),
            port: self.names.lab_host_port(&vpc.name, &host.name),
            ip: host.ip,
        }
    }

    /// A registered lab VPC, by name.
    pub fn lab_vpc(&self, name: &str) -> Option<LabVpc> {
        self.labs.lock().expect("lab registry").get(name).cloned()
    }

    pub fn lab_vpcs(&self) -> Vec<LabVpc> {
        let mut all: Vec<LabVpc> = self
            .labs
            .lock()
            .expect("lab registry")
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    pub(crate) fn require_lab(&self, name: &str) -> Result<LabVpc> {
        self.lab_vpc(name)
            .with_context(|| format!("no lab VPC named '{name}'"))
    }

    /// Creates (or repairs, or re-registers after a restart) a lab VPC with exactly the
    /// given hosts; hosts it had that the spec no longer names are removed.
    pub async fn ensure_lab_vpc(&self, spec: &LabVpcSpec) -> Result<LabVpc> {
        check_name("lab VPC", &spec.name)?;
        let _guard = self.changes.lock().await;
        let previous = self.lab_vpc(&spec.name);
        if let Some(previous) = &previous {
            if previous.cidr != spec.cidr {
                bail!(
                    "lab VPC {} exists with CIDR {} (not {})",
                    spec.name,
                    previous.cidr,
                    spec.cidr
                );
            }
            if previous.behind != spec.behind {
                bail!(
                    "lab VPC {} exists behind {:?} (not {:?})",
                    spec.name,
                    previous.behind,
                    spec.behind
                );
            }
        }
        let mut vpc = LabVpc {
            name: spec.name.clone(),
            cidr: spec.cidr,
            gateway: gateway_address(&spec.cidr),
            router_namespace: self.names.lab_router_ns(&spec.name),
            hosts: vec![],
            behind: spec.behind.clone(),
        };
        let router = self.lab_router(&vpc);
        topology::ensure_router(&router)
            .await
            .with_context(|| format!("ensure lab VPC {}", spec.name))?;
        for host_spec in &spec.hosts {
            check_name("lab host", &host_spec.name)?;
            let ip = assign_ip(&vpc, host_spec)?;
            let host = LabHost {
                name: host_spec.name.clone(),
                ip,
                namespace: self.names.lab_host_ns(&spec.name, &host_spec.name),
            };
            topology::ensure_host(&router, &self.lab_host_spec(&vpc, &host))
                .await
                .with_context(|| format!("ensure lab host {} in {}", host.name, spec.name))?;
            vpc.hosts.push(host);
        }
        for old in previous.iter().flat_map(|p| &p.hosts) {
            if !vpc.hosts.iter().any(|h| h.name == old.name) {
                topology::delete_host(&router.ns, &self.lab_host_spec(&vpc, old)).await?;
            }
        }
        self.labs
            .lock()
            .expect("lab registry")
            .insert(vpc.name.clone(), vpc.clone());
        // Gateway links: to this VPC's hub, and from the spokes already behind it (a
        // restart may restore a spoke before its hub; the hub's turn links it then).
        let mut links: Vec<(String, String)> = vec![];
        if let Some(hub) = &vpc.behind {
            if self.lab_vpc(hub).is_some() {
                links.push((hub.clone(), vpc.name.clone()));
            }
        }
        for spoke in self.lab_vpcs() {
            if spoke.behind.as_deref() == Some(vpc.name.as_str()) {
                links.push((vpc.name.clone(), spoke.name.clone()));
            }
        }
        for (hub, spoke) in links {
            self.link_locked(&hub, &spoke)
                .await
                .with_context(|| format!("put lab VPC {spoke} behind {hub}"))?;
            self.default_route_via(&spoke, &hub).await?;
        }
        Ok(vpc)
    }

    /// The spoke's default route: through its link to the hub.
    async fn default_route_via(&self, spoke: &str, hub: &str) -> Result<()> {
        let from = self.require_lab(spoke)?;
        let (_, link) = self.names.lab_link(hub, spoke);
        netns::netlink_in_async(&from.router_namespace, move |h| async move {
            let link = nl::require_link(&h, &link).await?;
            let default = Cidr::containing(Ipv4Addr::UNSPECIFIED, 0);
            nl::replace_route(&h, &default, Some(LAB_LINK_A), link.index).await
        })
        .await
        .with_context(|| format!("default route of lab VPC {spoke} via {hub}"))
    }

    pub async fn add_lab_host(&self, vpc_name: &str, spec: &LabHostSpec) -> Result<LabHost> {
        let vpc = self.require_lab(vpc_name)?;
        let mut next = LabVpcSpec::from(&vpc);
        next.hosts.retain(|h| h.name != spec.name);
        next.hosts.push(spec.clone());
        let vpc = self.ensure_lab_vpc(&next).await?;
        Ok(vpc
            .hosts
            .into_iter()
            .find(|h| h.name == spec.name)
            .expect("host just added"))
    }

    pub async fn delete_lab_host(&self, vpc_name: &str, host: &str) -> Result<()> {
        let vpc = self.require_lab(vpc_name)?;
        let mut next = LabVpcSpec::from(&vpc);
        next.hosts.retain(|h| h.name != host);
        self.ensure_lab_vpc(&next).await.map(|_| ())
    }

    /// Removes a lab VPC and its hosts. Peerings to it lose their link (they observe as
    /// deleted by the peer).
    pub async fn delete_lab_vpc(&self, name: &str) -> Result<()> {
        let _guard = self.changes.lock().await;
        let Some(vpc) = self.lab_vpc(name) else {
            return Ok(());
        };
        // Its endpoints go with it (their connections turn `disconnected`).
        for ep in self.lab_endpoints().into_iter().filter(|e| e.vpc == name) {
            self.delete_lab_endpoint_locked(&ep.vpc, &ep.name).await?;
        }
        for host in &vpc.hosts {
            topology::delete_host(&vpc.router_namespace, &self.lab_host_spec(&vpc, host)).await?;
        }
        // Gateway links go first, explicitly: a deleted namespace's interfaces linger
        // until the kernel gets round to it, and the hub would route into the void.
        let mut links = vec![];
        if let Some(hub) = &vpc.behind {
            links.push((hub.clone(), vpc.name.clone()));
        }
        for spoke in self.lab_vpcs() {
            if spoke.behind.as_deref() == Some(name) {
                links.push((name.to_string(), spoke.name.clone()));
            }
        }
        for (hub, spoke) in links {
            let Some(hub_vpc) = self.lab_vpc(&hub) else {
                continue;
            };
            let (hub_end, _) = self.names.lab_link(&hub, &spoke);
            if netns::exists(&hub_vpc.router_namespace) {
                netns::netlink_in_async(&hub_vpc.router_namespace, move |h| async move {
                    if let Some(link) = nl::link(&h, &hub_end).await? {
                        nl::delete_link(&h, link.index).await?;
                    }
                    Ok(())
                })
                .await
                .with_context(|| format!("unlink lab VPC {spoke} from {hub}"))?;
            }
        }
        netns::delete_async(&vpc.router_namespace).await?;
        self.labs.lock().expect("lab registry").remove(name);
        Ok(())
    }

    /// Connects two lab VPC routers with a veth (the customer's own peering or VPN between
    /// their networks), with routes to each other's CIDR.
    pub async fn link_lab_vpcs(&self, a: &str, b: &str) -> Result<()> {
        let _guard = self.changes.lock().await;
        self.link_locked(a, b).await
    }

    async fn link_locked(&self, a: &str, b: &str) -> Result<()> {
        let (va, vb) = (self.require_lab(a)?, self.require_lab(b)?);
        let (link_a, link_b) = self.names.lab_link(a, b);
        let (ns_b, la, lb) = (vb.router_namespace.clone(), link_a.clone(), link_b.clone());
        let cidr_b = vb.cidr;
        netns::netlink_in_async(&va.router_namespace, move |h| async move {
            if nl::link(&h, &la).await?.is_none() {
                nl::create_veth_into(&h, &la, &lb, &ns_b).await?;
            }
            link_end(&h, &la, LAB_LINK_A, cidr_b, LAB_LINK_B).await
        })
        .await
        .with_context(|| format!("link lab VPC {a} to {b}"))?;
        let cidr_a = va.cidr;
        netns::netlink_in_async(&vb.router_namespace, move |h| async move {
            link_end(&h, &link_b, LAB_LINK_B, cidr_a, LAB_LINK_A).await
        })
        .await
        .with_context(|| format!("link lab VPC {b} to {a}"))
    }

    /// Routes `destination` from lab VPC `vpc` through its link to lab VPC `via` (made by
    /// [`link_lab_vpcs`](Self::link_lab_vpcs)), as a customer routing through a hub would.
    pub async fn route_lab_vpc_via(&self, vpc: &str, destination: Cidr, via: &str) -> Result<()> {
        let _guard = self.changes.lock().await;
        let from = self.require_lab(vpc)?;
        let (link, gateway) = match (self.names.lab_link(vpc, via), self.names.lab_link(via, vpc)) {
            ((a_side, _), _) if self.link_exists(&from.router_namespace, &a_side).await? => {
                (a_side, LAB_LINK_B)
            }
            (_, (_, b_side)) => (b_side, LAB_LINK_A),
        };
        netns::netlink_in_async(&from.router_namespace, move |h| async move {
            let link = nl::require_link(&h, &link).await?;
            nl::replace_route(&h, &destination, Some(gateway), link.index).await
        })
        .await
        .with_context(|| format!("route {destination} from lab VPC {vpc} via {via}"))
    }

    async fn link_exists(&self, ns: &str, name: &str) -> Result<bool> {
        let name = name.to_string();
        netns::netlink_in_async(ns, move |h| async move {
            Ok(nl::link(&h, &name).await?.is_some())
        })
        .await
    }
}

/// One end of a link between two lab VPC routers: its address, up, and the route to the
/// other VPC's CIDR through the other end.
async fn link_end(
    h: &Handle,
    name: &str,
    own: Ipv4Addr,
    other_cidr: Cidr,
    other: Ipv4Addr,
) -> Result<()> {
    let link = nl::require_link(h, name).await?;
    nl::ensure_address(h, link.index, own, 32).await?;
    nl::set_up(h, link.index).await?;
    nl::replace_route(h, &other_cidr, Some(other), link.index).await
}
