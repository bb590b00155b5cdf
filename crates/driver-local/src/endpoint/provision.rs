//! The `local` provisioner of endpoint services. The service is published as soon as it
//! exists (its name is all a lab endpoint needs); each lab endpoint pointing at it is a
//! connection that this provider walks through the handshake, as a cloud would:
//!
//! - pending → available when the operator accepts (or acceptance is not required): the
//!   platform leg is attached and the DNAT rules go in;
//! - pending/available → rejected when the operator rejects or the lab VPC is no longer
//!   an allowed principal: the DNAT rules go and every flow of the endpoint is flushed, so
//!   established connections end too (the clouds leave those running; we do not).
//!
//! Both `ensure` and `observe` do this: the provider carries decisions out on its own
//! time, and a resync repairs a data plane that drifted.

use std::net::Ipv4Addr;

use anyhow::{Context, Result};
use async_trait::async_trait;
use isthmus_core::kinds::endpoint_connection::{ConnectionStatus, Decision, ObservedConnection};
use isthmus_core::kinds::endpoint_service::EndpointService;
use isthmus_core::kinds::principals::allows;
use isthmus_core::resources::{Cluster, Provider};
use isthmus_core::Cidr;
use isthmus_driver::{EndpointServiceObservation, Provisioner, Teardown};

use super::nft::{self, PLATFORM_IF};
use super::plumbing::{self, Leg};
use super::LabEndpoint;
use crate::driver::LocalDriver;
use crate::errors::{dependency, driver_error};
use crate::nl;

/// The cluster ports reachable through an endpoint: every port of its engine but the
/// nodes' own cluster port.
fn service_ports(cluster: &Cluster) -> Vec<u16> {
    isthmus_core::engines::find(&cluster.engine)
        .map(|e| {
            e.ports
                .iter()
                .filter(|p| p.name != "cluster")
                .map(|p| p.number)
                .collect()
        })
        .unwrap_or_default()
}

/// The next status of `ep`'s connection, and why.
fn next_status(s: &EndpointService, ep: &LabEndpoint) -> (ConnectionStatus, String) {
    use ConnectionStatus::*;
    let decision = s
        .connections
        .iter()
        .find(|c| c.endpoint_id == ep.endpoint_id())
        .map(|c| c.decision);
    let live = matches!(ep.status, PendingAcceptance | Available);
    if live && !allows(Provider::Local, &s.allowed_principals, &ep.vpc) {
        let why = format!(
            "lab VPC {} is no longer an allowed principal: its flows were cut",
            ep.vpc
        );
        (Rejected, why)
    } else if live && decision == Some(Decision::Rejected) {
        (
            Rejected,
            "rejected by the service provider: its flows were cut".into(),
        )
    } else if ep.status == PendingAcceptance
        && (decision == Some(Decision::Accepted) || !s.acceptance_required)
    {
        (Available, "accepted by the service provider".into())
    } else {
        (ep.status, ep.message.clone())
    }
}

/// Why `ep` cannot lead to `cluster`: one of its addresses in the lab VPC is also a
/// node's (only possible when the two networks share addresses). Only a live endpoint is
/// judged: a refused one stays as it is.
fn collision(ep: &LabEndpoint, cluster: &Cluster) -> Option<String> {
    use ConnectionStatus::*;
    if !matches!(ep.status, PendingAcceptance | Available) {
        return None;
    }
    let node = cluster
        .nodes
        .iter()
        .find(|n| n.ip == ep.ip || ep.node_ips.contains(&n.ip))?;
    Some(format!(
        "address {} of lab endpoint {} is also node {}'s address on the platform: delete the \
         endpoint and create a new one (`isthmus lab endpoint create {} {}-2 --service {}`); \
         it takes an address no node holds",
        node.ip,
        ep.endpoint_id(),
        node.index,
        ep.vpc,
        ep.name,
        ep.service
    ))
}

