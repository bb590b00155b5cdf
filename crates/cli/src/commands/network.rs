//! `isthmus network …`: create and update; the other verbs are generic.

use isthmus_core::resources::{Network, NetworkCreate, NetworkUpdate};

use super::{object, Ctx};
use crate::args::NetworkCommand;
use crate::client::segment;
use crate::wait::Goal;

pub async fn run(ctx: &Ctx, command: NetworkCommand) -> anyhow::Result<String> {
    let base = object::collection::<Network>(ctx).await?;
    let path = |id: &str| format!("{base}/{}", segment(id));
    match command {
        NetworkCommand::Create {
            name,
            provider,
            region,
            cidr,
            wait,
        } => {
            let body = NetworkCreate {
                name,
                provider,
                region,
                cidr_block: cidr,
            };
            let created: Network = ctx.client.post(&base, &body).await?;
            ctx.settle(&path(&created.id.to_string()), created, Goal::Ready, wait)
                .await
        }
        NetworkCommand::Update { id, name } => {
            let body = NetworkUpdate {
                name,
                ..NetworkUpdate::default()
            };
            ctx.one(&ctx.client.patch::<_, Network>(&path(&id), &body).await?)
        }
        NetworkCommand::Object(verbs) => object::run::<Network>(ctx, &base, verbs.verb).await,
    }
}
