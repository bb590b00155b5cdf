//! Fixtures for the rule tests: resources built through the core's own constructors, so
//! the tests exercise the same path the store takes.

#![allow(dead_code)] // each test target uses its own subset

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, TimeZone, Utc};
use isthmus_core::resources::*;
use isthmus_core::rules;
use isthmus_core::state::{ClusterStatus, NetworkStatus, PeeringStatus};
use isthmus_core::{CoreError, FieldError, Id, ProjectId};

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap()
}

/// A fresh id per call, so resources never share one by accident.
pub fn id<T: From<Id>>() -> T {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let [a, b, c, d] = NEXT.fetch_add(1, Ordering::Relaxed).to_be_bytes();
    T::from(Id::from_parts(1_700_000_000, [a, b, c, d, 0, 0, 0, 7]))
}

pub fn project() -> ProjectId {
    ProjectId::from(Id::from_parts(1_700_000_000, [0, 0, 0, 0, 0, 0, 0, 1]))
}

pub fn network_request(provider: Provider, region: &str, cidr: &str) -> NetworkCreate {
    NetworkCreate {
        name: format!("net-{cidr}"),
        provider,
        region: region.to_string(),
        cidr_block: cidr.to_string(),
    }
}

/// A valid network of `project()`, still provisioning.
pub fn network(provider: Provider, region: &str, cidr: &str) -> Network {
    rules::new_network(
        id(),
        project(),
        &network_request(provider, region, cidr),
        &[],
        now(),
    )
    .expect("fixture network is valid")
}

/// An AWS peer (ids in AWS's formats).
pub fn peer(region: &str) -> PeerSpec {
    PeerSpec {
        account_id: "123456789012".into(),
        network_id: "vpc-0abc1234".into(),
        region: region.into(),
    }
}

/// A peer in the formats of `network`'s provider.
pub fn peer_for(network: &Network) -> PeerSpec {
    let region = network.region.clone();
    match network.provider {
        Provider::Aws => peer(&region),
        Provider::Gcp => PeerSpec {
            account_id: "acme-prod".into(),
            network_id: "default".into(),
            region,
        },
        Provider::Azure => PeerSpec {
            account_id: "0b1f6471-1bf0-4dda-aec3-111122223333".into(),
            network_id: "app-vnet".into(),
            region,
        },
        Provider::Local => PeerSpec {
            account_id: "lab".into(),
            network_id: "customer".into(),
            region,
        },
    }
}

/// A region of `provider`'s catalog.
pub fn region_of(provider: Provider) -> &'static str {
    match provider {
        Provider::Aws => "us-east-1",
        Provider::Gcp => "us-central1",
        Provider::Azure => "westeurope",
        Provider::Local => "host",
    }
}

pub fn peering_request(network: &Network, routes: &[&str]) -> PeeringCreate {
    PeeringCreate {
        transit_routes: Vec::new(),
        name: "to-customer".into(),
        network_id: network.id.to_string(),
        peer: peer_for(network),
        routes: routes.iter().map(|r| r.to_string()).collect(),
        allow_gateway_transit: false,
    }
}

/// A valid peering on `network` with `routes`, put in `status`.
pub fn peering(network: &Network, routes: &[&str], status: PeeringStatus) -> Peering {
    let mut p = rules::new_peering(
        id(),
        project(),
        &peering_request(network, routes),
        network,
        &[],
        now(),
    )
    .expect("fixture peering is valid");
    p.status = status;
    p
}

pub fn cluster_request(network: &Network, engine: &str, topology: Topology) -> ClusterCreate {
    ClusterCreate {
        private_allowlist: None,
        name: "orders".into(),
        network_id: network.id.to_string(),
        engine: engine.into(),
        topology,
        public_access: None,
        egress_allowlist: None,
    }
}

pub fn cluster(network: &Network, name: &str, status: ClusterStatus) -> Cluster {
    let mut req = cluster_request(network, "probe", Topology::SingleNode);
    req.name = name.into();
    let mut c = rules::new_cluster(
        id(),
        project(),
        &req,
        network,
        &HashSet::new(),
        "isthmus.internal",
        now(),
    )
    .expect("fixture cluster is valid");
    c.status = status;
    c
}

pub fn with_status(mut n: Network, status: NetworkStatus) -> Network {
    n.status = status;
    n
}

/// The single field error of a 422, as (field, rule, message).
pub fn invalid(err: CoreError) -> (String, String, String) {
    let errors = all_invalid(err);
    assert_eq!(errors.len(), 1, "expected one field error, got {errors:?}");
    let e = &errors[0];
    (e.field.clone(), e.rule.clone(), e.message.clone())
}

/// Every field error of a 422.
pub fn all_invalid(err: CoreError) -> Vec<FieldError> {
    match err {
        CoreError::Invalid(errors) => errors,
        other => panic!("expected a validation error (422), got {other:?}"),
    }
}

/// A 409, as (field, rule, message).
pub fn conflict(err: CoreError) -> (Option<String>, String, String) {
    match err {
        CoreError::Conflict {
            field,
            rule,
            message,
        } => (field, rule, message),
        other => panic!("expected a conflict (409), got {other:?}"),
    }
}
