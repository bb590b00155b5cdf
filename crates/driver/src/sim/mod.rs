//! Simulated AWS, GCP and Azure: each cloud with its own peering handshake and its own
//! state, kept apart from the Isthmus store (so drift can happen), with configurable
//! latency and injectable faults. The customer-side methods let tests and demos act as
//! the customer's cloud.
//!
//! The state lives behind one mutex (no `.await` while it is held) and every change is
//! appended to a JSON-lines journal before it is applied, so a restarted server finds the
//! clouds as it left them — the customer's cloud does not forget.

mod driver;
mod endpoint_service;
mod endpoints;
mod handshake;
mod journal;
mod migration;
mod network;
mod nodes;
mod peering;
mod shared;
mod state;
mod vpn;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use isthmus_core::clouds;
use isthmus_core::kinds::endpoint_service::EndpointService;
use isthmus_core::kinds::vpn_client::VpnClient;
use isthmus_core::kinds::vpn_gateway::VpnGateway;
use isthmus_core::resources::{Cluster, Network, Peering, Provider};
use isthmus_core::{Cidr, PeeringId};
use serde::{Deserialize, Serialize};

use crate::Provisioners;
pub use driver::SimCloud;
pub use endpoints::{EndpointRequest, SimEndpointView};
use journal::{Journal, Record};
pub use shared::SharedLog;
use shared::{Shared, Turn};
use state::{SimPeering, SimState};

/// The driver operations a fault can be injected into.
pub const OPERATIONS: &[&str] = &[
    "ensure_network",
    "observe_network",
    "delete_network",
    "ensure_peering",
    "observe_peering",
    "delete_peering",
    "ensure_nodes",
    "observe_nodes",
    "delete_nodes",
    "ensure_vpn_gateway",
    "observe_vpn_gateway",
    "delete_vpn_gateway",
    "ensure_vpn_client",
    "observe_vpn_client",
    "delete_vpn_client",
    "ensure_endpoint_service",
    "observe_endpoint_service",
    "delete_endpoint_service",
];

#[derive(Debug, Clone, Default)]
pub struct SimConfig {
    /// Added to every driver call, as a cloud API's round trip would be.
    pub latency: Duration,
    /// Where the simulated clouds keep their state (so it survives restarts); None = memory only.
    pub journal: Option<PathBuf>,
}

/// A customer's VPC/VNet in a simulated cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerVpc {
    pub cloud: Provider,
    pub account_id: String,
    pub network_id: String,
    pub region: String,
    pub cidr_block: String,
}

/// What a customer can do on their side of a peering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CustomerActionKind {
    /// AWS: accept the peering connection.
    Accept,
    /// Any cloud: refuse the request.
    Reject,
    /// Any cloud: delete the customer's side of an existing peering (drift).
    DeletePeerSide,
    /// GCP: create the reciprocal peering.
    CreateReciprocal,
    /// Azure: grant the platform's principal the role on the VNet.
    GrantRole,
}

/// The simulated cloud's own view of one peering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimPeeringView {
    pub peering_id: PeeringId,
    pub cloud: Provider,
    pub provider_peering_id: String,
    /// The cloud's own state word (e.g. AWS `pending-acceptance`, GCP `INACTIVE`).
    pub state: String,
    pub routes: Vec<String>,
    /// Azure: ranges behind the customer's gateway carried over this peering.
    #[serde(default)]
    pub transit_routes: Vec<String>,
    /// Azure: gateway transit on (hub side allows it, ours uses remote gateways).
    #[serde(default)]
    pub allow_gateway_transit: bool,
    /// Why it is in that state, in the cloud's own terms.
    pub message: String,
}

