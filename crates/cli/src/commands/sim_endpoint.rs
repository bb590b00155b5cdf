//! `isthmus sim endpoint …`: act as the customer creating and deleting private endpoints.

use isthmus_driver::sim::SimEndpointView;

use super::Ctx;
use crate::args::sim_endpoint::SimEndpointCommand;
use crate::output::{Details, View};

pub async fn run(ctx: &Ctx, command: SimEndpointCommand) -> anyhow::Result<String> {
    match command {
        SimEndpointCommand::Create {
            cloud,
            account,
            network,
            region,
            service,
        } => {
            let body = serde_json::json!({
                "cloud": cloud, "account": account, "network": network,
                "region": region, "service": service,
            });
            ctx.one(
                &ctx.client
                    .post::<_, SimEndpointView>("/v1/sim/endpoints", &body)
                    .await?,
            )
        }
        SimEndpointCommand::Delete { endpoint_id } => {
            let body = serde_json::json!({ "endpoint_id": endpoint_id });
            ctx.one(
                &ctx.client
                    .post::<_, SimEndpointView>("/v1/sim/endpoints/delete", &body)
                    .await?,
            )
        }
        SimEndpointCommand::List => ctx.list(
            &ctx.client
                .get::<Vec<SimEndpointView>>("/v1/sim/endpoints")
                .await?,
        ),
    }
}

impl View for SimEndpointView {
    const HEADERS: &'static [&'static str] = &["ENDPOINT", "CLOUD", "ACCOUNT", "STATE", "SERVICE"];
    fn row(&self) -> Vec<String> {
        vec![
            self.endpoint_id.clone(),
            self.cloud.to_string(),
            self.account.clone(),
            self.state.clone(),
            self.service.clone(),
        ]
    }
    fn details(&self) -> Details {
        Details::default()
            .field("endpoint_id", &self.endpoint_id)
            .field("cloud", self.cloud)
            .field("account", &self.account)
            .field("network", &self.network)
            .field("service", &self.service)
            .field("state", &self.state)
            .field("message", &self.message)
    }
}
