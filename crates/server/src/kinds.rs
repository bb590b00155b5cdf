//! The registry: every resource kind this server serves, in one list. Everything that
//! iterates over kinds (reconcile dispatch, API routes and the OpenAPI document, DNS
//! records, the sweep's known kernel objects, the console's pages) reads [`KINDS`].
//!
//! Adding a kind is one line in [`KINDS`]; the kind's own files implement the traits that
//! [`Entry`]'s `impl` requires, and the compiler names any that is missing.

use std::marker::PhantomData;

use async_trait::async_trait;
use isthmus_core::kinds::endpoint_service::EndpointService;
use isthmus_core::kinds::migration::Migration;
use isthmus_core::kinds::vpn_client::VpnClient;
use isthmus_core::kinds::vpn_gateway::VpnGateway;
use isthmus_core::object::{KindInfo, Object};
use isthmus_core::resources::{Cluster, Network, Peering, Provider};
use isthmus_core::Id;
use isthmus_driver::{Provisioned, Provisioners};
use isthmus_store::Store;

use crate::api::resources::ApiKind;
use crate::api::Routes;
use crate::console::descriptor::{ConsoleKind, Descriptor};
use crate::controller::{Action, Context, Reconcile, ReconcileError, Retry};
use crate::dns_records::{publisher_of, PublishesDns, RecordSetsOfBody};

/// Every kind, owners before what they own.
pub static KINDS: &[&dyn ErasedKind] = &[
    &Entry::<Network>(PhantomData),
    &Entry::<Peering>(PhantomData),
    &Entry::<Cluster>(PhantomData),
    &Entry::<EndpointService>(PhantomData),
    &Entry::<Migration>(PhantomData),
    &Entry::<VpnGateway>(PhantomData),
    &Entry::<VpnClient>(PhantomData),
];

/// What the server does with a kind, without naming its type.
#[async_trait]
pub trait ErasedKind: Send + Sync {
    fn info(&self) -> KindInfo;

    // ---- surfaces: the API, its OpenAPI document, the console ----
    /// Adds the kind's create, list, get, update and delete routes.
    fn routes(&self, routes: Routes) -> Routes;
    /// Adds the kind's schemas and operations to the OpenAPI document.
    fn document(&self, doc: &mut utoipa::openapi::OpenApi);
    /// What the console's script draws the kind's pages from.
    fn console(&self) -> Descriptor;
    /// Deletes the object `id` of `project` as the delete route does (a project's
    /// delete with cascade runs it for each of the project's objects).
    async fn delete(
        &self,
        state: &crate::state::AppState,
        actor: &isthmus_store::Actor,
        project: isthmus_core::ProjectId,
        id: Id,
        cascade: bool,
    ) -> crate::api::ApiResult<()>;

    // ---- DNS ----
    /// How an object of this kind (its stored JSON) becomes DNS record sets; `None` when
    /// the kind publishes no names, so the DNS never reads its objects.
    fn dns_records(&self) -> Option<RecordSetsOfBody>;

    // ---- controller ----
    /// One reconcile of the object `id` of this kind (see `controller::runner`).
    async fn reconcile(&self, ctx: &Context, id: Id) -> Result<Action, ReconcileError>;

    /// Whether `provider` has a provisioner of this kind in `provisioners`.
    fn provisioned_by(&self, provisioners: &Provisioners, provider: Provider) -> bool;

    /// Records a failed reconcile on the object `id`, best effort.
    async fn record_error(&self, ctx: &Context, id: Id, err: &ReconcileError, retry: Retry);

    /// The names of the provider objects that the object `id` accounts for at `provider`,
    /// as its provisioner there says (none when the provider has no provisioner of this
    /// kind, or the store no such object): what the local driver's orphan sweep keeps.
    async fn owned_names(
        &self,
        store: &dyn Store,
        provisioners: &Provisioners,
        provider: Provider,
        id: Id,
    ) -> anyhow::Result<Vec<String>>;

