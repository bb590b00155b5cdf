//! The private endpoint path: a lab host reaches a cluster through a lab endpoint of its
//! own VPC (the `local` data plane DNATs to the nodes and SNATs to a platform address).
//! It applies to a source in a lab VPC when the cluster publishes a `local` endpoint
//! service and the VPC has no peering to the cluster's network; a peered VPC takes it
//! only for names while one of its endpoints is available (its resolver then answers
//! with the endpoint; a node's own address still goes over the peering). In order:
//! 1. the client dialled a node's own address: inside its VPC there is no route to the
//!    platform, and when the CIDRs overlap that address is someone else's (`overlap-trap`,
//!    `no-route`): use the endpoint's names;
//! 2. the VPC has no endpoint: if it is an allowed principal, create one
//!    (`no-endpoint`), else the operator must add it (`principal-not-allowed`);
//! 3. the connection is `available` (`endpoint-pending`: accept it; `endpoint-refused`:
//!    rejected, failed or gone: a new endpoint);
//! 4. something listens on the port (`port-not-served`).

use std::net::Ipv4Addr;

use crate::kinds::endpoint_connection::ConnectionStatus;
use crate::kinds::endpoint_service::EndpointService;
use crate::kinds::principals::allows;
use crate::lab::LabVpc;
use crate::resources::Provider;

use super::analyze::{destination_hop, port_not_served, source_hop};
use super::index::{NodeRef, Origin};
use super::{Fix, FixAction, Hop, LabEndpointRef, ReachIndex, Reason, Verdict};

impl<'a> ReachIndex<'a> {
    /// The verdicts over the endpoint path, or `None` when it does not apply.
    pub(super) fn endpoint_verdicts(
        &self,
        vpc: &'a LabVpc,
        ip: Ipv4Addr,
        to: &str,
        nodes: &[NodeRef],
        port: u16,
    ) -> Option<Vec<Verdict>> {
        let (cluster, _) = self.target(*nodes.first()?);
        let services: Vec<&EndpointService> = self
            .snap
            .endpoint_services
            .iter()
            .filter(|s| s.cluster_id == cluster.id && s.provider == Provider::Local)
            .collect();
        let status_of = |e: &LabEndpointRef| {
            let id = format!("{}/{}", e.vpc, e.name);
            services
                .iter()
                .filter(|s| s.service_name == e.service)
                .flat_map(|s| s.connections.iter())
                .find(|c| c.endpoint_id == id)
                .map(|c| c.status)
        };
        let mine: Vec<&LabEndpointRef> = self
            .snap
            .lab_endpoints
            .iter()
            .filter(|e| e.vpc == vpc.name && services.iter().any(|s| s.service_name == e.service))
            .collect();
        // The VPC's resolver answers with an available endpoint when it has one.
        let endpoint = mine
            .iter()
            .find(|e| status_of(e) == Some(ConnectionStatus::Available))
            .or(mine.first())
            .copied();
        let available = endpoint.is_some_and(|e| status_of(e) == Some(ConnectionStatus::Available));
        let peered = self
            .peerings_to
            .contains_key(&(cluster.network_id, vpc.name.as_str()));
        let dialled_node = to
            .parse::<Ipv4Addr>()
            .ok()
            .filter(|d| cluster.nodes.iter().any(|n| n.ip == *d));
        // A peered VPC reaches the nodes' own addresses over its peering, and their names
        // too unless an available endpoint answers them inside the VPC: then the peering
        // path decides, not the endpoint's.
        if services.is_empty() || (peered && (dialled_node.is_some() || !available)) {
            return None;
        }
        let verdicts = nodes
            .iter()
            .map(|n| {
                let (cluster, node) = self.target(*n);
                let mut hops = vec![source_hop(ip, Origin::Lab(vpc))];
                let destination = destination_hop(cluster, node, port);
                let names = format!("{} (or {})", cluster.dns_name, node.dns_name);
                if let Some(dialled) = dialled_node {
                    let (reason, why) = if vpc.cidr_block.contains_addr(dialled) {
                        (
                            Reason::OverlapTrap,
                            format!(
                                "{dialled} is node {}'s address on the platform, but inside lab \
                                 VPC {} ({}) it is one of the VPC's own addresses",
                                node.dns_name, vpc.name, vpc.cidr_block
                            ),
                        )
                    } else {
                        (
                            Reason::NoRoute,
                            format!(
                                "lab VPC {} has no route to the platform's {dialled}: only its \
                                 endpoint leads there",
                                vpc.name
                            ),
                        )
                    };
                    let fix = Fix {
                        summary: format!("connect to {names}: inside the VPC they resolve to the endpoint"),
                        actions: vec![FixAction::UseDestination {
                            to: cluster.dns_name.clone(),
                        }],
                        commands: vec![],
                    };
                    return Verdict::denied(reason, why, Some(fix)).at_destination(hops, destination);
                }
                let Some(ep) = endpoint else {
                    return no_endpoint(vpc, &services).at_destination(hops, destination);
                };
                hops.push(endpoint_hop(ep, n.1));
                let service = services
                    .iter()
                    .find(|s| s.service_name == ep.service)
                    .expect("matched above");
                let connection = service
                    .connections
                    .iter()
                    .find(|c| c.endpoint_id == format!("{}/{}", ep.vpc, ep.name));
                match connection.map(|c| c.status) {
                    Some(ConnectionStatus::Available) => {}
                    Some(ConnectionStatus::PendingAcceptance) | None => {
                        let cid = connection.map_or_else(|| "<connection>".into(), |c| c.id.clone());
                        let fix = Fix {
                            summary: "the operator accepts the connection".into(),
                            actions: vec![FixAction::AcceptEndpointConnection {
                                service_id: service.id.to_string(),
                                connection_id: cid.clone(),
                            }],
                            commands: vec![format!("isthmus endpoint-service accept {} {cid}", service.id)],
                        };
                        let why = format!(
                            "lab endpoint {}/{} waits for the operator to accept its connection",
                            ep.vpc, ep.name
                        );
                        return Verdict::denied(Reason::EndpointPending, why, Some(fix))
                            .at_destination(hops, destination);
                    }
                    Some(status) => {
                        // A new name, as a cloud gives a new endpoint a new id: the refused
                        // connection keeps the old one and its decision with it.
                        let fresh = (2..)
                            .map(|n| format!("{}-{n}", ep.name))
                            .find(|n| {
                                let id = format!("{}/{n}", ep.vpc);
                                !service.connections.iter().any(|c| c.endpoint_id == id)
                                    && !self.snap.lab_endpoints.iter().any(|e| e.vpc == ep.vpc && e.name == *n)
                            })
                            .expect("a free name");
                        let fix = Fix {
                            summary: "delete the refused endpoint and create a new one under a new name".into(),
                            actions: vec![FixAction::CreateLabEndpoint {
                                vpc: vpc.name.clone(),
                                service: service.service_name.clone(),
                            }],
                            commands: vec![
                                format!("isthmus lab endpoint delete {}/{}", ep.vpc, ep.name),
                                format!(
                                    "isthmus lab endpoint create {} {fresh} --service {}",
                                    ep.vpc, service.service_name
                                ),
                            ],
                        };
                        let why = format!("lab endpoint {}/{}'s connection is {status}", ep.vpc, ep.name);
                        return Verdict::denied(Reason::EndpointRefused, why, Some(fix))
                            .at_destination(hops, destination);
                    }
                }
                if let Some(denied) = port_not_served(cluster, port) {
                    return denied.at_destination(hops, destination);
                }
                let why = format!(
                    "through lab endpoint {}/{} (available): DNAT to {}, source NAT on the platform side",
                    ep.vpc, ep.name, node.ip
                );
                Verdict::allowed(why, {
                    hops.push(destination);
                    hops
                })
            })
            .collect();
        Some(verdicts)
    }
}

