//! `/v1/projects/{p}/networks`: a CIDR block in one provider region.

use isthmus_core::resources::Network;

use super::resources::{ApiDocs, ApiKind};

impl ApiKind for Network {
    const DOCS: ApiDocs = ApiDocs {
        create_conflict: "Overlaps another network",
        updated: "Updated",
        update_invalid: "Invalid (e.g. an immutable field)",
        delete_conflict: Some(
            "Clusters remain in the network, or peerings do and cascade is not true",
        ),
    };
}
