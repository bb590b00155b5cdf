//! The controller's one door to the store: load an object of a kind, save its status if
//! it changed, list what an object owns. Everything else in the controller is generic
//! over [`Object`]; only this file knows today's `Store` methods and its `Resource`
//! enum, so moving to the document store's typed facade changes this file alone.

use isthmus_core::kinds::endpoint_service::EndpointService;
use isthmus_core::object::Object;
use isthmus_core::resources::{Cluster, Network, Peering};
use isthmus_core::{Id, NetworkId};
use isthmus_store::{Actor, Kind, Resource, ResourceKey, Store, StoreError};

type Result<T> = std::result::Result<T, StoreError>;

/// A kind the store keeps: how it is wrapped in and unwrapped from today's `Resource`.
pub trait Stored: Object {
    const KIND: Kind;
    fn into_resource(self) -> Resource;
    fn from_resource(resource: Resource) -> Option<Self>;
}

macro_rules! stored {
    ($ty:ty, $variant:ident) => {
        impl Stored for $ty {
            const KIND: Kind = Kind::$variant;
            fn into_resource(self) -> Resource {
                Resource::$variant(self)
            }
            fn from_resource(resource: Resource) -> Option<Self> {
                match resource {
                    Resource::$variant(obj) => Some(obj),
                    _ => None,
                }
            }
        }
    };
}
stored!(Network, Network);
stored!(Peering, Peering);
stored!(Cluster, Cluster);
stored!(EndpointService, EndpointService);

/// The queue key of the object `id` of kind `K`.
pub fn key<K: Stored>(id: Id) -> ResourceKey {
    ResourceKey { kind: K::KIND, id }
}

/// The registered name of a key's kind.
pub fn kind_name(key: ResourceKey) -> &'static str {
    key.kind.as_str()
}

/// The object `id` of kind `K`, deleted or not; `None` when the store has none.
pub async fn load<K: Stored>(store: &dyn Store, id: Id) -> Result<Option<K>> {
    Ok(store.load(key::<K>(id)).await?.and_then(K::from_resource))
}

/// Saves the controller's view `next` if it differs from `before` (what was read), with
/// compare-and-swap on the version; returns what is stored.
pub async fn save<K: Stored>(store: &dyn Store, before: &K, next: K) -> Result<K> {
    if &next == before {
        return Ok(next);
    }
    let saved = store
        .save_status(&Actor::controller(), &next.into_resource())
        .await?;
    Ok(K::from_resource(saved).expect("saving an object returns one of its kind"))
}

/// Every key the resync looks at: objects not yet `deleted`.
pub async fn live(store: &dyn Store) -> Result<Vec<ResourceKey>> {
    store.list_live().await
}

/// The live objects (any kind) that the object `owner` of kind `owner_kind` owns.
pub async fn children_of(
    store: &dyn Store,
    owner_kind: &str,
    owner: Id,
) -> Result<Vec<ResourceKey>> {
    if owner_kind == Cluster::INFO.name {
        let services: Vec<EndpointService> = isthmus_store::api::Api::new(store.docs())
            .owned_by(owner)
            .await?;
        return Ok(services
            .iter()
            .map(|s| key::<EndpointService>(s.id.0))
            .collect());
    }
    if owner_kind != Network::INFO.name {
        return Ok(Vec::new());
    }
    let network = NetworkId(owner);
    let peerings = store.peerings_of(network).await?;
    let clusters = store.clusters_of(network).await?;
    Ok(peerings
        .iter()
        .map(|p| key::<Peering>(p.id.0))
        .chain(clusters.iter().map(|c| key::<Cluster>(c.id.0)))
        .collect())
}
