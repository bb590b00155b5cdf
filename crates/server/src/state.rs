//! What every handler shares: the store, the provisioners, the simulated clouds, the
//! controller's queue, the API's settings and its metrics.

use std::path::PathBuf;
use std::sync::Arc;

use isthmus_connect::pki::Ca;
use isthmus_core::object::Object;
use isthmus_core::Id;
use isthmus_driver::sim::SimClouds;
use isthmus_driver::Provisioners;
use isthmus_driver_local::LocalDriver;
use isthmus_store::{ObjectKey, Store};

use crate::controller::ControllerHandle;
use crate::metrics::Metrics;

/// The platform DNS zone when none is configured.
pub const DEFAULT_DNS_ZONE: &str = "isthmus.internal";

#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Cluster DNS names are `<cluster-id>.<dns_zone>`.
    pub dns_zone: String,
    /// The data dir's `admin-token` file: a rotation of the token it holds rewrites it.
    pub admin_token_file: Option<PathBuf>,
    /// `false` (`isthmus serve --no-lab`): every lab route answers 404.
    pub lab_enabled: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            dns_zone: DEFAULT_DNS_ZONE.to_string(),
            admin_token_file: None,
            lab_enabled: true,
        }
    }
}

/// What every handler shares, behind one `Arc`: axum clones the state for every request,
/// and a clone of the fields one by one (the provisioners' map, a dozen reference counts)
/// cost a tenth of a small request's time.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The fields of [`AppState`].
#[derive(Clone)]
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub provisioners: Provisioners,
    pub sim: Arc<SimClouds>,
    pub controller: ControllerHandle,
    pub config: Arc<ApiConfig>,
    pub metrics: Arc<Metrics>,
    /// The `local` provider's driver, when this server runs it (as root): lab VPCs live there.
    pub local: Option<Arc<LocalDriver>>,
    /// The installation CA (`GET …/ca.pem`), when this server runs with one.
    pub ca: Option<Arc<Ca>>,
    /// Waits for the platform DNS to hold every change so far (`GET /v1/dns/synced`).
    pub dns_sync: Option<crate::dns_sync::DnsSync>,
    /// Waits for the lab's resolvers to serve what the lab API just made.
    pub lab_dns: Option<crate::lab_dns::LabDnsSync>,
    /// The runner of `local` migrations' replicators, when this server runs them.
    pub migrations: Option<Arc<crate::migrations::EngineRunner>>,
    /// Which replica runs the controller (`GET /v1/leader`, `/metrics`).
    pub leadership: Arc<crate::leader::Leadership>,
    /// What the API answers from memory; only when `store` tells them of its writes
    /// (a [`CachingStore`](crate::cache::CachingStore)), as `isthmus serve` sets up.
    pub caches: Option<Arc<crate::cache::Caches>>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        provisioners: Provisioners,
        sim: Arc<SimClouds>,
        controller: ControllerHandle,
        config: ApiConfig,
    ) -> Self {
        let leadership = crate::leader::Leadership::single(
            crate::leader::replica_name(),
            &provisioners.providers(),
        );
        AppState(Arc::new(Shared {
            store,
            provisioners,
            sim,
            controller,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            local: None,
            ca: None,
            dns_sync: None,
            lab_dns: None,
            migrations: None,
            leadership,
            caches: None,
        }))
    }

    /// The same state with the runner of local migrations' replicators.
    pub fn with_migrations(
        mut self,
        migrations: Option<Arc<crate::migrations::EngineRunner>>,
    ) -> Self {
        Arc::make_mut(&mut self.0).migrations = migrations;
        self
    }

    /// The same state with the installation CA.
    pub fn with_ca(mut self, ca: Arc<Ca>) -> Self {
        Arc::make_mut(&mut self.0).ca = Some(ca);
        self
    }

    /// The same state with the platform DNS's sync handle.
    pub fn with_dns_sync(mut self, sync: crate::dns_sync::DnsSync) -> Self {
        Arc::make_mut(&mut self.0).dns_sync = Some(sync);
        self
    }

    /// The same state with the lab resolvers' sync handle (with the local provider).
    pub fn with_lab_dns(mut self, sync: Option<crate::lab_dns::LabDnsSync>) -> Self {
        Arc::make_mut(&mut self.0).lab_dns = sync;
        self
    }

    /// The same state with who leads (several replicas on PostgreSQL).
    pub fn with_leadership(mut self, leadership: Arc<crate::leader::Leadership>) -> Self {
        Arc::make_mut(&mut self.0).leadership = leadership;
        self
    }

    /// The same state with the API's caches, which `store` must keep current.
    pub fn with_caches(mut self, caches: Arc<crate::cache::Caches>) -> Self {
        Arc::make_mut(&mut self.0).caches = Some(caches);
        self
    }

    /// The same state with the `local` provider's driver (for the lab API).
    pub fn with_local(mut self, local: Option<Arc<LocalDriver>>) -> Self {
        Arc::make_mut(&mut self.0).local = local;
        self
    }

    /// Wakes the controller for a resource the API just changed.
    pub fn enqueue<K: Object>(&self, id: Id) {
        self.controller.enqueue(ObjectKey::of::<K>(id));
    }
}
