//! `isthmus sim …`: the customer's side of the simulated clouds, for tests and demos.

use isthmus_driver::sim::{CustomerVpc, SimPeeringView};
use reqwest::Method;

use super::Ctx;
use crate::args::{SimCommand, SimVpcCommand};
use crate::client::segment;

pub async fn run(ctx: &Ctx, command: SimCommand) -> anyhow::Result<String> {
    let action = |peering_id: String, action: &'static str| (peering_id, action);
    let (peering_id, action) = match command {
        SimCommand::Vpc(vpc) => return run_vpc(ctx, vpc).await,
        SimCommand::Endpoint(e) => return super::sim_endpoint::run(ctx, e).await,
        SimCommand::Peering { peering_id } => {
            let path = format!("/v1/sim/peerings/{}", segment(&peering_id));
            return ctx.one(&ctx.client.get::<SimPeeringView>(&path).await?);
        }
        SimCommand::Fault { operation, count } => {
            let body = serde_json::json!({ "operation": operation, "count": count });
            ctx.client
                .send_no_content(Method::POST, "/v1/sim/faults", &body)
                .await?;
            return Ok(format!("the next {count} {operation} call(s) will fail\n"));
        }
        SimCommand::Latency { millis } => {
            let body = serde_json::json!({ "millis": millis });
            ctx.client
                .send_no_content(Method::PUT, "/v1/sim/latency", &body)
                .await?;
            return Ok(format!("simulated latency set to {millis} ms\n"));
        }
        SimCommand::Accept { peering_id } => action(peering_id, "accept"),
        SimCommand::Reject { peering_id } => action(peering_id, "reject"),
        SimCommand::DeletePeerSide { peering_id } => action(peering_id, "delete-peer-side"),
        SimCommand::CreateReciprocal { peering_id } => action(peering_id, "create-reciprocal"),
        SimCommand::GrantRole { peering_id } => action(peering_id, "grant-role"),
    };
    let path = format!("/v1/sim/peerings/{}/{action}", segment(&peering_id));
    let view: SimPeeringView = ctx.client.post(&path, &serde_json::json!({})).await?;
    ctx.one(&view)
}

async fn run_vpc(ctx: &Ctx, command: SimVpcCommand) -> anyhow::Result<String> {
    match command {
        SimVpcCommand::Create {
            cloud,
            account,
            network,
            region,
            cidr,
        } => {
            let body = serde_json::json!({
                "account_id": account,
                "network_id": network,
                "region": region,
                "cidr_block": cidr,
            });
            let path = format!("/v1/sim/{cloud}/vpcs");
            ctx.one(&ctx.client.post::<_, CustomerVpc>(&path, &body).await?)
        }
        SimVpcCommand::List => ctx.list(&ctx.client.get::<Vec<CustomerVpc>>("/v1/sim/vpcs").await?),
    }
}