    // ---- store upgrades ----
    /// Claims the names of objects stored before names were claimed; returns the names
    /// several live objects of a project share (see `Api::claim_names`).
    async fn claim_names(&self, store: &dyn Store) -> anyhow::Result<Vec<String>>;
}

/// A registered kind `K`.
pub struct Entry<K>(PhantomData<fn() -> K>);

#[async_trait]
impl<K: Object + ApiKind + ConsoleKind + PublishesDns + Reconcile + Provisioned> ErasedKind
    for Entry<K>
{
    fn info(&self) -> KindInfo {
        K::INFO
    }

    // ---- surfaces ----
    fn routes(&self, routes: Routes) -> Routes {
        crate::api::resources::routes::<K>(routes)
    }
    fn document(&self, doc: &mut utoipa::openapi::OpenApi) {
        crate::api::openapi::add_kind::<K>(doc)
    }
    fn console(&self) -> Descriptor {
        Descriptor::of::<K>()
    }
    async fn delete(
        &self,
        state: &crate::state::AppState,
        actor: &isthmus_store::Actor,
        project: isthmus_core::ProjectId,
        id: Id,
        cascade: bool,
    ) -> crate::api::ApiResult<()> {
        crate::api::resources::delete_object::<K>(state, actor, project, id, None, cascade)
            .await
            .map(drop)
    }

    // ---- DNS ----
    fn dns_records(&self) -> Option<RecordSetsOfBody> {
        publisher_of::<K>()
    }

    // ---- controller ----
    async fn reconcile(&self, ctx: &Context, id: Id) -> Result<Action, ReconcileError> {
        crate::controller::run::<K>(ctx, id).await
    }

    fn provisioned_by(&self, provisioners: &Provisioners, provider: Provider) -> bool {
        provisioners.find::<K>(provider).is_some()
    }

    async fn record_error(&self, ctx: &Context, id: Id, err: &ReconcileError, retry: Retry) {
        crate::controller::record_error::<K>(ctx, id, err, retry).await
    }

    async fn owned_names(
        &self,
        store: &dyn Store,
        provisioners: &Provisioners,
        provider: Provider,
        id: Id,
    ) -> anyhow::Result<Vec<String>> {
        let Some(provisioner) = provisioners.find::<K>(provider) else {
            return Ok(Vec::new());
        };
        let obj = crate::controller::load::<K>(store, id)
            .await
            .map_err(|e| anyhow::anyhow!("load {} {id}: {e}", K::INFO.name))?;
        Ok(obj.map_or_else(Vec::new, |obj| provisioner.owned_names(&obj)))
    }

    async fn claim_names(&self, store: &dyn Store) -> anyhow::Result<Vec<String>> {
        isthmus_store::api::Api::<K>::new(store.docs())
            .claim_names()
            .await
            .map_err(|e| anyhow::anyhow!("claim the names of {}: {e}", K::INFO.plural))
    }
}

/// At start-up: every kind's objects claim their names, so the name rule sees objects
/// stored before it. Names shared from then are reported, not refused: the upgrade never
/// fails, and renaming all but one ends the sharing.
pub async fn claim_names(store: &dyn Store) -> anyhow::Result<()> {
    for kind in KINDS {
        for shared in kind.claim_names(store).await? {
            eprintln!(
                "warning: {shared}; give them names of their own (names are unique from now on)"
            );
        }
    }
    Ok(())
}

/// The registered kind called `name`.
pub fn kind(name: &str) -> Option<&'static dyn ErasedKind> {
    KINDS.iter().copied().find(|k| k.info().name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_distinct_names_and_owners_come_first() {
        for (i, k) in KINDS.iter().enumerate() {
            let info = k.info();
            assert!(
                KINDS[..i].iter().all(|e| e.info().name != info.name),
                "{} registered twice",
                info.name
            );
            if let Some(owner) = info.owner {
                assert!(
                    KINDS[..i].iter().any(|e| e.info().name == owner.kind),
                    "{}'s owner {} must be registered before it",
                    info.name,
                    owner.kind
                );
            }
        }
    }
}
