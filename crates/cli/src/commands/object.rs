//! `isthmus <kind> list|get|delete|wait`: the verbs every kind has, written once.

use isthmus_core::object::Object;

use serde::Serialize;

use super::{list_query, Ctx};
use crate::args::{ObjectVerb, OutputFormat, WaitArgs};
use crate::client::segment;
use crate::kinds::CliKind;
use crate::wait::Goal;

/// Where the objects of a kind live in the context's project.
pub struct Paths {
    /// `/v1/projects/<project>/<plural>`: the collection.
    pub base: String,
}

impl Paths {
    pub async fn of<K: Object>(ctx: &Ctx) -> anyhow::Result<Paths> {
        let base = format!("{}/{}", ctx.project_path().await?, K::INFO.plural);
        Ok(Paths { base })
    }

    /// One object of the collection.
    pub fn one(&self, id: &str) -> String {
        format!("{}/{}", self.base, segment(id))
    }
}

/// The id of the object of kind `K` that `given` names: an id as it is, else the one live
/// object of that name (a name two objects share must be given as an id).
pub async fn id_of<K: CliKind>(ctx: &Ctx, at: &Paths, given: &str) -> anyhow::Result<String> {
    if given.parse::<isthmus_core::Id>().is_ok() {
        return Ok(given.to_string());
    }
    let all: Vec<K> = ctx.list_all(&at.base).await?;
    let named: Vec<String> = all
        .iter()
        .filter(|o| o.name() == given)
        .map(|o| o.id().to_string())
        .collect();
    match named.as_slice() {
        [one] => Ok(one.clone()),
        [] => anyhow::bail!(
            "no {} named '{given}' in this project (`isthmus {} list` shows them)",
            K::INFO.name,
            K::INFO.name
        ),
        several => anyhow::bail!(
            "several {} are named '{given}': give the id ({})",
            K::INFO.plural,
            several.join(", ")
        ),
    }
}

/// The id of the network `given` names (an id or a name), for `--network`.
pub async fn network_id(ctx: &Ctx, given: &str) -> anyhow::Result<String> {
    use isthmus_core::resources::Network;
    let at = Paths::of::<Network>(ctx).await?;
    id_of::<Network>(ctx, &at, given).await
}

/// Creates an object of kind `K` from `body`, then shows it (settled first with
/// `--wait`).
pub async fn create<K: CliKind>(
    ctx: &Ctx,
    at: &Paths,
    body: &impl Serialize,
    wait: WaitArgs,
) -> anyhow::Result<String> {
    let created: K = ctx.client.post(&at.base, body).await?;
    created.after_create();
    let path = at.one(&created.id().to_string());
    ctx.settle(&path, created, Goal::Ready, wait).await
}

/// Runs `verb` on the kind `K` whose collection is `at`.
pub async fn run<K: CliKind>(ctx: &Ctx, at: &Paths, verb: ObjectVerb) -> anyhow::Result<String> {
    let (base, path) = (&at.base, |id: &str| at.one(id));
    match verb {
        ObjectVerb::List {
            include_deleted,
            watch,
        } => {
            let url = format!("{base}{}", list_query(include_deleted));
            if watch {
                let separate = ctx.format == OutputFormat::Table;
                return super::watch::watch(separate, || async {
                    ctx.list(&ctx.list_all::<K>(&url).await?)
                })
                .await;
            }
            ctx.list(&ctx.list_all::<K>(&url).await?)
        }
        ObjectVerb::Get { id, watch } => {
            let id = id_of::<K>(ctx, at, &id).await?;
            if watch {
                let separate = ctx.format == OutputFormat::Table;
                let path = path(&id);
                return super::watch::watch(separate, || async {
                    ctx.one(&ctx.client.get::<K>(&path).await?)
                })
                .await;
            }
            let object: K = ctx.client.get(&path(&id)).await?;
            object.after_get();
            ctx.one(&object)
        }
        ObjectVerb::Delete {
            id,
            yes,
            cascade,
            wait,
        } => {
            let id = id_of::<K>(ctx, at, &id).await?;
            if crate::confirm::will_ask(yes) {
                // The question names what goes: read it first (a missing one fails here).
                let object: K = ctx.client.get(&path(&id)).await?;
                let with = if cascade { " and what it holds" } else { "" };
                crate::confirm::ask(&format!(
                    "Delete {} {} ({}){with}?",
                    K::INFO.name,
                    object.name(),
                    object.id()
                ))?;
            }
            let url = match cascade {
                true => format!("{}?cascade=true", path(&id)),
                false => path(&id),
            };
            let deleting: K = ctx.client.delete(&url).await?;
            ctx.settle(&path(&id), deleting, Goal::Deleted, wait).await
        }
        ObjectVerb::Wait { id, timeout } => {
            let id = id_of::<K>(ctx, at, &id).await?;
            let current: K = ctx.client.get(&path(&id)).await?;
            ctx.settle(&path(&id), current, Goal::Ready, timeout.into())
                .await
        }
    }
}