impl From<&SimPeering> for SimPeeringView {
    fn from(p: &SimPeering) -> Self {
        SimPeeringView {
            peering_id: p.id,
            cloud: p.cloud,
            provider_peering_id: p.provider_peering_id.clone(),
            state: p.state_word().to_string(),
            routes: p.routes.clone(),
            transit_routes: p.transit_routes.clone(),
            allow_gateway_transit: p.allow_gateway_transit,
            message: p.message.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("{0}")]
    NotFound(String),
    /// The action does not exist in that cloud or not in the peering's current state.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// The change could not be journaled (e.g. a full disk), so it was not made.
    #[error("{0}")]
    Unavailable(String),
}

/// The state and its journal (a file, or a log shared with other processes), changed
/// together under one lock (see `shared.rs` for `commit`).
struct Inner {
    state: SimState,
    journal: Option<Journal>,
    shared: Option<Shared>,
}

pub struct SimClouds {
    inner: Mutex<Inner>,
    latency_nanos: AtomicU64,
    /// Operation name → how many of its next calls fail. Not journaled: a fault is a
    /// test's instruction to this process, not a fact of the cloud.
    faults: Mutex<HashMap<String, u32>>,
}

impl SimClouds {
    pub fn open(config: SimConfig) -> anyhow::Result<Arc<SimClouds>> {
        let mut state = SimState::default();
        let journal = match &config.journal {
            Some(path) => {
                let (journal, records) = Journal::open(path)
                    .with_context(|| format!("open the simulated clouds at {}", path.display()))?;
                for r in records {
                    state.apply(r);
                }
                Some(journal)
            }
            None => None,
        };
        Ok(Arc::new(SimClouds {
            inner: Mutex::new(Inner {
                state,
                journal,
                shared: None,
            }),
            latency_nanos: AtomicU64::new(nanos(config.latency)),
            faults: Mutex::new(HashMap::new()),
        }))
    }

    /// Simulated clouds whose state lives in `log`, shared with every other process that
    /// opens it (the replicas of one installation). `config.journal`, when that file
    /// exists and the log is still empty, seeds the log: an installation moved from one
    /// machine to replicas keeps its clouds.
    pub fn open_shared(
        config: SimConfig,
        log: Arc<dyn SharedLog>,
    ) -> anyhow::Result<Arc<SimClouds>> {
        let seed = match &config.journal {
            Some(path) if path.exists() => {
                Journal::open(path)
                    .with_context(|| format!("read the simulated clouds at {}", path.display()))?
                    .1
            }
            _ => Vec::new(),
        };
        let there = log.begin(0).context("read the shared simulated clouds")?;
        if there.is_empty() {
            for record in &seed {
                log.append(serde_json::to_string(record)?)
                    .context("seed the shared simulated clouds")?;
            }
        }
        log.finish().context("seed the shared simulated clouds")?;
        Ok(Arc::new(SimClouds {
            inner: Mutex::new(Inner {
                state: SimState::default(),
                journal: None,
                shared: Some(Shared::new(log)),
            }),
            latency_nanos: AtomicU64::new(nanos(config.latency)),
            faults: Mutex::new(HashMap::new()),
        }))
    }

    /// One simulated cloud (aws, gcp or azure), the provisioner of its networks, peerings
    /// and cluster nodes. The sim has no `local` cloud: that one answers every call with a
    /// permanent error.
    pub fn cloud(self: &Arc<Self>, cloud: Provider) -> Arc<SimCloud> {
        Arc::new(SimCloud::new(self.clone(), cloud))
    }

    /// The provisioners of every kind in each of `clouds`.
    pub fn provisioners(self: &Arc<Self>, clouds: &[Provider]) -> Provisioners {
        clouds.iter().fold(Provisioners::new(), |p, &provider| {
            let cloud = self.cloud(provider);
            p.with::<Network>(provider, cloud.clone())
                .with::<Peering>(provider, cloud.clone())
                .with::<Cluster>(provider, cloud.clone())
                .with::<VpnGateway>(provider, cloud.clone())
                .with::<VpnClient>(provider, cloud.clone())
                .with::<isthmus_core::kinds::migration::Migration>(provider, cloud.clone())
                .with::<EndpointService>(provider, cloud)
        })
    }

