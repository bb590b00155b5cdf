//! `isthmus network …`: create and update; the other verbs are generic.

use isthmus_core::resources::{Network, NetworkCreate, NetworkUpdate};

use super::{object, Ctx};
use crate::args::NetworkCommand;
use crate::wait::Goal;

pub async fn run(ctx: &Ctx, command: NetworkCommand) -> anyhow::Result<String> {
    let at = object::Paths::of::<Network>(ctx).await?;
    let path = |id: &str| at.one(id);
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
            object::create::<Network>(ctx, &at, &body, wait).await
        }
        NetworkCommand::Update { id, name, wait } => {
            let id = object::id_of::<Network>(ctx, &at, &id).await?;
            let body = NetworkUpdate {
                name,
                ..NetworkUpdate::default()
            };
            let updated: Network = ctx.client.patch(&path(&id), &body).await?;
            ctx.settle(&path(&id), updated, Goal::Ready, wait).await
        }
        NetworkCommand::Object(verbs) => object::run::<Network>(ctx, &at, verbs.verb).await,
    }
}
