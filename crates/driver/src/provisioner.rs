//! A provisioner per (provider, kind): the provider's hands for one kind of object, and
//! the registry the controller finds them in. A provider that has no provisioner for a
//! kind cannot provision it, and says so: adding a kind that only one provider supports
//! touches no other provider's code.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use isthmus_core::object::Object;
use isthmus_core::resources::Provider;

use crate::{DriverError, Result};

/// A kind a provider can provision: what its provisioner is handed besides the object,
/// and what it reports.
pub trait Provisioned: Object {
    /// The object this one is made from at the provider (the network under a peering);
    /// `()` for a kind that lives in a project only.
    type Owner: Send + Sync;
    /// What `ensure` and `observe` report.
    type Observation: Send;
}

/// The result of a delete: gone, or still tearing down (call again later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Teardown {
    Done,
    InProgress,
}

/// One provider's hands for the objects of kind `K`. Every call is idempotent: `ensure`
/// makes one step toward the desired state and reports what it sees, `observe` only
/// looks, `delete` tears down and says whether anything remains.
#[async_trait]
pub trait Provisioner<K: Provisioned>: Send + Sync + 'static {
    async fn ensure(&self, obj: &K, owner: &K::Owner) -> Result<K::Observation>;
    async fn observe(&self, obj: &K, owner: &K::Owner) -> Result<K::Observation>;
    async fn delete(&self, obj: &K, owner: &K::Owner) -> Result<Teardown>;

    /// The names of the provider objects `obj` accounts for while it is live, for a
    /// provider that sweeps its orphans (the local driver: namespaces, links, firewall
    /// chains). A provider without a sweep names none.
    fn owned_names(&self, _obj: &K) -> Vec<String> {
        Vec::new()
    }
}

/// The provisioners of this installation, by (provider, kind). Cheap to clone (the API's
/// state is cloned for every request): the map is shared, and copied only while it is
/// being built.
#[derive(Clone, Default)]
pub struct Provisioners {
    /// Each value is an `Arc<dyn Provisioner<K>>` for the kind named in its key.
    by_kind: Arc<HashMap<(Provider, &'static str), AnyProvisioner>>,
}

/// An `Arc<dyn Provisioner<K>>`, its kind erased.
type AnyProvisioner = Arc<dyn Any + Send + Sync>;

impl Provisioners {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `provisioner` as `provider`'s for kind `K` (replacing any before it).
    pub fn with<K: Provisioned>(
        mut self,
        provider: Provider,
        provisioner: Arc<dyn Provisioner<K>>,
    ) -> Self {
        Arc::make_mut(&mut self.by_kind).insert((provider, K::INFO.name), Arc::new(provisioner));
        self
    }

    /// Every provisioner of `other` too (its entries win).
    pub fn merge(mut self, other: Provisioners) -> Self {
        let theirs = other.by_kind.iter().map(|(k, v)| (*k, v.clone()));
        Arc::make_mut(&mut self.by_kind).extend(theirs);
        self
    }

    /// `provider`'s provisioner for kind `K`, or `Unsupported` when there is none.
    pub fn get<K: Provisioned>(&self, provider: Provider) -> Result<Arc<dyn Provisioner<K>>> {
        self.find(provider).ok_or_else(|| {
            DriverError::Unsupported(format!(
                "{provider} cannot provision {} in this installation",
                K::INFO.plural
            ))
        })
    }

    /// Every provider with at least one provisioner here: those this installation has a
    /// driver for, in a stable order.
    pub fn providers(&self) -> Vec<Provider> {
        let mut providers: Vec<Provider> = self.by_kind.keys().map(|(p, _)| *p).collect();
        providers.sort_by_key(|p| p.as_str());
        providers.dedup();
        providers
    }

    /// `provider`'s provisioner for kind `K`, if it has one.
    pub fn find<K: Provisioned>(&self, provider: Provider) -> Option<Arc<dyn Provisioner<K>>> {
        self.by_kind
            .get(&(provider, K::INFO.name))
            .and_then(|p| p.downcast_ref::<Arc<dyn Provisioner<K>>>())
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isthmus_core::resources::{Cluster, Network, Peering};

    struct Nothing;

    #[async_trait]
    impl Provisioner<Network> for Nothing {
        async fn ensure(&self, _: &Network, _: &()) -> Result<crate::NetworkObservation> {
            Err(DriverError::Transient("unused".into()))
        }
        async fn observe(&self, _: &Network, _: &()) -> Result<crate::NetworkObservation> {
            Err(DriverError::Transient("unused".into()))
        }
        async fn delete(&self, _: &Network, _: &()) -> Result<Teardown> {
            Ok(Teardown::Done)
        }
    }

    #[test]
    fn a_kind_a_provider_cannot_provision_is_unsupported_and_says_so() {
        let p = Provisioners::new().with::<Network>(Provider::Local, Arc::new(Nothing));
        assert!(p.find::<Network>(Provider::Local).is_some());
        let Err(e) = p.get::<Peering>(Provider::Local) else {
            panic!("local has no peering provisioner here");
        };
        assert_eq!(
            e,
            DriverError::Unsupported("local cannot provision peerings in this installation".into())
        );
        assert!(e.is_permanent());
        assert!(p.get::<Network>(Provider::Aws).is_err());
        assert!(p.find::<Cluster>(Provider::Local).is_none());
    }
}
