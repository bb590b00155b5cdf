//! `isthmus peering …`: create, update, refresh and the customer's actions; the other
//! verbs are generic.

use isthmus_core::resources::{PeerSpec, Peering, PeeringCreate, PeeringUpdate};

use super::{object, Ctx};
use crate::args::{OutputFormat, PeeringCommand};
use crate::views::{customer_actions_text, pending_actions};
use crate::wait::Goal;

pub async fn run(ctx: &Ctx, command: PeeringCommand) -> anyhow::Result<String> {
    let at = object::Paths::of::<Peering>(ctx).await?;
    let path = |id: &str| at.one(id);
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
                network_id: object::network_id(ctx, &network).await?,
                peer: PeerSpec {
                    account_id: peer_account,
                    network_id: peer_network,
                    region: peer_region,
                },
                routes,
                allow_gateway_transit,
            };
            object::create::<Peering>(ctx, &at, &body, wait).await
        }
        PeeringCommand::Update {
            id,
            name,
            routes,
            transit_routes,
            no_transit_routes,
            allow_gateway_transit,
            wait,
        } => {
            let id = object::id_of::<Peering>(ctx, &at, &id).await?;
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
            ctx.settle(&path(&id), updated, Goal::Ready, wait).await
        }
        PeeringCommand::Refresh { id, wait } => {
            let id = object::id_of::<Peering>(ctx, &at, &id).await?;
            let refreshed: Peering = ctx
                .client
                .post(&format!("{}/refresh", path(&id)), &serde_json::json!({}))
                .await?;
            ctx.settle(&path(&id), refreshed, Goal::Ready, wait).await
        }
        PeeringCommand::Actions { id } => {
            let id = object::id_of::<Peering>(ctx, &at, &id).await?;
            let peering: Peering = ctx.client.get(&path(&id)).await?;
            match ctx.format {
                OutputFormat::Table => Ok(customer_actions_text(&peering)),
                OutputFormat::Json => crate::output::json(pending_actions(&peering)),
                OutputFormat::Yaml => crate::output::yaml(pending_actions(&peering)),
            }
        }
        PeeringCommand::Object(verbs) => object::run::<Peering>(ctx, &at, verbs.verb).await,
    }
}
