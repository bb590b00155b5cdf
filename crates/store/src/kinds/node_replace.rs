//! Replacing one node of a cluster (see `isthmus_core::kinds::node_replace`): the new
//! address is allocated inside the write transaction, against every address in use on
//! the network (other clusters' nodes and migrations' workers too), so two replacements
//! or a replacement and a create never get the same one. Audited as
//! `cluster.replace_node`, with the cluster before and after.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use async_trait::async_trait;
use chrono::Utc;
use isthmus_core::kinds::migration::Migration;
use isthmus_core::resources::{Cluster, Network};
use isthmus_core::{rules, ClusterId, ProjectId};

use super::owned;
use crate::api::{get_in, put_of};
use crate::doc::{DocStore, Plan, Tx, WriteOp};
use crate::{Actor, Result};

/// Gives node `index` of cluster `id` a new address; the cluster as written (`updating`,
/// the node `provisioning`), or why not: 404 for a cluster or node that does not exist,
/// 409 while the cluster is not running or when the network is full.
pub async fn replace_node(
    docs: &dyn DocStore,
    actor: &Actor,
    project: ProjectId,
    id: ClusterId,
    index: u32,
) -> Result<Cluster> {
    let written = docs
        .write(actor, None, Box::new(Replace { project, id, index }))
        .await?;
    crate::api::answer(written)
}

struct Replace {
    project: ProjectId,
    id: ClusterId,
    index: u32,
}

#[async_trait]
impl WriteOp for Replace {
    async fn run(&mut self, tx: &mut dyn Tx) -> Result<Plan> {
        let (_, current) = get_in::<Cluster>(tx, self.project, self.id.0).await?;
        let (_, network) = get_in::<Network>(tx, self.project, current.network_id.0).await?;
        let mut taken: HashSet<Ipv4Addr> = HashSet::new();
        for cluster in owned::<Cluster>(tx, network.id.0).await? {
            taken.extend(cluster.nodes.iter().map(|n| n.ip));
            let migrations: Vec<Migration> = owned(tx, cluster.id.0).await?;
            taken.extend(migrations.iter().map(|m| m.worker_ip));
        }
        let now = Utc::now();
        let next = rules::replace_node(&current, &network, self.index, &taken, now)?;
        Ok(Plan::Put(vec![put_of(
            Some(&current),
            next,
            Some("replace_node"),
            now,
        )?]))
    }
}
