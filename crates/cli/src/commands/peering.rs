//! `isthmus peering …`

use isthmus_core::resources::{PeerSpec, Peering, PeeringCreate, PeeringUpdate};
use isthmus_core::state::PeeringStatus;

use super::Ctx;
use crate::args::{OutputFormat, PeeringCommand, WaitArgs};
use crate::client::segment;
use crate::views::customer_actions;
use crate::wait::{self, Goal};

pub async fn run(ctx: &Ctx, command: PeeringCommand) -> anyhow::Result<String> {
    let base = format!("{}/peerings", ctx.project_path().await?);
    let path = |id: &str| format!("{base}/{}", segment(id));
    match command {
        PeeringCommand::Create {
            name,
            network,
            peer_account,
            peer_network,
            peer_region,
            routes,
            transit_routes,
            allow_gateway_transit,
            wait,
        } => {
            let body = PeeringCreate {
                transit_routes,
                name,
                network_id: network,
                peer: PeerSpec {
                    account_id: peer_account,
                    network_id: peer_network,
                    region: peer_region,
                },
                routes,
                allow_gateway_transit,
            };
            let created: Peering = ctx.client.post(&base, &body).await?;
            for warning in &created.warnings {
                eprintln!("warning: {warning}");
            }
            settle(ctx, &path(&created.id.to_string()), created, wait).await
        }
        PeeringCommand::List { include_deleted } => {
            let items: Vec<Peering> = ctx
                .list_all(&format!("{base}{}", super::list_query(include_deleted)))
                .await?;
            ctx.list(&items)
        }
        PeeringCommand::Get { id } => ctx.one(&ctx.client.get::<Peering>(&path(&id)).await?),
        PeeringCommand::Update {
            id,
            name,
            routes,
            transit_routes,
            no_transit_routes,
            allow_gateway_transit,
            wait,
        } => {
            let transit_routes = if no_transit_routes {
                Some(Vec::new())
            } else {
                (!transit_routes.is_empty()).then_some(transit_routes)
            };
            let body = PeeringUpdate {
                transit_routes,
                name,
                // No --route means "leave the routes as they are", not "remove them all".
                routes: (!routes.is_empty()).then_some(routes),
                allow_gateway_transit,
            };
            let updated: Peering = ctx.client.patch(&path(&id), &body).await?;
            settle(ctx, &path(&id), updated, wait).await
        }
        PeeringCommand::Delete { id, wait } => {
            let deleting: Peering = ctx.client.delete(&path(&id)).await?;
            ctx.settle(&path(&id), deleting, Goal::Deleted, wait).await
        }
        PeeringCommand::Refresh { id, wait } => {
            let refreshed: Peering = ctx
                .client
                .post(&format!("{}/refresh", path(&id)), &serde_json::json!({}))
                .await?;
            settle(ctx, &path(&id), refreshed, wait).await
        }
        PeeringCommand::Actions { id } => {
            let peering: Peering = ctx.client.get(&path(&id)).await?;
            match ctx.format {
                OutputFormat::Table => Ok(actions_text(&peering)),
                OutputFormat::Json => crate::output::json(&peering.customer_actions),
                OutputFormat::Yaml => crate::output::yaml(&peering.customer_actions),
            }
        }
        PeeringCommand::Wait { id, timeout } => {
            let current: Peering = ctx.client.get(&path(&id)).await?;
            settle(ctx, &path(&id), current, timeout.into()).await
        }
    }
}

/// Like [`Ctx::settle`], and when the peering now waits on the customer, says so on
/// stderr with the commands to run (the view on stdout stays the plain resource).
async fn settle(ctx: &Ctx, path: &str, peering: Peering, wait: WaitArgs) -> anyhow::Result<String> {
    if !wait.wait {
        return ctx.one(&peering);
    }
    let timeout = std::time::Duration::from_secs(wait.timeout);
    let settled: Peering = wait::until_settled(&ctx.client, path, Goal::Ready, timeout)
        .await?
        .ok_or_else(|| anyhow::anyhow!("peering {} disappeared while waiting", peering.id))?;
    if matches!(
        settled.status,
        PeeringStatus::PendingAcceptance | PeeringStatus::PendingPeer
    ) {
        eprintln!(
            "peering {} is {}: waiting for the customer to act on their side:\n{}",
            settled.id,
            settled.status,
            actions_text(&settled).trim_end()
        );
    }
    ctx.one(&settled)
}

fn actions_text(peering: &Peering) -> String {
    let lines = customer_actions(peering);
    if lines.is_empty() {
        return format!(
            "peering {} needs no action from the customer ({})\n",
            peering.id, peering.status
        );
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}
