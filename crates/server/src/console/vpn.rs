//! The console's pages of VPN gateways and clients (the registry draws them from these
//! views). A client made here names its own public key; the API's nested route
//! (`…/vpn-gateways/{id}/clients`) is the one that can generate a pair.

use isthmus_core::kinds::vpn_client::VpnClient;
use isthmus_core::kinds::vpn_gateway::VpnGateway;

use super::descriptor::{Column, ConsoleKind, Control, Field, View};

impl ConsoleKind for VpnGateway {
    const VIEW: View = View {
        title: "VPN gateway",
        titles: "VPN gateways",
        option: "{name} ({client_cidr})",
        columns: &[
            Column::new("Network", "{network_id|owner}").optional(),
            Column::new("Client range", "{client_cidr}").code(),
            Column::new("Endpoint", "{endpoint}").code().or("not yet"),
        ],
        form: &[
            Field::text("name", "Name", "name"),
            Field::new("network", "Network", "network_id", Control::Owner),
            Field::text("client-cidr", "Client address range", "client_cidr")
                .placeholder("10.99.0.0/24"),
        ],
        open_after_create: true,
        details: &[
            Column::new("Endpoint", "{endpoint}").code().or("not yet"),
            Column::new("Public key", "{public_key}")
                .code()
                .or("not yet"),
            Column::new("Client range", "{client_cidr}").code(),
            Column::new("DNS", "{dns}"),
            Column::new("Longest client lifetime (days)", "{max_client_days}"),
            Column::new("Status message", "{status_message}"),
        ],
        help: &[
            (
                "provisioning",
                "Isthmus is starting the gateway at the provider. Nothing to do yet.",
            ),
            (
                "ready",
                "Serving. Add clients; each downloads its own config.",
            ),
            (
                "error",
                "Isthmus hit an error that retrying does not fix (the status message says which).",
            ),
            (
                "deleting",
                "Isthmus is revoking the gateway's clients and stopping it.",
            ),
            ("deleted", "The gateway is gone."),
        ],
        panel: Some("vpn_gateway"),
    };
}

impl ConsoleKind for VpnClient {
    const VIEW: View = View {
        title: "VPN client",
        titles: "VPN clients",
        option: "{name} ({address})",
        columns: &[
            Column::new("Gateway", "{gateway_id|owner}").optional(),
            Column::new("Address", "{address}").code(),
            Column::new("Expires", "{expires_at|time}").optional(),
        ],
        form: &[
            Field::text("name", "Name", "name"),
            Field::new("gateway", "Gateway", "gateway_id", Control::Owner),
            Field::text("public-key", "Public key (wg pubkey)", "public_key"),
        ],
        open_after_create: true,
        details: &[
            Column::new("Address", "{address}").code(),
            Column::new("Public key", "{public_key}").code(),
            Column::new("Expires", "{expires_at|time}"),
            Column::new("Last handshake", "{last_handshake_at|time}").or("never"),
            Column::new("Denied connections", "{denied_flows}"),
            Column::new("Status message", "{status_message}"),
        ],
        help: &[
            ("pending", "Registered at the gateway; no handshake yet. Bring the tunnel up with the client's config."),
            ("connected", "The tunnel is up (a handshake in the last three minutes)."),
            ("idle", "No handshake lately; the tunnel comes back with the next traffic."),
            ("expired", "Past its expiry: the gateway refuses it. Create a new client."),
            ("error", "Isthmus hit an error that retrying does not fix (the status message says which)."),
            ("deleting", "Revoking: Isthmus is removing the client from the gateway and cutting its flows."),
            ("deleted", "Revoked: the gateway no longer accepts the client's key."),
        ],
        panel: None,
    };
}