    pub fn create_customer_vpc(&self, vpc: CustomerVpc) -> Result<CustomerVpc, SimError> {
        if vpc.cloud == Provider::Local {
            return Err(SimError::Invalid(
                "the simulated clouds are aws, gcp and azure; local peers are lab VPCs".into(),
            ));
        }
        // What the real cloud would refuse: ids in another format, an unknown region,
        // an address space of a size the cloud does not allow.
        let cidr: Cidr = clouds::check_customer_vpc(
            vpc.cloud,
            &vpc.account_id,
            &vpc.network_id,
            &vpc.region,
            &vpc.cidr_block,
        )
        .map_err(|errors| {
            let said: Vec<String> = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect();
            SimError::Invalid(said.join("; "))
        })?;
        let vpc = CustomerVpc {
            cidr_block: cidr.to_string(),
            ..vpc
        };
        let mut inner = self.lock();
        let key = SimState::vpc_key(vpc.cloud, &vpc.account_id, &vpc.network_id);
        if inner.state.vpcs.contains_key(&key) {
            return Err(SimError::Conflict(format!(
                "{} network {} already exists in account {}",
                vpc.cloud, vpc.network_id, vpc.account_id
            )));
        }
        inner
            .commit(Record::CustomerVpc(vpc.clone()))
            .map_err(|e| SimError::Unavailable(format!("{e:#}")))?;
        Ok(vpc)
    }

    pub fn list_customer_vpcs(&self) -> Vec<CustomerVpc> {
        let mut vpcs: Vec<CustomerVpc> = self.lock().state.vpcs.values().cloned().collect();
        vpcs.sort_by(|a, b| {
            (a.cloud.as_str(), &a.account_id, &a.network_id).cmp(&(
                b.cloud.as_str(),
                &b.account_id,
                &b.network_id,
            ))
        });
        vpcs
    }

    pub fn customer_action(
        &self,
        peering: PeeringId,
        action: CustomerActionKind,
    ) -> Result<SimPeeringView, SimError> {
        let mut inner = self.lock();
        let current = inner.state.peerings.get(&peering).ok_or_else(|| {
            SimError::NotFound(format!(
                "no simulated peering connection for peering {peering}"
            ))
        })?;
        let next = handshake::customer_action(current, action)?;
        let view = SimPeeringView::from(&next);
        inner
            .commit(Record::Peering(next))
            .map_err(|e| SimError::Unavailable(format!("{e:#}")))?;
        Ok(view)
    }

    pub fn peering_view(&self, peering: PeeringId) -> Option<SimPeeringView> {
        self.lock()
            .state
            .peerings
            .get(&peering)
            .map(SimPeeringView::from)
    }

    /// Makes the next `count` calls of `operation` (one of [`OPERATIONS`], e.g.
    /// `ensure_peering`) fail transiently; `count` 0 clears it.
    pub fn inject_fault(&self, operation: &str, count: u32) -> Result<(), SimError> {
        if !OPERATIONS.contains(&operation) {
            let hint = clouds::closest(operation, OPERATIONS)
                .map(|c| format!("did you mean '{c}'? "))
                .unwrap_or_default();
            return Err(SimError::Invalid(format!(
                "no driver operation {operation:?}; {hint}(one of {})",
                OPERATIONS.join(", ")
            )));
        }
        let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        if count == 0 {
            faults.remove(operation);
        } else {
            faults.insert(operation.to_string(), count);
        }
        Ok(())
    }

    pub fn set_latency(&self, latency: Duration) {
        self.latency_nanos.store(nanos(latency), Ordering::Relaxed);
    }

    pub fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_nanos.load(Ordering::Relaxed))
    }

    /// Consumes one injected fault of `operation`, if any: returns how many remain.
    fn take_fault(&self, operation: &str) -> Option<u32> {
        let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let left = faults.get_mut(operation)?;
        *left -= 1;
        let remaining = *left;
        if remaining == 0 {
            faults.remove(operation);
        }
        Some(remaining)
    }

    /// The state for one use: this process's lock and, when the clouds are shared, a
    /// turn (caught up with the other processes' records, ended when dropped).
    fn lock(&self) -> Turn<'_> {
        // A panic while holding the lock leaves whole records applied (commit applies
        // after the journal write), so the state is still consistent.
        Turn::start(self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

#[cfg(test)]
mod tests;
