//! What each kind's admission rules read inside the write transaction: the store side of
//! a kind. Each file implements [`Admit`](crate::api::Admit) for one kind by loading only
//! the context its core rules need and calling them.

mod cluster;
pub mod cluster_move;
mod endpoint_service;
mod migration;
mod network;
pub(crate) mod node_replace;
mod peering;
pub(crate) mod vpn;

pub(crate) use cluster::give_endpoint;

use isthmus_core::kinds::PUBLIC_IP;

use isthmus_core::object::Object;
use isthmus_core::resources::Network;
use isthmus_core::{CoreError, Id, NetworkId, ProjectId};

use crate::api::get_in;
use crate::doc::{Doc, Tx};
use crate::Result;

/// Decodes docs read through a [`Tx`].
fn decode_all<K: Object>(docs: &[Doc]) -> Result<Vec<K>> {
    docs.iter().map(Doc::decode).collect()
}

/// The live objects of kind `K` owned by `owner`.
async fn owned<K: Object>(tx: &mut dyn Tx, owner: Id) -> Result<Vec<K>> {
    decode_all(&tx.owned(owner, Some(K::INFO.name)).await?)
}

/// The network a create request names (`network_id`), which must be in `project`.
async fn network_of_request(tx: &mut dyn Tx, project: ProjectId, raw_id: &str) -> Result<Network> {
    let id: NetworkId = raw_id
        .parse()
        .map_err(|e| CoreError::invalid("network_id", "id-syntax", format!("'{raw_id}' {e}")))?;
    Ok(get_in::<Network>(tx, project, id.0).await?.1)
}

/// The indexes whose values no two live objects may share within a scope (a public
/// endpoint address, across the installation), of whatever kind they are. The rules
/// that hand values out avoid taken ones; the store also refuses a second claim of the
/// same value (a 409 `<index>-taken`), so a rule's bug or race cannot hand one out twice.
/// Unique claims are single values. A new unique index is one more name here.
const UNIQUE_INDEXES: &[&str] = &[PUBLIC_IP];

pub(crate) fn is_unique(index: &str) -> bool {
    UNIQUE_INDEXES.contains(&index)
}
