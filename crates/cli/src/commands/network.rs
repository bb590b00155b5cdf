//! `isthmus network …`

use isthmus_core::resources::{Network, NetworkCreate, NetworkUpdate};

use super::{list_query, Ctx};
use crate::args::NetworkCommand;
use crate::client::segment;
use crate::wait::Goal;

pub async fn run(ctx: &Ctx, command: NetworkCommand) -> anyhow::Result<String> {
    let base = format!("{}/networks", ctx.project_path().await?);
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
        NetworkCommand::List { include_deleted } => {
            let items: Vec<Network> = ctx
                .list_all(&format!("{base}{}", list_query(include_deleted)))
                .await?;
            ctx.list(&items)
        }
        NetworkCommand::Get { id } => ctx.one(&ctx.client.get::<Network>(&path(&id)).await?),
        NetworkCommand::Update { id, name } => {
            let body = NetworkUpdate {
                name,
                ..NetworkUpdate::default()
            };
            ctx.one(&ctx.client.patch::<_, Network>(&path(&id), &body).await?)
        }
        NetworkCommand::Delete { id, wait } => {
            let deleting: Network = ctx.client.delete(&path(&id)).await?;
            ctx.settle(&path(&id), deleting, Goal::Deleted, wait).await
        }
        NetworkCommand::Wait { id, timeout } => {
            let current: Network = ctx.client.get(&path(&id)).await?;
            ctx.settle(&path(&id), current, Goal::Ready, timeout.into())
                .await
        }
    }
}
