//! The registry: every resource kind this server serves, in one list. Everything that
//! iterates over kinds (reconcile dispatch, API routes and the OpenAPI document, DNS
//! records, the sweep's known kernel objects, the console's pages) reads [`KINDS`].
//!
//! Adding a kind is one line in [`KINDS`]; the kind's own files implement the traits that
//! [`Entry`]'s `impl` requires, and the compiler names any that is missing.

use std::marker::PhantomData;

use isthmus_core::object::{KindInfo, Object};
use isthmus_core::resources::{Cluster, Network, Peering};

use crate::api::resources::ApiKind;
use crate::api::Routes;
use crate::console::descriptor::{ConsoleKind, Descriptor};
use crate::dns_records::{publisher_of, PublishesDns, RecordSetsOfBody};

/// Every kind, owners before what they own.
pub static KINDS: &[&dyn ErasedKind] = &[
    &Entry::<Network>(PhantomData),
    &Entry::<Peering>(PhantomData),
    &Entry::<Cluster>(PhantomData),
];

/// What the server does with a kind, without naming its type.
pub trait ErasedKind: Send + Sync {
    fn info(&self) -> KindInfo;

    // ---- surfaces: the API, its OpenAPI document, the console ----
    /// Adds the kind's create, list, get, update and delete routes.
    fn routes(&self, routes: Routes) -> Routes;
    /// Adds the kind's schemas and operations to the OpenAPI document.
    fn document(&self, doc: &mut utoipa::openapi::OpenApi);
    /// What the console's script draws the kind's pages from.
    fn console(&self) -> Descriptor;

    // ---- DNS ----
    /// How an object of this kind (its stored JSON) becomes DNS record sets; `None` when
    /// the kind publishes no names, so the DNS never reads its objects.
    fn dns_records(&self) -> Option<RecordSetsOfBody>;
}

/// A registered kind `K`.
pub struct Entry<K>(PhantomData<fn() -> K>);

impl<K: Object + ApiKind + ConsoleKind + PublishesDns> ErasedKind for Entry<K> {
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

    // ---- DNS ----
    fn dns_records(&self) -> Option<RecordSetsOfBody> {
        publisher_of::<K>()
    }
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
