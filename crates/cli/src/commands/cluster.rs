//! `isthmus cluster …`

use isthmus_core::resources::{Cluster, ClusterCreate, ClusterUpdate};

use super::{list_query, Ctx};
use crate::args::ClusterCommand;
use crate::client::segment;
use crate::wait::Goal;

pub async fn run(ctx: &Ctx, command: ClusterCommand) -> anyhow::Result<String> {
    let base = format!("{}/clusters", ctx.project_path().await?);
    let path = |id: &str| format!("{base}/{}", segment(id));
    match command {
        ClusterCommand::Create {
            name,
            network,
            engine,
            topology,
            wait,
        } => {
            let body = ClusterCreate {
                private_allowlist: None,
                name,
                network_id: network,
                engine,
                topology,
                public_access: None,
                egress_allowlist: None,
            };
            let created: Cluster = ctx.client.post(&base, &body).await?;
            ctx.settle(&path(&created.id.to_string()), created, Goal::Ready, wait)
                .await
        }
        ClusterCommand::List { include_deleted } => {
            let items: Vec<Cluster> = ctx
                .list_all(&format!("{base}{}", list_query(include_deleted)))
                .await?;
            ctx.list(&items)
        }
        ClusterCommand::Get { id } => ctx.one(&ctx.client.get::<Cluster>(&path(&id)).await?),
        ClusterCommand::Addresses { id } => {
            let cluster: Cluster = ctx.client.get(&path(&id)).await?;
            ctx.list(&cluster.addresses)
        }
        ClusterCommand::Update { id, name } => {
            let body = ClusterUpdate {
                name,
                ..ClusterUpdate::default()
            };
            ctx.one(&ctx.client.patch::<_, Cluster>(&path(&id), &body).await?)
        }
        ClusterCommand::Delete { id, wait } => {
            let deleting: Cluster = ctx.client.delete(&path(&id)).await?;
            ctx.settle(&path(&id), deleting, Goal::Deleted, wait).await
        }
        ClusterCommand::Wait { id, timeout } => {
            let current: Cluster = ctx.client.get(&path(&id)).await?;
            ctx.settle(&path(&id), current, Goal::Ready, timeout.into())
                .await
        }
    }
}
