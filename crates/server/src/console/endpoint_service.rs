//! The console's pages of endpoint services (the registry draws them from this view).
//! The detail page's panel (`endpointServicePanel` in panels.js) lists the connections
//! with Accept and Reject, and the customer's commands.

use isthmus_core::kinds::endpoint_connection::ConnectionStatus;
use isthmus_core::kinds::endpoint_service::EndpointService;

use super::descriptor::{Column, ConsoleKind, Control, Field, Machines, View};

impl ConsoleKind for EndpointService {
    const VIEW: View = View {
        title: "Endpoint service",
        titles: "Endpoint services",
        option: "{name}",
        columns: &[
            Column::new("Cluster", "{cluster_id|owner}").optional(),
            Column::new("Service name", "{service_name}").code(),
            Column::new("Connections", "{connections|count}"),
        ],
        form: &[
            Field::text("name", "Name", "name"),
            Field::new("cluster", "Cluster", "cluster_id", Control::Owner),
            Field::new(
                "principals",
                "Allowed principals (one per line: AWS ARNs, GCP projects, Azure subscriptions)",
                "allowed_principals",
                Control::Lines,
            )
            .placeholder("arn:aws:iam::123456789012:root"),
            Field::new(
                "acceptance",
                "Require acceptance",
                "acceptance_required",
                Control::Check,
            ),
        ],
        open_after_create: true,
        details: &[
            Column::new("Service name", "{service_name}")
                .code()
                .id("service-name"),
            Column::new("Cloud", "{provider}, {region}"),
            Column::new("Allowed principals", "{allowed_principals|join}").or("none yet"),
            Column::new("Cluster name inside your VPC", "{cluster_dns_name}").code(),
            Column::new("Status message", "{status_message}"),
            Column::new("Warnings", "{warnings|join}").hidden_when_empty(),
        ],
        help: &[
            ("provisioning", "Isthmus is publishing the service at the provider. Nothing to do yet."),
            ("available", "Published. Customers create endpoints to the service name (commands below); accept or reject their connections here."),
            ("error", "Isthmus hit an error that retrying does not fix (the status message says which)."),
            ("deleting", "Isthmus is withdrawing the service; its connections end with it."),
            ("deleted", "The service is gone."),
        ],
        panel: Some("endpoint_service"),
    };

    /// A connection's badge says where it stands as the connection's own machine does
    /// (waiting on the operator is settled, a rejected one failed).
    fn parts() -> Machines {
        let phases = ConnectionStatus::ALL
            .iter()
            .map(|s| (s.as_str(), s.phase()))
            .collect();
        Machines::from([("endpoint_connection", phases)])
    }
}
