//! `/v1/projects/{p}/vpn-gateways` and `/v1/projects/{p}/vpn-clients`: WireGuard access
//! for laptops to the clusters of one network (see docs/vpn.md).

use isthmus_core::kinds::vpn_client::VpnClient;
use isthmus_core::kinds::vpn_gateway::VpnGateway;

use super::resources::{ApiDocs, ApiKind};
use crate::dns_records::PublishesDns;

impl ApiKind for VpnGateway {
    const DOCS: ApiDocs = ApiDocs {
        create_conflict: "The network already has a gateway, or is being deleted",
        updated: "Updated",
        update_invalid: "Invalid (the field names it, e.g. max_client_days)",
        delete_conflict: None,
    };
}

impl ApiKind for VpnClient {
    const DOCS: ApiDocs = ApiDocs {
        create_conflict: "The public key is in use on the gateway, the gateway is being deleted, or its range is full",
        updated: "Updated (a new public_key rotates the key: same address and grants)",
        update_invalid: "Invalid (the field names it, e.g. a grant to a cluster of another network)",
        delete_conflict: None,
    };
}

/// A gateway's endpoint is an address the provider hands out; clients resolve the
/// platform zone through the tunnel (the gateway's `dns`), so neither kind publishes names.
impl PublishesDns for VpnGateway {}
impl PublishesDns for VpnClient {}
