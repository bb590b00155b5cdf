//! Starting and cancelling a cluster's move to another network (see
//! `isthmus_core::kinds::cluster_move`). Both are one write transaction: the target's
//! free addresses, the peerings, VPN clients and endpoint services the move is checked
//! against are read in the same transaction that writes the move, so two moves (or a move
//! and a new cluster) never get the same addresses. Each write is audited (`move`,
//! `move_cancel`).

use std::collections::HashSet;
use std::net::Ipv4Addr;

use async_trait::async_trait;
use chrono::Utc;
use isthmus_core::kinds::cluster_move::{
    cancel_move, start_move, AccessContext, ClusterMoveRequest, MovePhase, MOVE_NODE_IP,
};
use isthmus_core::kinds::endpoint_service::EndpointService;
use isthmus_core::kinds::vpn_client::VpnClient;
use isthmus_core::kinds::vpn_gateway::VpnGateway;
use isthmus_core::resources::{Cluster, Network, Peering};
use isthmus_core::{CoreError, Id, NetworkId, ProjectId};

use super::owned;
use crate::api::{get_in, put_of};
use crate::doc::{DocStore, Plan, Tx, WriteOp};
use crate::{Actor, Result, StoreError};

/// Starts moving cluster `id` to network `target` (already resolved from a name in the
/// same project). Answers the cluster as stored, `moving` soon after.
pub async fn start_cluster_move(
    docs: &dyn DocStore,
    actor: &Actor,
    project: ProjectId,
    id: Id,
    target: NetworkId,
    req: ClusterMoveRequest,
) -> Result<Cluster> {
    let op = StartMove {
        project,
        id,
        target,
        req,
    };
    answer(docs.write(actor, None, Box::new(op)).await?)
}

/// Asks to undo the move of cluster `id`, refused once its names switched.
pub async fn cancel_cluster_move(
    docs: &dyn DocStore,
    actor: &Actor,
    project: ProjectId,
    id: Id,
) -> Result<Cluster> {
    let op = CancelMove { project, id };
    answer(docs.write(actor, None, Box::new(op)).await?)
}

/// Saves one step of a move the controller took (`next`, made from `before`): its phase,
/// and at the switch the cluster's network and nodes. Compare-and-swap on `before`'s
/// version, so a cancel written meanwhile is never overwritten. A new phase is audited
/// as `move_<phase>`; the status changes (`running → moving → running`) as `status`.
pub async fn save_cluster_move_step(
    docs: &dyn DocStore,
    actor: &Actor,
    before: &Cluster,
    next: Cluster,
) -> Result<Cluster> {
    let op = MoveStep {
        before: before.clone(),
        next,
    };
    answer(docs.write(actor, None, Box::new(op)).await?)
}

fn answer(written: crate::doc::Written) -> Result<Cluster> {
    match written.docs.first() {
        Some(doc) => doc.decode(),
        None => Err(StoreError::Backend(anyhow::anyhow!(
            "the move stored nothing"
        ))),
    }
}

/// Node addresses of `network` that live clusters hold: their own nodes, and the nodes a
/// move holds there (arriving before the switch, draining after it).
pub(crate) async fn taken_addresses(
    tx: &mut dyn Tx,
    network: &Network,
) -> Result<HashSet<Ipv4Addr>> {
    let on_network: Vec<Cluster> = owned(tx, network.id.0).await?;
    let mut taken: HashSet<Ipv4Addr> = on_network
        .iter()
        .flat_map(|c| c.nodes.iter().map(|n| n.ip))
        .collect();
    let (first, last) = (network.cidr_block.start(), network.cidr_block.end());
    let scope = network.id.to_string();
    for claim in tx.claims_meeting(MOVE_NODE_IP, &scope, first, last).await? {
        taken.extend((claim.start.max(first)..=claim.end.min(last)).map(Ipv4Addr::from));
    }
    Ok(taken)
}

struct StartMove {
    project: ProjectId,
    id: Id,
    target: NetworkId,
    req: ClusterMoveRequest,
}

