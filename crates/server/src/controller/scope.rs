//! Which resources a controller reconciles. On SQLite one controller reconciles them all.
//! With several replicas each provider's resources are reconciled under that provider's
//! lease, by a replica that has its driver, and what belongs to no provider under the
//! controller lease: a controller then skips every key outside its scope, so another
//! replica's provider is never touched here.
//!
//! A resource's provider is the `provider` of its stored document, or else that of its
//! owner (a peering's network, a cluster's network, a migration's network), found by
//! walking the owners. It never changes for an object, so it is remembered per id.

use std::collections::HashMap;
use std::sync::Mutex;

use isthmus_core::resources::Provider;
use isthmus_core::Id;
use isthmus_store::{ObjectKey, Store, StoreError};

/// The resources one controller reconciles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every resource (SQLite, and tests).
    All,
    /// Only the resources of this provider.
    Provider(Provider),
    /// Only the resources that belong to no provider.
    NoProvider,
}

impl Scope {
    /// The name used in metrics and logs: `all`, a provider's name, or `none`.
    pub fn label(&self) -> &'static str {
        match self {
            Scope::All => "all",
            Scope::Provider(p) => p.as_str(),
            Scope::NoProvider => "none",
        }
    }
}

/// Owners are at most this deep (a node of a cluster of a network); a longer chain is a
/// cycle in damaged data, and its resource belongs to no provider.
const MAX_DEPTH: usize = 6;

/// Decides whether a key is in a controller's scope, remembering each resource's provider.
pub(crate) struct ScopeFilter {
    scope: Scope,
    known: Mutex<HashMap<Id, Option<Provider>>>,
}

impl ScopeFilter {
    pub fn new(scope: Scope) -> ScopeFilter {
        ScopeFilter {
            scope,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// Whether this controller reconciles `key`. A read error counts as "yes" for the
    /// scope that may own it only if the scope is `All`; otherwise the key is skipped and
    /// the resync brings it back.
    pub async fn admits(&self, store: &dyn Store, key: ObjectKey) -> bool {
        let wanted = match self.scope {
            Scope::All => return true,
            Scope::Provider(p) => Some(p),
            Scope::NoProvider => None,
        };
        match self.provider_of(store, key).await {
            Ok(provider) => provider == wanted,
            Err(e) => {
                tracing::warn!(?key, error = %e, "could not tell the resource's provider; skipped until the next resync");
                false
            }
        }
    }

    async fn provider_of(
        &self,
        store: &dyn Store,
        key: ObjectKey,
    ) -> Result<Option<Provider>, StoreError> {
        if let Some(known) = self.lock().get(&key.id) {
            return Ok(*known);
        }
        let mut next = Some((key.kind, key.id));
        let mut provider = None;
        for _ in 0..MAX_DEPTH {
            let Some((kind, id)) = next.take() else { break };
            if let Some(known) = self.lock().get(&id) {
                provider = *known;
                break;
            }
            let Some(doc) = store.docs().get_doc(kind, id).await? else {
                // Not remembered: this replica may not have read it yet (its caches
                // follow the feed), and a later look finds it.
                return Ok(None);
            };
            let body: serde_json::Value = serde_json::from_str(&doc.body)
                .map_err(|e| StoreError::Backend(anyhow::anyhow!("decode {kind} {id}: {e}")))?;
            if let Some(p) = body.get("provider") {
                provider = serde_json::from_value(p.clone()).ok();
                break;
            }
            next = doc
                .owner
                .and_then(|(owner, _)| owner_kind(kind).map(|k| (k, owner)));
        }
        self.lock().insert(key.id, provider);
        Ok(provider)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Id, Option<Provider>>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The kind of the objects that own objects of `kind`, from the registry.
fn owner_kind(kind: &str) -> Option<&'static str> {
    crate::kinds::kind(kind).and_then(|k| k.info().owner.map(|o| o.kind))
}

#[cfg(test)]
mod tests {
    use isthmus_core::resources::{Network, Peering};

    use super::*;
    use crate::controller::tests::Harness;

    #[tokio::test]
    async fn a_resource_belongs_to_its_own_provider_or_to_its_owners() {
        let h = Harness::new().await;
        let store = &*h.store;
        let net = h.network("net").await; // a `local` network
        let peering = h.peering(&net).await;
        let (net, peering) = (
            ObjectKey::of::<Network>(net.id.0),
            ObjectKey::of::<Peering>(peering.id.0),
        );
        let local = ScopeFilter::new(Scope::Provider(Provider::Local));
        let aws = ScopeFilter::new(Scope::Provider(Provider::Aws));
        let none = ScopeFilter::new(Scope::NoProvider);
        let all = ScopeFilter::new(Scope::All);
        for key in [net, peering] {
            assert!(local.admits(store, key).await, "{key:?} is local's");
            assert!(!aws.admits(store, key).await, "{key:?} is not aws's");
            assert!(!none.admits(store, key).await, "{key:?} has a provider");
            assert!(all.admits(store, key).await);
        }
        // A resource the store does not hold belongs to no provider: the controller
        // lease's replica looks at it (and finds nothing to do).
        let unknown = ObjectKey::of::<Network>(isthmus_store::ids::new_id());
        assert!(none.admits(store, unknown).await);
        assert!(!local.admits(store, unknown).await);
    }
}
