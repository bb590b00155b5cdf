//! `/v1/projects/{p}/networks`: a CIDR block in one provider region.

use isthmus_core::resources::{Network, NetworkCreate, NetworkUpdate};
use isthmus_store::{Kind, Result as StoreResult};

use super::resources::{store_calls, ApiDocs, ApiKind};
use crate::state::AppState;

impl ApiKind for Network {
    const QUEUE: Kind = Kind::Network;
    const DOCS: ApiDocs = ApiDocs {
        create_conflict: "Overlaps another network",
        updated: "Updated",
        update_invalid: "Invalid (e.g. an immutable field)",
        delete_conflict: Some("Clusters remain in the network"),
    };
    type Create = NetworkCreate;
    type Update = NetworkUpdate;
    store_calls!(create_network; get_network, list_networks, update_network, delete_network);

    /// Deleting a network takes its peerings down too: wake them as well.
    async fn after_delete(state: &AppState, deleted: &Network) -> StoreResult<()> {
        for p in state.store.peerings_of(deleted.id).await? {
            state.enqueue(Kind::Peering, p.id.0);
        }
        Ok(())
    }
}
