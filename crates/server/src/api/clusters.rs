//! `/v1/projects/{p}/clusters`: database clusters placed into a project network.

use isthmus_core::resources::{Cluster, ClusterCreate, ClusterUpdate};
use isthmus_core::ProjectId;
use isthmus_store::{Actor, Created, IdempotencyKey, Kind, Result as StoreResult};

use super::resources::{store_calls, ApiDocs, ApiKind};
use crate::state::AppState;

impl ApiKind for Cluster {
    const QUEUE: Kind = Kind::Cluster;
    const DOCS: ApiDocs = ApiDocs {
        create_conflict: "The network is being deleted or full",
        updated: "Updated",
        update_invalid: "Invalid",
        delete_conflict: None,
    };
    type Create = ClusterCreate;
    type Update = ClusterUpdate;

    /// A cluster's DNS names are under the installation's zone.
    async fn create(
        state: &AppState,
        actor: &Actor,
        project: ProjectId,
        req: &ClusterCreate,
        idem: Option<&IdempotencyKey>,
    ) -> StoreResult<Created<Cluster>> {
        let zone = &state.config.dns_zone;
        let store = &state.store;
        store.create_cluster(actor, project, req, zone, idem).await
    }
    store_calls!(get_cluster, list_clusters, update_cluster, delete_cluster);
}
