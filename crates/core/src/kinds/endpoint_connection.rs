//! The connections of an endpoint service: one per endpoint a customer made in their own
//! VPC. Each has our status beside the provider's own word for it (AWS
//! `pendingAcceptance`, GCP `PENDING`, Azure `Pending`, …), and the operator's decision
//! (accept, reject), which is spec: the controller carries it to the provider.
//!
//! Connections are not a kind of their own: the provider creates them (the customer
//! does, on their side), so they live inside their service and change with its status
//! saves, which keeps them under the service's version (a decision and an observation
//! never overwrite each other).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::object::Settled;
use crate::resources::Provider;
use crate::CoreError;

/// Where a connection stands, in our words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// The customer's endpoint exists; the operator has not accepted it yet.
    PendingAcceptance,
    /// Accepted: traffic flows from the customer's endpoint to the cluster.
    Available,
    /// Refused by the operator (or its principal was removed): its flows are cut.
    Rejected,
    /// The customer deleted their endpoint.
    Disconnected,
    /// The provider refused it (principal not allowed, request expired); see the message.
    Failed,
    /// The service is going away and takes the connection with it.
    Deleting,
    Deleted,
}

impl ConnectionStatus {
    pub const ALL: &'static [ConnectionStatus] = &[
        ConnectionStatus::PendingAcceptance,
        ConnectionStatus::Available,
        ConnectionStatus::Rejected,
        ConnectionStatus::Disconnected,
        ConnectionStatus::Failed,
        ConnectionStatus::Deleting,
        ConnectionStatus::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        use ConnectionStatus::*;
        match self {
            PendingAcceptance => "pending_acceptance",
            Available => "available",
            Rejected => "rejected",
            Disconnected => "disconnected",
            Failed => "failed",
            Deleting => "deleting",
            Deleted => "deleted",
        }
    }

    pub fn allowed_next(self) -> &'static [ConnectionStatus] {
        use ConnectionStatus::*;
        match self {
            PendingAcceptance => &[Available, Rejected, Disconnected, Failed, Deleting],
            Available => &[Rejected, Disconnected, Failed, Deleting],
            // A refused endpoint stays refused; the customer may still delete it.
            Rejected | Failed => &[Disconnected, Deleting],
            Disconnected => &[Deleting],
            Deleting => &[Deleted],
            Deleted => &[],
        }
    }

    /// Waiting on the operator's decision is settled (nothing moves until they act).
    pub fn phase(self) -> Settled {
        use ConnectionStatus::*;
        match self {
            PendingAcceptance | Available | Deleted => Settled::Done,
            Rejected | Disconnected | Failed => Settled::Failed,
            Deleting => Settled::Moving,
        }
    }

    /// Moves to `to` if the machine allows it (staying put always is).
    pub fn transition(self, to: ConnectionStatus) -> Result<ConnectionStatus, CoreError> {
        if self == to || self.allowed_next().contains(&to) {
            Ok(to)
        } else {
            Err(CoreError::IllegalTransition {
                kind: "endpoint connection",
                from: self.as_str().to_string(),
                to: to.as_str().to_string(),
            })
        }
    }

    /// Traffic may flow: only an available connection.
    pub fn carries_traffic(self) -> bool {
        self == ConnectionStatus::Available
    }

    /// The provider's own word for this status, as its console shows it. `failed` is
    /// AWS `failed` (its `expired` also maps to `failed`, see [`Self::from_provider`]).
    pub fn provider_word(self, provider: Provider) -> &'static str {
        use ConnectionStatus::*;
        match (provider, self) {
            (Provider::Aws, PendingAcceptance) => "pendingAcceptance",
            (Provider::Aws, Available) => "available",
            (Provider::Aws, Rejected) => "rejected",
            (Provider::Aws, Disconnected) => "deleted",
            (Provider::Aws, Failed) => "failed",
            (Provider::Aws, Deleting) => "deleting",
            (Provider::Aws, Deleted) => "deleted",
            (Provider::Gcp, PendingAcceptance) => "PENDING",
            (Provider::Gcp, Available) => "ACCEPTED",
            (Provider::Gcp, Rejected) => "REJECTED",
            (Provider::Gcp, Disconnected | Deleting | Deleted) => "CLOSED",
            (Provider::Gcp, Failed) => "NEEDS_ATTENTION",
            (Provider::Azure, PendingAcceptance) => "Pending",
            (Provider::Azure, Available) => "Approved",
            (Provider::Azure, Rejected | Failed) => "Rejected",
            (Provider::Azure, Disconnected | Deleting | Deleted) => "Disconnected",
            (Provider::Local, s) => s.as_str(),
        }
    }

    /// Our status for the provider's word; `None` for a word the provider does not use.
    pub fn from_provider(provider: Provider, word: &str) -> Option<ConnectionStatus> {
        use ConnectionStatus::*;
        match (provider, word) {
            (Provider::Aws, "pendingAcceptance" | "pending") => Some(PendingAcceptance),
            (Provider::Aws, "available") => Some(Available),
            (Provider::Aws, "rejected") => Some(Rejected),
            (Provider::Aws, "failed" | "expired") => Some(Failed),
            (Provider::Aws, "deleting") => Some(Deleting),
            (Provider::Aws, "deleted") => Some(Disconnected),
            (Provider::Gcp, "PENDING") => Some(PendingAcceptance),
            (Provider::Gcp, "ACCEPTED") => Some(Available),
            (Provider::Gcp, "REJECTED") => Some(Rejected),
            (Provider::Gcp, "CLOSED") => Some(Disconnected),
            (Provider::Gcp, "NEEDS_ATTENTION") => Some(Failed),
            (Provider::Azure, "Pending") => Some(PendingAcceptance),
            (Provider::Azure, "Approved") => Some(Available),
            (Provider::Azure, "Rejected") => Some(Rejected),
            (Provider::Azure, "Disconnected") => Some(Disconnected),
            (Provider::Local, w) => ConnectionStatus::ALL
                .iter()
                .copied()
                .find(|s| s.as_str() == w),
            _ => None,
        }
    }
}