fn endpoint_hop(ep: &LabEndpointRef, node_index: usize) -> Hop {
    Hop::Endpoint {
        endpoint: format!("{}/{}", ep.vpc, ep.name),
        ip: ep.ip,
        node_ip: ep.node_ips.get(node_index).copied(),
    }
}

/// No endpoint in the VPC: create one if the VPC may, else the operator adds it first.
fn no_endpoint(vpc: &LabVpc, services: &[&EndpointService]) -> Verdict {
    match services
        .iter()
        .find(|s| allows(Provider::Local, &s.allowed_principals, &vpc.name))
    {
        Some(s) => Verdict::denied(
            Reason::NoEndpoint,
            format!(
                "lab VPC {} has no endpoint to the cluster and no peering to its network",
                vpc.name
            ),
            Some(Fix {
                summary: format!("create an endpoint in {} to {}", vpc.name, s.service_name),
                actions: vec![FixAction::CreateLabEndpoint {
                    vpc: vpc.name.clone(),
                    service: s.service_name.clone(),
                }],
                commands: vec![format!(
                    "isthmus lab endpoint create {} {} --service {}",
                    vpc.name, s.name, s.service_name
                )],
            }),
        ),
        None => {
            let s = services[0];
            let mut principals: Vec<String> = s.allowed_principals.clone();
            principals.push(vpc.name.clone());
            let flags: String = principals
                .iter()
                .map(|p| format!(" --principal {p}"))
                .collect();
            Verdict::denied(
                Reason::PrincipalNotAllowed,
                format!(
                    "lab VPC {} is not an allowed principal of endpoint service {}",
                    vpc.name, s.name
                ),
                Some(Fix {
                    summary: format!("the operator allows {} on {}", vpc.name, s.name),
                    actions: vec![FixAction::AddAllowedPrincipal {
                        service_id: s.id.to_string(),
                        principal: vpc.name.clone(),
                    }],
                    commands: vec![format!("isthmus endpoint-service update {}{flags}", s.id)],
                }),
            )
        }
    }
}
