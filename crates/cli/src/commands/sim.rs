//! `isthmus sim …`: the customer's side of the simulated clouds, for tests and demos.

use std::time::Duration;

use isthmus_core::resources::Peering;
use isthmus_core::state::PeeringStatus;
use isthmus_driver::sim::{CustomerVpc, SimPeeringView};
use reqwest::Method;

use super::Ctx;
use crate::args::{SimCommand, SimVpcCommand, WaitArgs};
use crate::client::segment;

pub async fn run(ctx: &Ctx, command: SimCommand) -> anyhow::Result<String> {
    let action =
        |peering_id: String, action: &'static str, wait: WaitArgs| (peering_id, action, wait);
    let (peering_id, action, wait) = match command {
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
        SimCommand::Accept { peering_id, wait } => action(peering_id, "accept", wait),
        SimCommand::Reject { peering_id, wait } => action(peering_id, "reject", wait),
        SimCommand::DeletePeerSide { peering_id, wait } => {
            action(peering_id, "delete-peer-side", wait)
        }
        SimCommand::CreateReciprocal { peering_id, wait } => {
            action(peering_id, "create-reciprocal", wait)
        }
        SimCommand::GrantRole { peering_id, wait } => action(peering_id, "grant-role", wait),
    };
    // A peering may be named; the simulated cloud knows it by id.
    let peering_id = match peering_id.parse::<isthmus_core::Id>() {
        Ok(_) => peering_id,
        Err(_) => {
            let at = super::object::Paths::of::<Peering>(ctx).await?;
            super::object::id_of::<Peering>(ctx, &at, &peering_id).await?
        }
    };
    let path = format!("/v1/sim/peerings/{}/{action}", segment(&peering_id));
    let view: SimPeeringView = ctx.client.post(&path, &serde_json::json!({})).await?;
    if wait.wait {
        let target = match action {
            "reject" => PeeringStatus::RejectedByPeer,
            "delete-peer-side" => PeeringStatus::DeletedByPeer,
            _ => PeeringStatus::Active,
        };
        let at = super::object::Paths::of::<Peering>(ctx).await?;
        let timeout = Duration::from_secs(wait.timeout);
        let peering = crate::wait::until_status::<Peering>(
            &ctx.client,
            &at.one(&peering_id),
            target,
            timeout,
        )
        .await?;
        return ctx.one(&peering);
    }
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