impl std::fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The operator's verdict on a connection: spec, carried to the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Nobody decided yet (with `acceptance_required`, the connection waits).
    Undecided,
    Accepted,
    Rejected,
}

/// One customer endpoint connected to the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EndpointConnection {
    /// Ours, stable: `epc-` and 16 hex digits derived from the service and the endpoint.
    pub id: String,
    /// The provider's id of the customer's endpoint (`vpce-…`, a forwarding rule, a
    /// private endpoint), or the lab endpoint's name on `local`.
    pub endpoint_id: String,
    /// Who asked: the customer's AWS account, GCP project, Azure subscription or lab VPC.
    pub principal: String,
    /// The customer's VPC/VNet the endpoint sits in.
    pub network: String,
    pub status: ConnectionStatus,
    /// The provider's own word for the status.
    pub provider_state: String,
    /// Why it is in this status (for `failed`: the reason).
    pub status_message: String,
    pub decision: Decision,
    /// Connections opened through it so far, and bytes both ways, where the provider
    /// counts them (`local` does; the simulated clouds report 0).
    #[serde(default)]
    pub connections: u64,
    #[serde(default)]
    pub bytes: u64,
    pub created_at: DateTime<Utc>,
}

/// A connection as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedConnection {
    pub endpoint_id: String,
    pub principal: String,
    pub network: String,
    /// The provider's word (see [`ConnectionStatus::from_provider`]).
    pub provider_state: String,
    pub message: String,
    pub connections: u64,
    pub bytes: u64,
}

/// Our id of the connection of `endpoint_id` to the service `service` (FNV-1a: stable
/// across restarts, so an observation finds the connection it updates).
pub fn connection_id(service: &str, endpoint_id: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in service.bytes().chain([0]).chain(endpoint_id.bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("epc-{h:016x}")
}

/// The connections as the provider reports them now, keeping what only we know (ids,
/// decisions, creation times). A connection the provider no longer reports was deleted
/// by the customer (`disconnected`), or finished deleting (`deleted`). A word the
/// provider should not say, or a move the machine refuses, leaves the status as it was
/// and says so in the message.
pub fn merge_observed(
    provider: Provider,
    service: &str,
    known: &[EndpointConnection],
    observed: &[ObservedConnection],
    now: DateTime<Utc>,
) -> Vec<EndpointConnection> {
    let mut out = Vec::with_capacity(known.len().max(observed.len()));
    for seen in observed {
        let current = known.iter().find(|c| c.endpoint_id == seen.endpoint_id);
        let mut next = current.cloned().unwrap_or_else(|| EndpointConnection {
            id: connection_id(service, &seen.endpoint_id),
            endpoint_id: seen.endpoint_id.clone(),
            principal: seen.principal.clone(),
            network: seen.network.clone(),
            status: ConnectionStatus::PendingAcceptance,
            provider_state: String::new(),
            status_message: String::new(),
            decision: Decision::Undecided,
            connections: 0,
            bytes: 0,
            created_at: now,
        });
        next.provider_state = seen.provider_state.clone();
        next.status_message = seen.message.clone();
        next.connections = seen.connections;
        next.bytes = seen.bytes;
        match ConnectionStatus::from_provider(provider, &seen.provider_state) {
            Some(to) if current.is_none() => next.status = to,
            Some(to) => match next.status.transition(to) {
                Ok(to) => next.status = to,
                Err(e) => next.status_message = format!("{e}; the provider says {}", seen.message),
            },
            None => {
                next.status_message = format!(
                    "{provider} reports the unknown state {:?}: {}",
                    seen.provider_state, seen.message
                )
            }
        }
        out.push(next);
    }
    for gone in known
        .iter()
        .filter(|c| !observed.iter().any(|o| o.endpoint_id == c.endpoint_id))
    {
        let mut next = gone.clone();
        let to = match gone.status {
            ConnectionStatus::Deleting | ConnectionStatus::Deleted => ConnectionStatus::Deleted,
            _ => ConnectionStatus::Disconnected,
        };
        if next.status != to && next.status.transition(to).is_ok() {
            next.status = to;
            next.provider_state = to.provider_word(provider).to_string();
            next.status_message = match to {
                ConnectionStatus::Deleted => "deleted with the service".into(),
                _ => "the customer deleted the endpoint".into(),
            };
        }
        out.push(next);
    }
    out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    out
}

#[cfg(test)]
#[path = "endpoint_connection_tests.rs"]
mod tests;
