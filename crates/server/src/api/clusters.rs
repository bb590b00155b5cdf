//! `/v1/projects/{p}/clusters`: database clusters placed into a project network.

use isthmus_core::resources::Cluster;

use super::resources::{ApiDocs, ApiKind};

impl ApiKind for Cluster {
    const DOCS: ApiDocs = ApiDocs {
        create_conflict: "The network is being deleted or full",
        updated: "Updated",
        update_invalid: "Invalid",
        delete_conflict: None,
    };
}