impl LocalDriver {
    async fn sync_service(
        &self,
        s: &EndpointService,
        cluster: &Cluster,
    ) -> Result<EndpointServiceObservation> {
        let _guard = self.changes.lock().await;
        let mut connections = vec![];
        let mine = self
            .lab_endpoints()
            .into_iter()
            .filter(|e| e.service == s.service_name);
        for mut ep in mine {
            let was_open = ep.status == ConnectionStatus::Available;
            (ep.status, ep.message) = next_status(s, &ep);
            if let Some(why) = collision(&ep, cluster) {
                // A node took one of the endpoint's addresses (a node added after the
                // endpoint was made, on the same CIDR): it cannot lead there. Failed, with
                // the way out, rather than a data plane that silently eats the packets.
                (ep.status, ep.message) = (ConnectionStatus::Failed, why);
            }
            if ep.status == ConnectionStatus::Available {
                self.open_endpoint(&mut ep, cluster)
                    .await
                    .with_context(|| format!("open lab endpoint {}", ep.endpoint_id()))?;
            } else {
                self.close_endpoint(&ep, was_open).await?;
            }
            self.store_endpoint(&ep);
            connections.push(self.observed(&ep).await?);
        }
        Ok(EndpointServiceObservation {
            ready: true,
            message: format!("published as {}", s.service_name),
            connections,
        })
    }

    async fn observed(&self, ep: &LabEndpoint) -> Result<ObservedConnection> {
        let ns = ep.namespace.clone();
        let counters = tokio::task::spawn_blocking(move || nft::counters(&ns)).await??;
        Ok(ObservedConnection {
            endpoint_id: ep.endpoint_id(),
            principal: ep.vpc.clone(),
            network: ep.vpc.clone(),
            provider_state: ep.status.as_str().to_string(),
            message: ep.message.clone(),
            connections: counters.connections,
            bytes: counters.bytes,
        })
    }

    /// Attaches the platform leg (once) and puts the DNAT rules in.
    async fn open_endpoint(&self, ep: &mut LabEndpoint, cluster: &Cluster) -> Result<()> {
        let network = cluster.network_id.to_string();
        let router_ns = self.names.router_ns(&network);
        let bridge = self.names.bridge(&network);
        if !crate::netns::exists(&router_ns) {
            return Err(dependency(format!(
                "network {network} is not provisioned yet (no {router_ns})"
            )));
        }
        let b = bridge.clone();
        let cidr = crate::netns::netlink_in_async(&router_ns, move |h| async move {
            let link = nl::require_link(&h, &b).await?;
            let (_, gateway, len) = nl::addresses(&h)
                .await?
                .into_iter()
                .find(|(index, _, _)| *index == link.index)
                .context("the network bridge has no address")?;
            Ok(Cidr::containing(gateway, len))
        })
        .await?;
        let mut nodes: Vec<_> = cluster.nodes.iter().map(|n| (n.index, n.ip)).collect();
        nodes.sort();
        let nodes: Vec<Ipv4Addr> = nodes.into_iter().map(|(_, ip)| ip).collect();
        let lab = self.require_lab(&ep.vpc)?;
        if ep.node_ips.len() < nodes.len() {
            // Not a node's address either: a packet to it must be the namespace's own.
            let mut taken = self.taken_in_lab(&lab);
            taken.extend(nodes.iter().copied().chain(ep.nat_ip));
            let mut more = vec![];
            for _ in ep.node_ips.len()..nodes.len() {
                let ip = (lab.cidr.start()..=lab.cidr.end())
                    .rev()
                    .map(Ipv4Addr::from)
                    .find(|ip| !taken.contains(ip))
                    .with_context(|| {
                        format!("lab VPC {} has no free address for a node", lab.name)
                    })?;
                taken.push(ip);
                more.push(ip);
            }
            ep.node_ips.extend(more);
            ep.cluster = Some(cluster.id.to_string());
            self.store_endpoint(ep);
        }
        if ep.nat_ip.is_none() {
            // Never an address of the lab VPC either (when the CIDRs are the same): the
            // namespace must tell its own addresses on each leg apart.
            let mut taken: Vec<Ipv4Addr> = self
                .lab_endpoints()
                .iter()
                .filter(|e| e.network.as_deref() == Some(network.as_str()))
                .filter_map(|e| e.nat_ip)
                .chain(nodes.iter().copied())
                .collect();
            taken.extend(self.taken_in_lab(&lab));
            // From the top, below the broadcast address: nodes take the lowest.
            let nat = (cidr.start() + 2..cidr.end())
                .rev()
                .map(Ipv4Addr::from)
                .find(|ip| !taken.contains(ip))
                .with_context(|| format!("network {network} ({cidr}) has no free NAT address"))?;
            ep.nat_ip = Some(nat);
            ep.network = Some(network.clone());
        }
        let fresh = !plumbing::has_lab_addresses(&ep.namespace, &ep.node_ips).await?;
        plumbing::ensure_lab_addresses(&ep.namespace, &ep.node_ips, lab.cidr.prefix_len()).await?;
        if fresh {
            plumbing::forget_neighbours(self.lab_namespaces(&lab), ep.node_ips.clone()).await?;
        }
        let leg = Leg {
            router_ns,
            bridge,
            port: self.names.endpoint_platform_port(&ep.vpc, &ep.name),
            address: ep.nat_ip.expect("set above"),
            cidr,
        };
        // Remember the attachment before making it, so a delete finds its port.
        self.store_endpoint(ep);
        plumbing::ensure_leg(&ep.namespace, PLATFORM_IF, &leg).await?;
        let (ns, rules) = (
            ep.namespace.clone(),
            self.rules_of(ep, Some((nodes, service_ports(cluster)))),
        );
        tokio::task::spawn_blocking(move || nft::apply(&ns, &rules)).await?
    }

