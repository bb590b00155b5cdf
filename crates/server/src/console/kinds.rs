//! Each kind's pages in the console: list columns, create form, detail properties, help
//! per status and the bespoke panel, if any. The shared parts (name, status, created,
//! delete) are the script's; see `descriptor.rs` for the template syntax.

use isthmus_core::resources::{Cluster, Network, Peering};
use isthmus_core::state::NodeStatus;

use super::descriptor::{phases, Column, ConsoleKind, Control, Field, Machines, View};

const NAME: Field = Field::text("name", "Name", "name");
/// The owning network of a network-scoped kind: a column of its list, a field of its form.
const NETWORK_COLUMN: Column = Column::new("Network", "{network_id|owner}").optional();
const NETWORK: Field = Field::new("network", "Network", "network_id", Control::Owner);
const CREATED: Column = Column::new("Created", "{created_at|time}");

impl ConsoleKind for Network {
    const VIEW: View = View {
        title: "Network",
        titles: "Networks",
        option: "{name} ({cidr_block})",
        columns: &[
            Column::new("Provider", "{provider}"),
            Column::new("Region", "{region}").optional(),
            Column::new("CIDR", "{cidr_block}").code(),
        ],
        form: &[
            NAME,
            Field::new("provider", "Provider", "provider", Control::Provider).value("aws"),
            Field::new("region", "Region", "region", Control::Region).value("us-east-1"),
            Field::text("cidr", "CIDR block", "cidr_block").placeholder("10.0.0.0/16"),
        ],
        open_after_create: false,
        details: &[
            Column::new("Provider", "{provider} ({region})"),
            Column::new("CIDR block", "{cidr_block}").code(),
            Column::new("Cloud network id", "{provider_network_id}")
                .code()
                .or("not yet created"),
            CREATED,
        ],
        help: &[],
        panel: None,
    };
}

impl ConsoleKind for Peering {
    const VIEW: View = View {
        title: "Peering",
        titles: "Peerings",
        option: "{name}",
        columns: &[
            NETWORK_COLUMN,
            Column::new("Peer", "{peer.account_id} / {peer.network_id}")
                .optional()
                .code(),
            // On a phone the routes (on the peering's page) give way to name, status and
            // Delete: CIDRs do not split mid-address, so they would not fit beside them.
            Column::new("Remote routes", "{routes|join}").optional(),
        ],
        form: &[
            NAME,
            NETWORK,
            Field::text("account", "Peer account id", "peer.account_id"),
            Field::text("peer-network", "Peer network (VPC id)", "peer.network_id")
                .placeholder("vpc-…"),
            Field::new("region", "Peer region", "peer.region", Control::Region)
                .value("us-east-1"),
            Field::new("routes", "Remote routes (one per line)", "routes", Control::Lines)
                .placeholder("192.168.0.0/16"),
            Field::new(
                "transit",
                "Allow gateway transit (Azure)",
                "allow_gateway_transit",
                Control::Check,
            ),
            // Beside the checkbox they go with: ranges behind the peer's gateway.
            Field::new(
                "transit-routes",
                "Transit routes (one per line; with gateway transit)",
                "transit_routes",
                Control::Lines,
            )
            .placeholder("172.16.0.0/16"),
        ],
        open_after_create: true,
        details: &[
            Column::new("Local Address", "{owner.cidr_block}")
                .code()
                .id("local-address")
                .or("?"),
            Column::new("Remote Address", "{routes|join}")
                .code()
                .id("remote-address"),
            Column::new(
                "Network",
                "{owner.name} ({owner.provider}, {owner.region})",
            ),
            Column::new(
                "Peer",
                "{peer.account_id} / {peer.network_id} / {peer.region}",
            ),
            Column::new("Cloud peering id", "{provider_peering_id}")
                .code()
                .or("not yet requested"),
            Column::new("Status message", "{status_message}"),
            Column::new("Warnings", "{warnings|join}").hidden_when_empty(),
        ],
        help: &[
            ("provisioning", "Isthmus is requesting the peering in the cloud. Nothing to do yet."),
            ("pending_acceptance", "Your action is needed: accept the peering request in your cloud account, then route the platform CIDR through it. The commands below do both."),
            ("pending_peer", "Your action is needed: create the matching peering (GCP) or grant the role (Azure) on your side. Run the commands below."),
            ("active", "The peering is active: nothing left to do. Your route tables keep sending the Local Address through the peering."),
            ("invalid_specification", "The cloud refused the request as specified. Check the peer account, network id and region, then delete this peering and create it again."),
            ("rejected_by_peer", "The request was rejected on your side, and a rejected request cannot be accepted. Delete this peering, and create it again when you are ready to accept."),
            ("deleted_by_peer", "The peering was deleted on your side. Delete it here too, or create it again."),
            ("error", "Isthmus hit an error that retrying does not fix (the status message says which). It tries again when the peering changes or is refreshed."),
            ("deleting", "Isthmus is removing the peering."),
            ("deleted", "The peering is gone."),
        ],
        panel: Some("peering"),
    };
}

impl ConsoleKind for Cluster {
    const VIEW: View = View {
        title: "Cluster",
        titles: "Clusters",
        option: "{name} ({dns_name})",
        columns: &[
            NETWORK_COLUMN,
            Column::new("Engine", "{engine}, {topology}").optional(),
            Column::new("Nodes", "{nodes|count}"),
        ],
        form: &[
            NAME,
            NETWORK,
            Field::new("engine", "Engine", "engine", Control::Engine).value("probe"),
            Field::new("topology", "Topology", "topology", Control::Topology).value("single-node"),
        ],
        open_after_create: false,
        details: &[
            Column::new("DNS name", "{dns_name}").code(),
            Column::new("Engine", "{engine} ({topology})"),
            CREATED,
        ],
        help: &[],
        panel: Some("cluster"),
    };

    fn parts() -> Machines {
        Machines::from([("node", phases::<NodeStatus>())])
    }
}
