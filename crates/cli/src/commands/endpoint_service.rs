//! `isthmus endpoint-service …`: create, connections, accept and reject; the other verbs
//! (list, get, delete, wait) are generic.

use isthmus_core::kinds::endpoint_connection::EndpointConnection;
use isthmus_core::kinds::endpoint_service::{EndpointService, EndpointServiceCreate};

use super::{object, Ctx};
use crate::args::endpoint_service::EndpointServiceCommand;
use crate::client::segment;
use crate::kinds::{print_warnings, CliKind};
use crate::output::{Details, View};

pub async fn run(ctx: &Ctx, command: EndpointServiceCommand) -> anyhow::Result<String> {
    let at = object::Paths::of::<EndpointService>(ctx).await?;
    let path = |id: &str| at.one(id);
    match command {
        EndpointServiceCommand::Create {
            name,
            cluster,
            principals,
            no_acceptance,
            wait,
        } => {
            let body = EndpointServiceCreate {
                name,
                cluster_id: cluster,
                allowed_principals: principals,
                acceptance_required: !no_acceptance,
            };
            object::create::<EndpointService>(ctx, &at, &body, wait).await
        }
        EndpointServiceCommand::Update {
            id,
            principals,
            no_principals,
        } => {
            if principals.is_empty() && !no_principals {
                anyhow::bail!("give --principal (repeat) or --no-principals");
            }
            let body = serde_json::json!({ "allowed_principals": principals });
            let s: EndpointService = ctx.client.patch(&path(&id), &body).await?;
            print_warnings(&s.warnings);
            ctx.one(&s)
        }
        EndpointServiceCommand::Connections { id } => {
            let list: Vec<EndpointConnection> = ctx
                .client
                .get(&format!("{}/connections", path(&id)))
                .await?;
            ctx.list(&list)
        }
        EndpointServiceCommand::Accept { id, connection } => {
            decide(ctx, &path(&id), &connection, "accept").await
        }
        EndpointServiceCommand::Reject { id, connection } => {
            decide(ctx, &path(&id), &connection, "reject").await
        }
        EndpointServiceCommand::Object(verbs) => {
            object::run::<EndpointService>(ctx, &at, verbs.verb).await
        }
    }
}

async fn decide(ctx: &Ctx, path: &str, connection: &str, verb: &str) -> anyhow::Result<String> {
    let url = format!("{path}/connections/{}/{verb}", segment(connection));
    let s: EndpointService = ctx.client.post(&url, &serde_json::json!({})).await?;
    print_warnings(&s.warnings);
    match s.connections.iter().find(|c| c.id == connection) {
        Some(c) => ctx.one(c),
        None => ctx.one(&s),
    }
}

impl CliKind for EndpointService {
    const GET_ABOUT: &'static str =
        "Show one endpoint service with its connections and the customer's commands";
    const DELETE_ABOUT: &'static str = "Delete an endpoint service (its connections end with it)";

    fn after_get(&self) {
        print_warnings(&self.warnings);
    }
}

impl View for EndpointService {
    const HEADERS: &'static [&'static str] = &[
        "ID",
        "NAME",
        "CLUSTER",
        "SERVICE NAME",
        "CONNECTIONS",
        "STATUS",
    ];
    fn row(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.name.clone(),
            self.cluster_id.to_string(),
            self.service_name.clone(),
            self.connections.len().to_string(),
            self.status.to_string(),
        ]
    }
    fn details(&self) -> Details {
        Details::default()
            .field("id", self.id)
            .field("name", &self.name)
            .field("cluster_id", self.cluster_id)
            .field("cloud", format!("{} {}", self.provider, self.region))
            .field("service_name", &self.service_name)
            .block("allowed_principals", self.allowed_principals.clone())
            .field("acceptance_required", self.acceptance_required)
            .field("status", self.status)
            .field("status_message", &self.status_message)
            .block(
                "connections",
                self.connections
                    .iter()
                    .map(|c| {
                        format!(
                            "{} {} {} ({})",
                            c.id, c.principal, c.status, c.provider_state
                        )
                    })
                    .collect(),
            )
            .block("warnings", self.warnings.clone())
            .block(
                "customer_actions",
                self.customer_actions
                    .iter()
                    .map(|a| format!("# {}\n{}", a.description, a.command))
                    .collect(),
            )
    }
}

impl View for EndpointConnection {
    const HEADERS: &'static [&'static str] = &[
        "ID",
        "ENDPOINT",
        "PRINCIPAL",
        "STATUS",
        "PROVIDER STATE",
        "DECISION",
    ];
    fn row(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.endpoint_id.clone(),
            self.principal.clone(),
            self.status.to_string(),
            self.provider_state.clone(),
            format!("{:?}", self.decision).to_lowercase(),
        ]
    }
    fn details(&self) -> Details {
        Details::default()
            .field("id", &self.id)
            .field("endpoint_id", &self.endpoint_id)
            .field("principal", &self.principal)
            .field("network", &self.network)
            .field("status", self.status)
            .field("provider_state", &self.provider_state)
            .field("decision", format!("{:?}", self.decision).to_lowercase())
            .field("status_message", &self.status_message)
            .field("connections", self.connections)
            .field("bytes", self.bytes)
    }
}