    /// Takes the DNAT rules out; when it carried traffic, cuts its flows.
    async fn close_endpoint(&self, ep: &LabEndpoint, was_open: bool) -> Result<()> {
        let (ns, rules) = (ep.namespace.clone(), self.rules_of(ep, None));
        tokio::task::spawn_blocking(move || {
            nft::apply(&ns, &rules)?;
            if was_open {
                plumbing::flush_flows(&ns)?;
            }
            Ok::<_, anyhow::Error>(())
        })
        .await?
        .with_context(|| format!("close lab endpoint {}", ep.endpoint_id()))
    }

    async fn withdraw_service(&self, s: &EndpointService) -> Result<Teardown> {
        let _guard = self.changes.lock().await;
        let mine = self
            .lab_endpoints()
            .into_iter()
            .filter(|e| e.service == s.service_name);
        for mut ep in mine {
            let was_open = ep.status == ConnectionStatus::Available;
            self.close_endpoint(&ep, was_open).await?;
            ep.status = ConnectionStatus::Failed;
            ep.message = "the endpoint service was deleted".into();
            self.store_endpoint(&ep);
        }
        Ok(Teardown::Done)
    }
}

/// An endpoint service fronts its cluster's nodes through lab endpoints.
#[async_trait]
impl Provisioner<EndpointService> for LocalDriver {
    async fn ensure(
        &self,
        s: &EndpointService,
        c: &Cluster,
    ) -> isthmus_driver::Result<EndpointServiceObservation> {
        self.sync_service(s, c).await.map_err(driver_error)
    }
    async fn observe(
        &self,
        s: &EndpointService,
        c: &Cluster,
    ) -> isthmus_driver::Result<EndpointServiceObservation> {
        self.sync_service(s, c).await.map_err(driver_error)
    }
    async fn delete(&self, s: &EndpointService, _: &Cluster) -> isthmus_driver::Result<Teardown> {
        self.withdraw_service(s).await.map_err(driver_error)
    }
}
