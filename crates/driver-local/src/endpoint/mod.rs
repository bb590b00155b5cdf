//! Lab endpoints: the customer's side of `local` endpoint services, for real. A lab
//! endpoint is a namespace of its own with one leg in a lab VPC (the endpoint address,
//! which the customer's hosts dial) and, once its connection is accepted, one leg on the
//! platform network (the NAT address, the only source the cluster ever sees). nftables in
//! that namespace DNATs to the nodes and SNATs to the NAT address; conntrack carries the
//! replies back. There is no route between the two networks, so their CIDRs may be the
//! same and a client may hold a node's address.
//!
//! - `plumbing`: the namespace, its two legs and the policy routing between them.
//! - `nft`: its firewall (DNAT per node port, SNAT, refusal, counters).
//! - `provision`: the `local` provisioner of endpoint services, which walks each lab
//!   endpoint's connection through the handshake and opens or closes its data plane.
//!
//! - `saved`: the set on disk, so a restarted server finds its lab endpoints again.
//!
//! Addresses: the endpoint takes the highest free address of the lab VPC unless one is
//! asked for; the NAT address is the highest free address of the platform network (nodes
//! take the lowest). The cluster is at `<endpoint>:<port>` (round robin); node `i` both at
//! an address of its own (`node_ips[i]`, the next highest free addresses of the VPC, given
//! when the connection is first accepted: what the VPC's resolver answers for the node's
//! name, so clients that discover nodes by name keep working) and at
//! `<endpoint>:<port + 10000·(i+1)>` (one address for all, where addresses are scarce).

pub mod nft;
mod plumbing;
mod provision;
pub mod saved;

use std::net::Ipv4Addr;

use anyhow::{bail, Context, Result};
use isthmus_core::kinds::endpoint_connection::ConnectionStatus;
use serde::{Deserialize, Serialize};

use crate::driver::LocalDriver;
use crate::lab::check_name;
use plumbing::Leg;

/// A lab endpoint as the driver holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabEndpoint {
    pub vpc: String,
    pub name: String,
    /// The endpoint service's `service_name` it connects to.
    pub service: String,
    /// Its address inside the lab VPC.
    pub ip: Ipv4Addr,
    pub namespace: String,
    /// The NAT address on the platform network, once attached there.
    pub nat_ip: Option<Ipv4Addr>,
    /// The platform network it is attached to (its id), once accepted.
    pub network: Option<String>,
    /// The cluster it leads to (its id), once accepted.
    pub cluster: Option<String>,
    /// Its address of each node (node `i` at `node_ips[i]`), once accepted.
    pub node_ips: Vec<Ipv4Addr>,
    /// Where its connection stands, in our words.
    pub status: ConnectionStatus,
    pub message: String,
}

impl LabEndpoint {
    /// The connection's endpoint id: `<vpc>/<name>`.
    pub fn endpoint_id(&self) -> String {
        format!("{}/{}", self.vpc, self.name)
    }
}

fn key(vpc: &str, name: &str) -> String {
    format!("{vpc}/{name}")
}

impl LocalDriver {
    pub fn lab_endpoints(&self) -> Vec<LabEndpoint> {
        let all = self.endpoints.lock().expect("endpoint registry");
        all.values().cloned().collect()
    }

    pub fn lab_endpoint(&self, vpc: &str, name: &str) -> Option<LabEndpoint> {
        let all = self.endpoints.lock().expect("endpoint registry");
        all.get(&key(vpc, name)).cloned()
    }

    fn store_endpoint(&self, ep: &LabEndpoint) {
        let mut all = self.endpoints.lock().expect("endpoint registry");
        all.insert(key(&ep.vpc, &ep.name), ep.clone());
        // Written under the lock, so two changes cannot save out of order.
        self.save_endpoints(&all.values().cloned().collect::<Vec<_>>());
    }

    /// Creates a lab endpoint in lab VPC `vpc` toward the service named `service`: its
    /// namespace, its leg in the VPC, and a firewall that refuses everything until the
    /// connection is accepted. Its connection starts `pending_acceptance`.
    pub async fn create_lab_endpoint(
        &self,
        vpc: &str,
        name: &str,
        service: &str,
        ip: Option<Ipv4Addr>,
    ) -> Result<LabEndpoint> {
        self.create_lab_endpoint_avoiding(vpc, name, service, ip, &[])
            .await
    }

