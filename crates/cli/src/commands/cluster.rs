//! `isthmus cluster …`: create, update, addresses and replace-node; the other verbs are
//! generic.

use isthmus_core::kinds::cluster_move::ClusterMoveRequest;
use isthmus_core::resources::{
    AllowlistEntryInput, Cluster, ClusterCreate, ClusterUpdate, EgressRuleInput, PublicAccessInput,
};
use reqwest::StatusCode;

use super::{object, Ctx};
use crate::access;
use crate::args::{ClusterAccessCreate, ClusterAccessUpdate, ClusterCommand};
use crate::client::ApiError;
use crate::kinds::print_warnings;
use crate::wait::Goal;

/// How often an update is re-read and retried when another writer changed the cluster
/// between our read and our write (412).
const RMW_ATTEMPTS: usize = 5;

pub async fn run(ctx: &Ctx, command: ClusterCommand) -> anyhow::Result<String> {
    let at = object::Paths::of::<Cluster>(ctx).await?;
    let path = |id: &str| at.one(id);
    match command {
        ClusterCommand::Create {
            name,
            network,
            engine,
            topology,
            access,
            wait,
        } => {
            let (public_access, private_allowlist, egress_allowlist) = create_access(access);
            let body = ClusterCreate {
                name,
                network_id: object::network_id(ctx, &network).await?,
                engine,
                topology,
                public_access,
                private_allowlist,
                egress_allowlist,
            };
            object::create::<Cluster>(ctx, &at, &body, wait).await
        }
        ClusterCommand::Addresses { id } => {
            let id = object::id_of::<Cluster>(ctx, &at, &id).await?;
            let cluster: Cluster = ctx.client.get(&path(&id)).await?;
            ctx.list(&crate::addresses::scoped_addresses(&cluster))
        }
        ClusterCommand::ReplaceNode { id, index, wait } => {
            let id = object::id_of::<Cluster>(ctx, &at, &id).await?;
            let at_id = path(&id);
            let replaced: Cluster = ctx
                .client
                .post(
                    &format!("{at_id}/nodes/{index}/replace"),
                    &serde_json::json!({}),
                )
                .await?;
            ctx.settle(&at_id, replaced, Goal::Ready, wait).await
        }
        ClusterCommand::Update {
            id,
            name,
            access,
            wait,
        } => {
            let id = object::id_of::<Cluster>(ctx, &at, &id).await?;
            let updated = update(ctx, &path(&id), name, &access).await?;
            print_warnings(&updated.warnings);
            // The cluster's own path: `id` may be a name.
            let at_id = path(&updated.id.to_string());
            ctx.settle(&at_id, updated, Goal::Ready, wait).await
        }
        ClusterCommand::Move {
            id,
            network,
            allow_lost_access,
            drain,
            cancel,
            wait,
        } => {
            let id = object::id_of::<Cluster>(ctx, &at, &id).await?;
            let request = match network {
                Some(network) if !cancel => Some(ClusterMoveRequest {
                    network_id: network,
                    allow_lost_access,
                    drain_seconds: drain,
                }),
                _ => None,
            };
            super::cluster_move::run(ctx, &path(&id), request, wait).await
        }
        ClusterCommand::Object(verbs) => object::run::<Cluster>(ctx, &at, verbs.verb).await,
    }
}

type CreateAccess = (
    Option<PublicAccessInput>,
    Option<Vec<AllowlistEntryInput>>,
    Option<Vec<EgressRuleInput>>,
);

/// The public access, private allow-list and egress rules of a create request.
fn create_access(mut access: ClusterAccessCreate) -> CreateAccess {
    let expires_at = crate::access::expiry(access.expire_after);
    for e in access.public_allow.iter_mut() {
        e.expires_at = expires_at;
    }
    let public_access = match (access.public_access, access.public_allow.is_empty()) {
        (None, true) => None,
        (enabled, _) => {
            if enabled.is_none() {
                eprintln!(
                    "note: the public allow-list is stored, but public access stays off \
                     until --public-access on"
                );
            }
            Some(PublicAccessInput {
                enabled: enabled.unwrap_or(false),
                allowlist: access.public_allow,
            })
        }
    };
    (
        public_access,
        (!access.private_allow.is_empty()).then_some(access.private_allow),
        (!access.egress.is_empty()).then_some(access.egress),
    )
}

/// A rename alone is one PATCH; an access change is a read-modify-write of the lists the
/// server holds, sent with If-Match and redone if someone else wrote in between.
async fn update(
    ctx: &Ctx,
    path: &str,
    name: Option<String>,
    access: &ClusterAccessUpdate,
) -> anyhow::Result<Cluster> {
    if access.is_empty() {
        anyhow::ensure!(
            name.is_some(),
            "nothing to change: give --name or an access flag (see `isthmus cluster update --help`)"
        );
        let body = ClusterUpdate {
            name,
            ..ClusterUpdate::default()
        };
        return ctx.client.patch(path, &body).await;
    }
    let expires_at = access::expiry(access.expire_after);
    let public_file = match &access.public_allowlist_file {
        Some(file) => Some(access::read_allowlist_file(file)?),
        None => None,
    }
    .map(|entries| access::expiring(entries, expires_at));
    let mut attempt = 1;
    loop {
        let current: Cluster = ctx.client.get(path).await?;
        let mut body = access_update(&current, access, public_file.as_deref())?;
        body.name = name.clone();
        match ctx
            .client
            .patch_if_match(path, &body, current.version)
            .await
        {
            Err(e) if attempt < RMW_ATTEMPTS && is_stale(&e) => attempt += 1,
            other => return other,
        }
    }
}

fn is_stale(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ApiError>()
        .is_some_and(|e| e.status == StatusCode::PRECONDITION_FAILED)
}

/// The PATCH body that applies `access` to `current`: only the lists it touches.
fn access_update(
    current: &Cluster,
    access: &ClusterAccessUpdate,
    public_file: Option<&[AllowlistEntryInput]>,
) -> anyhow::Result<ClusterUpdate> {
    let mut body = ClusterUpdate::default();
    let expires_at = access::expiry(access.expire_after);
    let public_changes = access.public_access.is_some()
        || public_file.is_some()
        || !access.add_public_allow.is_empty()
        || !access.remove_public_allow.is_empty();
    if public_changes {
        let allowlist = match public_file {
            Some(entries) => entries.to_vec(),
            None => access::edit_allowlist(
                &current.public_access.allowlist,
                &access::expiring(access.add_public_allow.clone(), expires_at),
                &access.remove_public_allow,
                "public allow-list",
            )?,
        };
        body.public_access = Some(PublicAccessInput {
            enabled: access
                .public_access
                .unwrap_or(current.public_access.enabled),
            allowlist,
        });
    }
    if access.clear_private_allowlist {
        body.private_allowlist = Some(Vec::new());
    } else if !access.add_private_allow.is_empty() || !access.remove_private_allow.is_empty() {
        body.private_allowlist = Some(access::edit_allowlist(
            &current.private_allowlist,
            &access.add_private_allow,
            &access.remove_private_allow,
            "private allow-list",
        )?);
    }
    if access.clear_egress {
        body.egress_allowlist = Some(Vec::new());
    } else if !access.add_egress.is_empty() || !access.remove_egress.is_empty() {
        body.egress_allowlist = Some(access::edit_egress(
            &current.egress_allowlist,
            &access.add_egress,
            &access.remove_egress,
        )?);
    }
    Ok(body)
}