#[async_trait]
impl WriteOp for StartMove {
    async fn run(&mut self, tx: &mut dyn Tx) -> Result<Plan> {
        let (_, cluster) = get_in::<Cluster>(tx, self.project, self.id).await?;
        let (_, source) = get_in::<Network>(tx, self.project, cluster.network_id.0).await?;
        let (_, target) = get_in::<Network>(tx, self.project, self.target.0).await?;
        let source_peerings: Vec<Peering> = owned(tx, source.id.0).await?;
        let target_peerings: Vec<Peering> = owned(tx, target.id.0).await?;
        let mut vpn_clients: Vec<VpnClient> = Vec::new();
        for gateway in owned::<VpnGateway>(tx, source.id.0).await? {
            vpn_clients.extend(owned::<VpnClient>(tx, gateway.id.0).await?);
        }
        let endpoint_services: Vec<EndpointService> = owned(tx, cluster.id.0).await?;
        let taken = taken_addresses(tx, &target).await?;
        let access = AccessContext {
            source_peerings: &source_peerings,
            target_peerings: &target_peerings,
            vpn_clients: &vpn_clients,
            endpoint_services: &endpoint_services,
        };
        let now = Utc::now();
        let next = start_move(&cluster, &source, &target, &self.req, &access, &taken, now)?;
        Ok(Plan::Put(vec![put_of(
            Some(&cluster),
            next,
            Some("move"),
            now,
        )?]))
    }
}

struct MoveStep {
    before: Cluster,
    next: Cluster,
}

#[async_trait]
impl WriteOp for MoveStep {
    async fn run(&mut self, tx: &mut dyn Tx) -> Result<Plan> {
        let (_, stored) = get_in::<Cluster>(tx, self.before.project_id, self.before.id.0).await?;
        if stored.version != self.before.version {
            return Err(CoreError::VersionMismatch {
                kind: "cluster",
                id: stored.id.to_string(),
                expected: self.before.version,
                actual: stored.version,
            }
            .into());
        }
        let mut next = self.next.clone();
        next.status = stored.status.transition(next.status)?;
        next.version = stored.version;
        let now = Utc::now();
        next.updated_at = now;
        let phase = |c: &Cluster| c.network_move.as_ref().map(|m| m.phase);
        let action = match phase(&next) {
            Some(p) if phase(&stored) != Some(p) => Some(step_action(p)),
            _ => (next.status != stored.status).then_some("status"),
        };
        Ok(Plan::Put(vec![put_of(Some(&stored), next, action, now)?]))
    }
}

/// The audit action of a move's phase (`cluster.move_names_switched`, …).
fn step_action(phase: MovePhase) -> &'static str {
    match phase {
        MovePhase::ProvisioningNodes => "move",
        MovePhase::CatchingUp => "move_catching_up",
        MovePhase::NamesSwitched => "move_names_switched",
        MovePhase::Draining => "move_draining",
        MovePhase::Done => "move_done",
        MovePhase::Cancelling => "move_cancel",
        MovePhase::Cancelled => "move_cancelled",
    }
}

struct CancelMove {
    project: ProjectId,
    id: Id,
}

#[async_trait]
impl WriteOp for CancelMove {
    async fn run(&mut self, tx: &mut dyn Tx) -> Result<Plan> {
        let (_, cluster) = get_in::<Cluster>(tx, self.project, self.id).await?;
        let now = Utc::now();
        let next = cancel_move(&cluster, now)?;
        Ok(Plan::Put(vec![put_of(
            Some(&cluster),
            next,
            Some("move_cancel"),
            now,
        )?]))
    }
}

/// A 409 naming the move while a cluster's move holds nodes in network `id` (its target
/// before the names switch, its source while the old nodes drain): deleting the network
/// then would pull the ground from under the move. Scoped by the network id, so any other
/// kind's id never matches.
pub(crate) async fn check_no_move_in(tx: &mut dyn Tx, owner_kind: &str, id: Id) -> Result<()> {
    let claims = tx
        .claims_meeting(MOVE_NODE_IP, &id.to_string(), 0, u32::MAX)
        .await?;
    let mut moving: Vec<Cluster> = Vec::new();
    for claim in claims {
        let cluster: Cluster = claim.doc.decode()?;
        if !moving.iter().any(|c| c.id == cluster.id) {
            moving.push(cluster);
        }
    }
    let Some(first) = moving.first() else {
        return Ok(());
    };
    let names: Vec<String> = moving
        .iter()
        .map(|c| {
            let phase = c.network_move.as_ref().map_or("", |m| m.phase.as_str());
            format!("'{}' ({}, {phase})", c.name, c.id)
        })
        .collect();
    let towards = first
        .network_move
        .as_ref()
        .is_some_and(|m| m.target_network_id.0 == id);
    let how = if towards {
        "cancel the move or wait until it is done"
    } else {
        "wait until the old nodes have drained"
    };
    Err(CoreError::conflict(
        None,
        &format!("{owner_kind}-in-cluster-move"),
        format!(
            "{owner_kind} {id} holds nodes of the move of cluster {}; {how}",
            names.join(", ")
        ),
    )
    .into())
}
