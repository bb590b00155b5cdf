//! Clusters: node addresses are allocated from the network inside the write transaction,
//! so two clusters never get the same IP; so are public endpoint addresses, from the
//! installation-wide `public_ip` claims.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use isthmus_core::kinds::PUBLIC_IP;
use isthmus_core::resources::{Cluster, ClusterCreate, ClusterUpdate, Network, Peering};
use isthmus_core::state::ClusterStatus;
use isthmus_core::{rules, ClusterId, Id, ProjectId};

use super::{network_of_request, owned};
use crate::api::{get_in, Admit, Env};
use crate::doc::Tx;
use crate::Result;

#[async_trait]
impl Admit for Cluster {
    type Create = ClusterCreate;
    type Update = ClusterUpdate;

    async fn admit_create(
        tx: &mut dyn Tx,
        project: ProjectId,
        id: Id,
        req: &ClusterCreate,
        env: &Env,
        now: DateTime<Utc>,
    ) -> Result<Cluster> {
        let network = network_of_request(tx, project, &req.network_id).await?;
        let taken = super::cluster_move::taken_addresses(tx, &network).await?;
        let id = ClusterId(id);
        let mut cluster =
            rules::new_cluster(id, project, req, &network, &taken, &env.dns_zone, now)?;
        add_egress_warnings(tx, &mut cluster, &network).await?;
        give_endpoint(tx, &mut cluster).await?;
        Ok(cluster)
    }

    async fn admit_update(
        tx: &mut dyn Tx,
        current: &Cluster,
        req: &ClusterUpdate,
        now: DateTime<Utc>,
    ) -> Result<Cluster> {
        let mut next = rules::update_cluster(current, req, now)?;
        if !next.egress_allowlist.is_empty() {
            let (_, network) = get_in::<Network>(tx, next.project_id, next.network_id.0).await?;
            add_egress_warnings(tx, &mut next, &network).await?;
        }
        give_endpoint(tx, &mut next).await?;
        Ok(next)
    }

    /// Node addresses belong to the spec; only each node's status is observed. A deleted
    /// cluster gives its public address back to the pool.
    async fn admit_status(_tx: &mut dyn Tx, next: &mut Cluster, observed: &Cluster) -> Result<()> {
        for node in &mut next.nodes {
            if let Some(seen) = observed.nodes.iter().find(|n| n.index == node.index) {
                node.status = node.status.transition(seen.status)?;
            }
        }
        if next.status == ClusterStatus::Deleted {
            next.public_endpoint = None;
        }
        Ok(())
    }
}

/// Egress entries no live peering of the network routes are answered with a warning.
async fn add_egress_warnings(
    tx: &mut dyn Tx,
    cluster: &mut Cluster,
    network: &Network,
) -> Result<()> {
    if cluster.egress_allowlist.is_empty() {
        return Ok(());
    }
    let peerings: Vec<Peering> = owned(tx, network.id.0).await?;
    let warnings = rules::egress_warnings(cluster, network, &peerings);
    cluster.warnings.extend(warnings);
    Ok(())
}

/// Brings `cluster.public_endpoint` in line with `public_access.enabled`: a new endpoint
/// takes the lowest pool address no live cluster claims, an endpoint the cluster has
/// keeps its address, and a disabled cluster has none (its claim goes with the write).
pub(crate) async fn give_endpoint(tx: &mut dyn Tx, cluster: &mut Cluster) -> Result<()> {
    let mut taken = HashSet::new();
    if cluster.public_access.enabled && cluster.public_endpoint.is_none() {
        let pool = rules::public_pool();
        let (first, last) = (pool.start(), pool.end());
        for claim in tx.claims_meeting(PUBLIC_IP, "", first, last).await? {
            taken.extend((claim.start.max(first)..=claim.end.min(last)).map(Ipv4Addr::from));
        }
    }
    Ok(rules::assign_public_endpoint(cluster, &taken)?)
}