    /// [`create_lab_endpoint`](Self::create_lab_endpoint), never at one of `nodes` (the
    /// service's node addresses, known to the caller): when the lab VPC uses the
    /// platform's CIDR, an endpoint address that is also a node's would be the
    /// namespace's own, and the DNAT to that node would end inside the namespace.
    pub async fn create_lab_endpoint_avoiding(
        &self,
        vpc: &str,
        name: &str,
        service: &str,
        ip: Option<Ipv4Addr>,
        nodes: &[Ipv4Addr],
    ) -> Result<LabEndpoint> {
        check_name("lab endpoint", name)?;
        let _guard = self.changes.lock().await;
        let lab = self.require_lab(vpc)?;
        if let Some(existing) = self.lab_endpoint(vpc, name) {
            if existing.service != service || ip.is_some_and(|ip| ip != existing.ip) {
                bail!("lab endpoint {vpc}/{name} exists for {}", existing.service);
            }
            return Ok(existing);
        }
        let taken = self.taken_in_lab(&lab);
        let ip = match ip {
            Some(ip) if !lab.cidr.contains_addr(ip) => {
                bail!(
                    "endpoint address {ip} is outside lab VPC {vpc} ({})",
                    lab.cidr
                )
            }
            Some(ip) if taken.contains(&ip) => {
                bail!("endpoint address {ip} is reserved or taken in lab VPC {vpc}")
            }
            Some(ip) if nodes.contains(&ip) => {
                bail!(
                    "endpoint address {ip} is taken: it is a node's address on the platform \
                     network, which the endpoint leads to (pick another or leave it out)"
                )
            }
            Some(ip) => ip,
            None => (lab.cidr.start()..=lab.cidr.end())
                .rev()
                .map(Ipv4Addr::from)
                .find(|ip| !taken.contains(ip) && !nodes.contains(ip))
                .with_context(|| format!("lab VPC {vpc} has no free address"))?,
        };
        let ep = LabEndpoint {
            vpc: vpc.to_string(),
            name: name.to_string(),
            service: service.to_string(),
            ip,
            namespace: self.names.endpoint_ns(vpc, name),
            nat_ip: None,
            network: None,
            cluster: None,
            node_ips: vec![],
            status: ConnectionStatus::PendingAcceptance,
            message: "waiting for the service provider to accept".into(),
        };
        let leg = Leg {
            router_ns: lab.router_namespace.clone(),
            bridge: self.names.lab_bridge(vpc),
            port: self.names.endpoint_lab_port(vpc, name),
            address: ip,
            cidr: lab.cidr,
        };
        let made = async {
            plumbing::ensure_namespace(&ep.namespace).await?;
            plumbing::ensure_leg(&ep.namespace, nft::LAB_IF, &leg).await?;
            let (ns, rules) = (ep.namespace.clone(), self.rules_of(&ep, None));
            tokio::task::spawn_blocking(move || nft::apply(&ns, &rules)).await??;
            plumbing::forget_neighbours(self.lab_namespaces(&lab), vec![ip]).await
        }
        .await;
        if let Err(e) = made {
            let _ = self.remove_endpoint_objects(&ep).await;
            return Err(e.context(format!("create lab endpoint {vpc}/{name}")));
        }
        self.store_endpoint(&ep);
        Ok(ep)
    }

    /// Deletes a lab endpoint (the customer deletes theirs): its namespace goes, and with
    /// it every flow through it. The service sees the connection `disconnected`.
    pub async fn delete_lab_endpoint(&self, vpc: &str, name: &str) -> Result<bool> {
        let _guard = self.changes.lock().await;
        self.delete_lab_endpoint_locked(vpc, name).await
    }

    pub(crate) async fn delete_lab_endpoint_locked(&self, vpc: &str, name: &str) -> Result<bool> {
        let Some(ep) = self.lab_endpoint(vpc, name) else {
            return Ok(false);
        };
        self.remove_endpoint_objects(&ep)
            .await
            .with_context(|| format!("delete lab endpoint {vpc}/{name}"))?;
        let mut all = self.endpoints.lock().expect("endpoint registry");
        all.remove(&key(vpc, name));
        self.save_endpoints(&all.values().cloned().collect::<Vec<_>>());
        Ok(true)
    }

    async fn remove_endpoint_objects(&self, ep: &LabEndpoint) -> Result<()> {
        let mut ports = vec![(
            self.names.lab_router_ns(&ep.vpc),
            self.names.endpoint_lab_port(&ep.vpc, &ep.name),
        )];
        if let Some(network) = &ep.network {
            ports.push((
                self.names.router_ns(network),
                self.names.endpoint_platform_port(&ep.vpc, &ep.name),
            ));
        }
        plumbing::delete(&ep.namespace, &ports).await?;
        if let Ok(lab) = self.require_lab(&ep.vpc) {
            let held = std::iter::once(ep.ip).chain(ep.node_ips.iter().copied());
            plumbing::forget_neighbours(self.lab_namespaces(&lab), held.collect()).await?;
        }
        Ok(())
    }

    /// The namespaces on lab VPC `lab`'s bridge that cache neighbours: its router and
    /// its hosts.
    pub(crate) fn lab_namespaces(&self, lab: &crate::lab::LabVpc) -> Vec<String> {
        std::iter::once(lab.router_namespace.clone())
            .chain(lab.hosts.iter().map(|h| h.namespace.clone()))
            .collect()
    }

    /// Every address the lab endpoints of lab VPC `vpc` hold (each endpoint address and
    /// its node addresses), with the endpoint's id: a host added later must take none.
    pub fn lab_endpoint_addresses(&self, vpc: &str) -> Vec<(Ipv4Addr, String)> {
        self.lab_endpoints()
            .into_iter()
            .filter(|e| e.vpc == vpc)
            .flat_map(|e| {
                let id = e.endpoint_id();
                std::iter::once(e.ip)
                    .chain(e.node_ips)
                    .map(move |ip| (ip, id.clone()))
            })
            .collect()
    }

    /// The addresses of lab VPC `lab` that hosts, endpoints and the router hold.
    pub(crate) fn taken_in_lab(&self, lab: &crate::lab::LabVpc) -> Vec<Ipv4Addr> {
        let endpoints = self.lab_endpoints();
        let of_endpoints = endpoints
            .iter()
            .filter(|e| e.vpc == lab.name)
            .flat_map(|e| std::iter::once(e.ip).chain(e.node_ips.iter().copied()));
        lab.hosts
            .iter()
            .map(|h| h.ip)
            .chain(of_endpoints)
            .chain([lab.cidr.network(), lab.gateway, lab.cidr.broadcast()])
            .collect()
    }

    /// The firewall of `ep`; `open` holds the nodes and ports while it carries traffic.
    fn rules_of(
        &self,
        ep: &LabEndpoint,
        open: Option<(Vec<Ipv4Addr>, Vec<u16>)>,
    ) -> nft::EndpointRules {
        nft::EndpointRules {
            address: ep.ip,
            nat: ep.nat_ip,
            open,
            node_addresses: ep.node_ips.clone(),
        }
    }
}
