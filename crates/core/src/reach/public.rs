//! The public path: from the internet to a cluster's public endpoint, whose router
//! admits the public allow-list and forwards to any of the nodes (so one verdict per
//! node). The order of the checks is at the top of `analyze.rs`.

use crate::resources::Cluster;

use super::analyze::{deliver, destination_down, destination_hop, source_hop, Probe};
use super::index::Origin;
use super::{fix, fix_access, AllowlistKind, Hop, ReachIndex, Reason, Verdict};

/// `public-<cluster-id>.<zone>`: the endpoint's name, whether or not it is on now.
pub(super) fn public_dns_name(cluster: &Cluster) -> String {
    if let Some(e) = &cluster.public_endpoint {
        return e.dns_name.clone();
    }
    let zone = cluster
        .dns_name
        .strip_prefix(&format!("{}.", cluster.id))
        .unwrap_or(&cluster.dns_name);
    format!("public-{}.{zone}", cluster.id)
}

impl<'a> ReachIndex<'a> {
    pub(super) fn public_verdict(&self, probe: Probe<'a>) -> Verdict {
        let (ip, origin, port, node_ref) = (probe.ip, probe.origin, probe.port, probe.node);
        let (cluster, node) = self.target(node_ref);
        let dns_name = public_dns_name(cluster);
        let mut hops = vec![source_hop(ip, origin)];
        let endpoint = cluster
            .public_endpoint
            .as_ref()
            .filter(|_| cluster.public_access.enabled);
        let endpoint_hop = endpoint.map(|e| Hop::PublicEndpoint {
            dns_name: e.dns_name.clone(),
            ip: e.ip,
        });
        let from = match origin {
            Origin::Internet(_) => None,
            Origin::Lab(v) => Some(format!("lab VPC {}", v.name)),
            Origin::Unknown => Some(format!("{ip}, a private address,")),
        };
        if let Some(from) = from {
            hops.extend(endpoint_hop);
            let private = self.private_verdict(probe);
            return Verdict::denied(
                Reason::NoRoute,
                format!(
                    "{from} has no route to the public endpoint {dns_name}: public endpoints \
                     answer the internet only; from a peered network the cluster is reached \
                     at its private addresses"
                ),
                Some(fix_access::then_connect(private, &cluster.dns_name)),
            )
            .with_hops(hops);
        }
        let Some(endpoint_hop) = endpoint_hop else {
            let explanation = if cluster.public_access.enabled {
                format!(
                    "public access of cluster {} is on, but {dns_name} has no endpoint yet",
                    cluster.name
                )
            } else {
                format!(
                    "public access of cluster {} is off: {dns_name} has no endpoint, so \
                     nothing answers there",
                    cluster.name
                )
            };
            let fix = if cluster.public_access.enabled {
                fix::wait_for("cluster", &cluster.name, &cluster.status.to_string())
            } else {
                let listed = self.public_allow(node_ref.0).longest_match(ip).is_some();
                fix_access::enable_public_access(cluster, ip, listed)
            };
            return Verdict::denied(Reason::PublicAccessDisabled, explanation, Some(fix))
                .with_hops(hops);
        };
        hops.push(endpoint_hop);
        let destination = destination_hop(cluster, node, port);
        if let Some(denied) = destination_down(self.network_of(cluster), cluster, node) {
            return denied.at_destination(hops, destination);
        }
        let Some(entry) = self.public_allow(node_ref.0).longest_match(ip) else {
            hops.push(Hop::firewall(
                format!("pub_{}: ip saddr != @pub_{} drop", cluster.id, cluster.id),
                "drop",
            ));
            let n = cluster.public_access.allowlist.len();
            let explanation = if n == 0 {
                format!(
                    "cluster {}'s public allow-list is empty: nobody may connect to \
                     {dns_name} until an entry is added",
                    cluster.name
                )
            } else {
                format!(
                    "{ip} is in none of the {n} entries of cluster {}'s public allow-list",
                    cluster.name
                )
            };
            return Verdict::denied(
                Reason::NotInPublicAllowlist,
                explanation,
                Some(fix_access::add_allowlist_entry(
                    cluster,
                    AllowlistKind::Public,
                    ip,
                )),
            )
            .with_hops(hops);
        };
        deliver(
            cluster,
            port,
            hops,
            format!(
                "pub_{}: ip saddr @pub_{} ({entry}), dnat to the nodes",
                cluster.id, cluster.id
            ),
            destination,
            format!(
                "{ip} is inside entry {entry} of cluster {}'s public allow-list; {dns_name} \
                 forwards to {} on {port}",
                cluster.name, node.dns_name
            ),
        )
    }
}
