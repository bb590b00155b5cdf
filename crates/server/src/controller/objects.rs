//! The controller's door to the store, for objects of any kind: through the typed facade
//! [`Api`] when the kind is known, through the document store's keys when it is not
//! (what an object owns may be of kinds this code never names).

use isthmus_core::object::Object;
use isthmus_core::Id;
use isthmus_store::api::{Admit, Api};
use isthmus_store::{Actor, ObjectKey, Store, StoreError};

type Result<T> = std::result::Result<T, StoreError>;

/// The object `id` of kind `K`, deleted or not; `None` when the store has none.
pub async fn load<K: Object>(store: &dyn Store, id: Id) -> Result<Option<K>> {
    Api::<K>::new(store.docs()).load(id).await
}

/// Saves the controller's view `next` if it differs from `before` (what was read), with
/// compare-and-swap on the version; returns what is stored.
pub async fn save<K: Admit>(store: &dyn Store, before: &K, next: K) -> Result<K> {
    if &next == before {
        return Ok(next);
    }
    Api::<K>::new(store.docs())
        .save_status(&Actor::controller(), &next)
        .await
}

/// Every key the resync looks at: objects not yet `deleted`.
pub async fn live(store: &dyn Store) -> Result<Vec<ObjectKey>> {
    store.list_live().await
}

/// The live objects, of any kind, that the object `owner` owns directly (the store keeps
/// each object's owner id, whatever its kind).
pub async fn children_of(store: &dyn Store, owner: Id) -> Result<Vec<ObjectKey>> {
    let owned = store.docs().owned_docs(owner, None).await?;
    Ok(owned.iter().map(|doc| doc.key()).collect())
}
