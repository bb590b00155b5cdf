//! `isthmus <kind> list|get|delete|wait`: the verbs every kind has, written once.

use isthmus_core::object::Object;

use super::{list_query, Ctx};
use crate::args::ObjectVerb;
use crate::client::segment;
use crate::kinds::CliKind;
use crate::wait::Goal;

/// `/v1/projects/<project>/<plural>` of the context's project.
pub async fn collection<K: Object>(ctx: &Ctx) -> anyhow::Result<String> {
    Ok(format!("{}/{}", ctx.project_path().await?, K::INFO.plural))
}

/// Runs `verb` on the kind `K` whose collection is at `base`.
pub async fn run<K: CliKind>(ctx: &Ctx, base: &str, verb: ObjectVerb) -> anyhow::Result<String> {
    let path = |id: &str| format!("{base}/{}", segment(id));
    match verb {
        ObjectVerb::List { include_deleted } => {
            let url = format!("{base}{}", list_query(include_deleted));
            ctx.list(&ctx.list_all::<K>(&url).await?)
        }
        ObjectVerb::Get { id } => {
            let object: K = ctx.client.get(&path(&id)).await?;
            object.after_get();
            ctx.one(&object)
        }
        ObjectVerb::Delete { id, wait } => {
            let deleting: K = ctx.client.delete(&path(&id)).await?;
            ctx.settle(&path(&id), deleting, Goal::Deleted, wait).await
        }
        ObjectVerb::Wait { id, timeout } => {
            let current: K = ctx.client.get(&path(&id)).await?;
            ctx.settle(&path(&id), current, Goal::Ready, timeout.into())
                .await
        }
    }
}
