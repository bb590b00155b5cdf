//! The simulated clouds, as the platform's driver and the customer see them.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use isthmus_core::resources::{Cluster, Network, Peering, Provider};
use isthmus_core::{rules, ClusterId, Id, NetworkId, PeeringId, ProjectId};
use serde_json::json;

use super::*;
use crate::{DriverError, NetworkState, NodeState, PeeringState, Provisioner, Teardown};

fn id(n: u8) -> Id {
    Id::from_parts(1_700_000_000, [n; 8])
}

/// An account id in each cloud's format.
fn account(cloud: Provider) -> &'static str {
    match cloud {
        Provider::Aws => ACCOUNT,
        Provider::Gcp => "acme-prod",
        Provider::Azure => "0b1f6471-1bf0-4dda-aec3-111122223333",
        Provider::Local => "lab",
    }
}

fn region(cloud: Provider) -> &'static str {
    match cloud {
        Provider::Aws => "eu-west-1",
        Provider::Gcp => "europe-west1",
        Provider::Azure => "westeurope",
        Provider::Local => "host",
    }
}

const ACCOUNT: &str = "123456789012";
const VPC_ONE: &str = "vpc-0a0b0c01";
const VPC_TWO: &str = "vpc-0a0b0c02";

/// The customer network the tests call `short`, with an id in the cloud's format.
fn net_id(cloud: Provider, short: &str) -> String {
    match (cloud, short) {
        (Provider::Aws, "app") => "vpc-0a0b0c0d".into(),
        (Provider::Aws, "v") => "vpc-0f0f0f0f".into(),
        (Provider::Aws, "clash") => "vpc-0c1a5400".into(),
        (Provider::Aws, "nope") => "vpc-0dead000".into(),
        (Provider::Azure, "v") => "vnet-v".into(),
        _ => short.into(),
    }
}

pub(super) fn network(provider: Provider, cidr: &str) -> Network {
    let req = serde_json::from_value(json!({
        "name": "prod", "provider": provider, "region": region(provider), "cidr_block": cidr
    }))
    .unwrap();
    rules::new_network(NetworkId(id(1)), ProjectId(id(0)), &req, &[], Utc::now()).unwrap()
}

fn peering(net: &Network, n: u8, vpc: &str, routes: &[&str]) -> Peering {
    let cloud = net.provider;
    let req = serde_json::from_value(json!({
        "name": format!("peer-{n}"), "network_id": net.id.to_string(),
        "peer": {"account_id": account(cloud), "network_id": net_id(cloud, vpc), "region": region(cloud)},
        "routes": routes,
    }))
    .unwrap();
    rules::new_peering(PeeringId(id(n)), net.project_id, &req, net, &[], Utc::now()).unwrap()
}

pub(super) fn cluster(net: &Network) -> Cluster {
    let req = serde_json::from_value(json!({
        "name": "db", "network_id": net.id.to_string(), "engine": "nats",
        "topology": "three-node-multi-zone",
    }))
    .unwrap();
    rules::new_cluster(
        ClusterId(id(9)),
        net.project_id,
        &req,
        net,
        &HashSet::new(),
        "isthmus.internal",
        Utc::now(),
    )
    .unwrap()
}

fn vpc(cloud: Provider, name: &str, cidr: &str) -> CustomerVpc {
    CustomerVpc {
        cloud,
        account_id: account(cloud).into(),
        network_id: net_id(cloud, name),
        region: region(cloud).into(),
        cidr_block: cidr.into(),
    }
}

/// A cloud with the platform network 10.20.0.0/16 ready and the customer's VPC
/// `app` (192.168.0.0/16) in account `acct`, and a peering request for it.
async fn requested(cloud: Provider) -> (Arc<SimClouds>, Network, Peering) {
    let sim = SimClouds::open(SimConfig::default()).unwrap();
    sim.create_customer_vpc(vpc(cloud, "app", "192.168.0.0/16"))
        .unwrap();
    let net = network(cloud, "10.20.0.0/16");
    let driver = sim.cloud(cloud);
    assert_eq!(
        driver.ensure(&net, &()).await.unwrap().state,
        NetworkState::Ready
    );
    let p = peering(&net, 2, "app", &["192.168.1.0/24"]);
    driver.ensure(&p, &net).await.unwrap();
    (sim, net, p)
}

async fn observed(sim: &Arc<SimClouds>, net: &Network, p: &Peering) -> PeeringState {
    sim.cloud(net.provider).observe(p, net).await.unwrap().state
}

#[tokio::test]
async fn aws_connection_waits_for_acceptance_then_is_active() {
    let (sim, net, p) = requested(Provider::Aws).await;
    let obs = sim.cloud(Provider::Aws).observe(&p, &net).await.unwrap();
    assert_eq!(obs.state, PeeringState::PendingAcceptance);
    let pcx = obs.provider_peering_id.unwrap();
    assert!(pcx.starts_with("pcx-"), "{pcx}");
    assert_eq!(sim.peering_view(p.id).unwrap().state, "pending-acceptance");

    let view = sim
        .customer_action(p.id, CustomerActionKind::Accept)
        .unwrap();
    assert_eq!(view.state, "active");
    assert_eq!(view.provider_peering_id, pcx);
    assert_eq!(observed(&sim, &net, &p).await, PeeringState::Active);
}

#[tokio::test]
async fn aws_rejected_connection_cannot_be_accepted_afterwards() {
    let (sim, net, p) = requested(Provider::Aws).await;
    assert_eq!(
        sim.customer_action(p.id, CustomerActionKind::Reject)
            .unwrap()
            .state,
        "rejected"
    );
    assert_eq!(observed(&sim, &net, &p).await, PeeringState::RejectedByPeer);
    let err = sim
        .customer_action(p.id, CustomerActionKind::Accept)
        .unwrap_err();
    assert!(
        matches!(err, SimError::Conflict(ref m) if m.contains("is rejected")),
        "{err}"
    );
}

#[tokio::test]
async fn gcp_peering_is_inactive_until_the_reciprocal_peering_exists() {
    let (sim, net, p) = requested(Provider::Gcp).await;
    assert_eq!(observed(&sim, &net, &p).await, PeeringState::PendingPeer);
    assert_eq!(sim.peering_view(p.id).unwrap().state, "INACTIVE");
    let err = sim
        .customer_action(p.id, CustomerActionKind::Accept)
        .unwrap_err();
    assert!(
        matches!(err, SimError::Conflict(ref m) if m.contains("reciprocal")),
        "{err}"
    );

    let view = sim
        .customer_action(p.id, CustomerActionKind::CreateReciprocal)
        .unwrap();
    assert_eq!(view.state, "ACTIVE");
    assert_eq!(observed(&sim, &net, &p).await, PeeringState::Active);
}

#[tokio::test]
async fn azure_peering_waits_for_the_role_grant_then_is_connected() {
    let (sim, net, p) = requested(Provider::Azure).await;
    assert_eq!(observed(&sim, &net, &p).await, PeeringState::PendingPeer);
    let err = sim
        .customer_action(p.id, CustomerActionKind::CreateReciprocal)
        .unwrap_err();
    assert!(matches!(err, SimError::Conflict(_)));

    let view = sim
        .customer_action(p.id, CustomerActionKind::GrantRole)
        .unwrap();
    assert_eq!(view.state, "Connected");
    assert_eq!(observed(&sim, &net, &p).await, PeeringState::Active);
}

#[tokio::test]
async fn azure_gateway_transit_is_recorded_and_connects_the_ranges_behind_the_gateway() {
    let (sim, net, mut p) = requested(Provider::Azure).await;
    let view = sim
        .customer_action(p.id, CustomerActionKind::GrantRole)
        .unwrap();
    assert!(!view.allow_gateway_transit);
    assert!(
        !view.message.contains("remote gateways"),
        "without the flag the peering does not use the customer's gateway: {}",
        view.message
    );

    // The user turns gateway transit on for a VPN-client range behind the hub.
    p.transit_routes = vec!["172.20.0.0/24".parse().unwrap()];
    p.allow_gateway_transit = true;
    let driver = sim.cloud(Provider::Azure);
    let obs = driver.ensure(&p, &net).await.unwrap();
    assert_eq!(
        obs.state,
        PeeringState::Active,
        "a setting change, no new request"
    );
    let view = sim.peering_view(p.id).unwrap();
    assert!(view.allow_gateway_transit);
    assert_eq!(view.transit_routes, vec!["172.20.0.0/24"]);
    assert!(
        view.message.contains("uses remote gateways") && view.message.contains("172.20.0.0/24"),
        "{}",
        view.message
    );

    // And off again: the range stays listed but is no longer reached.
    p.allow_gateway_transit = false;
    driver.ensure(&p, &net).await.unwrap();
    let view = sim.peering_view(p.id).unwrap();
    assert!(!view.allow_gateway_transit);
    assert!(
        !view.message.contains("remote gateways"),
        "{}",
        view.message
    );
}

#[tokio::test]
async fn aws_and_gcp_requests_with_gateway_transit_fail_as_non_transitive() {
    for cloud in [Provider::Aws, Provider::Gcp] {
        let sim = SimClouds::open(SimConfig::default()).unwrap();
        sim.create_customer_vpc(vpc(cloud, "app", "192.168.0.0/16"))
            .unwrap();
        let net = network(cloud, "10.20.0.0/16");
        let driver = sim.cloud(cloud);
        driver.ensure(&net, &()).await.unwrap();
        // The core refuses this; the simulated cloud, asked anyway, refuses too.
        let mut p = peering(&net, 2, "app", &["192.168.1.0/24"]);
        p.transit_routes = vec!["172.20.0.0/24".parse().unwrap()];
        let obs = driver.ensure(&p, &net).await.unwrap();
        assert_eq!(obs.state, PeeringState::Invalid, "{cloud}");
        assert!(obs.message.contains("non-transitive"), "{}", obs.message);
    }
}

#[tokio::test]
async fn aws_has_no_role_grant_and_gcp_and_azure_can_be_rejected() {
    let (aws, _, p) = requested(Provider::Aws).await;
    assert!(matches!(
        aws.customer_action(p.id, CustomerActionKind::GrantRole),
        Err(SimError::Conflict(_))
    ));
    for cloud in [Provider::Gcp, Provider::Azure] {
        let (sim, net, p) = requested(cloud).await;
        sim.customer_action(p.id, CustomerActionKind::Reject)
            .unwrap();
        assert_eq!(observed(&sim, &net, &p).await, PeeringState::RejectedByPeer);
    }
}

#[tokio::test]
async fn a_peer_network_the_cloud_does_not_know_makes_the_request_fail() {
    let sim = SimClouds::open(SimConfig::default()).unwrap();
    let net = network(Provider::Aws, "10.20.0.0/16");
    let driver = sim.cloud(Provider::Aws);
    driver.ensure(&net, &()).await.unwrap();
    let p = peering(&net, 2, "nope", &["192.168.1.0/24"]);
    let obs = driver.ensure(&p, &net).await.unwrap();
    assert_eq!(obs.state, PeeringState::Invalid);
    assert_eq!(
        obs.message,
        "aws network vpc-0dead000 does not exist in account 123456789012"
    );
    assert_eq!(sim.peering_view(p.id).unwrap().state, "failed");
}

#[tokio::test]
async fn a_peer_cidr_overlapping_the_platform_network_makes_the_request_fail() {
    let sim = SimClouds::open(SimConfig::default()).unwrap();
    sim.create_customer_vpc(vpc(Provider::Gcp, "clash", "10.20.128.0/17"))
        .unwrap();
    let net = network(Provider::Gcp, "10.20.0.0/16");
    let driver = sim.cloud(Provider::Gcp);
    driver.ensure(&net, &()).await.unwrap();
    let p = peering(&net, 2, "clash", &["192.168.1.0/24"]);
    let obs = driver.ensure(&p, &net).await.unwrap();
    assert_eq!(obs.state, PeeringState::Invalid);
    assert_eq!(
        obs.message,
        "peer network clash CIDR 10.20.128.0/17 overlaps the platform network CIDR 10.20.0.0/16"
    );
}

#[tokio::test]
async fn customer_deleting_their_side_is_seen_as_deleted_by_peer_and_ensure_requests_anew() {
    let (sim, net, p) = requested(Provider::Aws).await;
    let first = sim
        .customer_action(p.id, CustomerActionKind::Accept)
        .unwrap();
    let view = sim
        .customer_action(p.id, CustomerActionKind::DeletePeerSide)
        .unwrap();
    assert_eq!(view.state, "deleted");
    assert_eq!(observed(&sim, &net, &p).await, PeeringState::DeletedByPeer);

    let again = sim.cloud(Provider::Aws).ensure(&p, &net).await.unwrap();
    assert_eq!(again.state, PeeringState::PendingAcceptance);
    assert_ne!(
        again.provider_peering_id.unwrap(),
        first.provider_peering_id
    );
}

#[tokio::test]
async fn deleting_a_side_that_does_not_exist_yet_is_a_conflict_and_unknown_peerings_are_not_found()
{
    let (sim, _, p) = requested(Provider::Gcp).await;
    assert!(matches!(
        sim.customer_action(p.id, CustomerActionKind::DeletePeerSide),
        Err(SimError::Conflict(_))
    ));
    assert!(matches!(
        sim.customer_action(PeeringId(id(77)), CustomerActionKind::Reject),
        Err(SimError::NotFound(_))
    ));
    assert_eq!(sim.peering_view(PeeringId(id(77))), None);
}

#[tokio::test]
async fn ensure_on_a_live_connection_applies_the_current_routes_and_observe_changes_nothing() {
    let (sim, net, mut p) = requested(Provider::Aws).await;
    let driver = sim.cloud(Provider::Aws);
    let pcx = sim.peering_view(p.id).unwrap().provider_peering_id;
    p.routes = vec![
        "192.168.1.0/24".parse().unwrap(),
        "192.168.2.0/24".parse().unwrap(),
    ];
    driver.observe(&p, &net).await.unwrap();
    assert_eq!(
        sim.peering_view(p.id).unwrap().routes,
        vec!["192.168.1.0/24"]
    );

    let obs = driver.ensure(&p, &net).await.unwrap();
    assert_eq!(obs.state, PeeringState::PendingAcceptance);
    let view = sim.peering_view(p.id).unwrap();
    assert_eq!(view.routes, vec!["192.168.1.0/24", "192.168.2.0/24"]);
    assert_eq!(
        view.provider_peering_id, pcx,
        "same connection, not a new request"
    );
}

#[tokio::test]
async fn deleted_peerings_are_missing_and_networks_cannot_go_while_peerings_remain() {
    let (sim, net, p) = requested(Provider::Aws).await;
    let driver = sim.cloud(Provider::Aws);
    let err = driver.delete(&net, &()).await.unwrap_err();
    assert!(
        err.to_string().contains("still has 1 peering connections"),
        "{err}"
    );

    assert_eq!(driver.delete(&p, &net).await.unwrap(), Teardown::Done);
    assert_eq!(observed(&sim, &net, &p).await, PeeringState::Missing);
    assert_eq!(driver.delete(&p, &net).await.unwrap(), Teardown::Done);
    assert_eq!(driver.delete(&net, &()).await.unwrap(), Teardown::Done);
    let obs = driver.observe(&net, &()).await.unwrap();
    assert_eq!(obs.state, NetworkState::Missing);
}

#[tokio::test]
async fn networks_and_nodes_are_ready_only_after_the_configured_latency() {
    let sim = SimClouds::open(SimConfig {
        latency: Duration::from_millis(20),
        journal: None,
    })
    .unwrap();
    let driver = sim.cloud(Provider::Azure);
    let net = network(Provider::Azure, "10.20.0.0/16");
    let c = cluster(&net);
    let refused = driver.ensure(&c, &net).await;
    assert!(matches!(refused, Err(DriverError::Transient(_))));

    let first = driver.ensure(&net, &()).await.unwrap();
    assert_eq!(first.state, NetworkState::Creating);
    assert!(first
        .provider_network_id
        .unwrap()
        .ends_with(&format!("isthmus-{}", net.id)));

    // The next call pays the latency again, by which time the network is ready.
    assert_eq!(
        driver.observe(&net, &()).await.unwrap().state,
        NetworkState::Ready
    );
    let nodes = driver.ensure(&c, &net).await.unwrap();
    assert_eq!(nodes.len(), 3);
    assert!(nodes.iter().all(|n| n.state == NodeState::Starting));
    let nodes = driver.observe(&c, &net).await.unwrap();
    assert!(nodes.iter().all(|n| n.state == NodeState::Running));

    assert_eq!(driver.delete(&c, &net).await.unwrap(), Teardown::Done);
    let nodes = driver.observe(&c, &net).await.unwrap();
    assert!(nodes.iter().all(|n| n.state == NodeState::Missing));
}

#[tokio::test]
async fn injected_faults_fail_the_next_calls_of_that_operation_only() {
    let (sim, net, p) = requested(Provider::Aws).await;
    let driver = sim.cloud(Provider::Aws);
    sim.inject_fault("observe_peering", 2).unwrap();
    for _ in 0..2 {
        let err = driver.observe(&p, &net).await.unwrap_err();
        assert!(matches!(err, DriverError::Transient(ref m) if m.contains("injected fault")));
        // Other operations are unaffected.
        driver.ensure(&p, &net).await.unwrap();
    }
    assert_eq!(
        observed(&sim, &net, &p).await,
        PeeringState::PendingAcceptance
    );
}

#[tokio::test]
async fn the_sim_has_no_local_cloud() {
    let sim = SimClouds::open(SimConfig::default()).unwrap();
    let net = network(Provider::Local, "10.20.0.0/16");
    let err = sim.cloud(Provider::Local).ensure(&net, &()).await;
    assert!(matches!(err, Err(DriverError::Unsupported(_))));
    assert!(matches!(
        sim.create_customer_vpc(vpc(Provider::Local, "b", "10.0.0.0/8")),
        Err(SimError::Invalid(_))
    ));
}

#[test]
fn the_clouds_refuse_what_the_real_ones_refuse() {
    let sim = SimClouds::open(SimConfig::default()).unwrap();
    let refused = |v: CustomerVpc| match sim.create_customer_vpc(v) {
        Err(SimError::Invalid(m)) => m,
        other => panic!("accepted: {other:?}"),
    };
    let mut mars = vpc(Provider::Aws, "app", "192.168.0.0/16");
    mars.region = "mars-1".into();
    assert!(refused(mars).starts_with("region: 'mars-1' is not a region of AWS; did you mean"));
    let m = refused(vpc(Provider::Aws, "app", "10.0.0.0/8"));
    assert!(m.contains("cidr_block") && m.contains("/16 and /28"), "{m}");
    sim.create_customer_vpc(vpc(Provider::Gcp, "app", "10.0.0.0/8"))
        .expect("GCP takes a /8");
    let mut hostile = vpc(Provider::Aws, "app", "192.168.0.0/16");
    hostile.network_id = "<YOUR_ROUTE_TABLE_ID>".into();
    assert!(refused(hostile).starts_with("network_id: "));
    let mut wrong = vpc(Provider::Azure, "app", "192.168.0.0/16");
    wrong.account_id = ACCOUNT.into();
    wrong.region = "westeuropea".into();
    let m = refused(wrong);
    assert!(
        m.contains("account_id") && m.contains("did you mean 'westeurope'?"),
        "{m}"
    );
}

#[test]
fn faults_name_a_real_operation() {
    let sim = SimClouds::open(SimConfig::default()).unwrap();
    let err = sim.inject_fault("ensure_peerings", 1).unwrap_err();
    assert!(
        err.to_string().contains("did you mean 'ensure_peering'?"),
        "{err}"
    );
    for op in OPERATIONS {
        sim.inject_fault(op, 1).unwrap();
    }
}

#[test]
fn customer_vpcs_are_validated_unique_and_listed() {
    let sim = SimClouds::open(SimConfig::default()).unwrap();
    let err = sim
        .create_customer_vpc(vpc(Provider::Aws, "v", "192.168.0.7/24"))
        .unwrap_err();
    assert!(
        err.to_string().contains("did you mean 192.168.0.0/24"),
        "{err}"
    );
    sim.create_customer_vpc(vpc(Provider::Aws, "v", "192.168.0.0/24"))
        .unwrap();
    assert!(matches!(
        sim.create_customer_vpc(vpc(Provider::Aws, "v", "172.16.0.0/24")),
        Err(SimError::Conflict(_))
    ));
    sim.create_customer_vpc(vpc(Provider::Gcp, "v", "172.16.0.0/24"))
        .unwrap();
    let clouds: Vec<Provider> = sim.list_customer_vpcs().iter().map(|v| v.cloud).collect();
    assert_eq!(clouds, vec![Provider::Aws, Provider::Gcp]);
}

#[tokio::test]
async fn the_clouds_remember_everything_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim/journal.jsonl");
    let config = SimConfig {
        latency: Duration::ZERO,
        journal: Some(path.clone()),
    };
    let net = network(Provider::Aws, "10.20.0.0/16");
    let (p, before) = {
        let sim = SimClouds::open(config.clone()).unwrap();
        sim.create_customer_vpc(vpc(Provider::Aws, "app", "192.168.0.0/16"))
            .unwrap();
        let driver = sim.cloud(Provider::Aws);
        driver.ensure(&net, &()).await.unwrap();
        let p = peering(&net, 2, "app", &["192.168.1.0/24"]);
        driver.ensure(&p, &net).await.unwrap();
        sim.customer_action(p.id, CustomerActionKind::Accept)
            .unwrap();
        let view = sim.peering_view(p.id).unwrap();
        (p, view)
    };

    let sim = SimClouds::open(config.clone()).unwrap();
    assert_eq!(sim.peering_view(p.id).unwrap(), before);
    assert_eq!(sim.list_customer_vpcs().len(), 1);
    assert_eq!(observed(&sim, &net, &p).await, PeeringState::Active);
    let obs = sim.cloud(Provider::Aws).observe(&net, &()).await.unwrap();
    assert_eq!(obs.state, NetworkState::Ready);
}

#[tokio::test]
async fn a_torn_last_journal_line_is_cut_off_and_appends_continue_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let config = SimConfig {
        latency: Duration::ZERO,
        journal: Some(path.clone()),
    };
    {
        let sim = SimClouds::open(config.clone()).unwrap();
        sim.create_customer_vpc(vpc(Provider::Aws, VPC_ONE, "192.168.0.0/24"))
            .unwrap();
    }
    // A crash in the middle of an append leaves half a line.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(br#"{"op":"customer_vpc","cloud":"aw"#);
    std::fs::write(&path, bytes).unwrap();

    {
        let sim = SimClouds::open(config.clone()).unwrap();
        assert_eq!(sim.list_customer_vpcs().len(), 1);
        sim.create_customer_vpc(vpc(Provider::Aws, VPC_TWO, "192.168.1.0/24"))
            .unwrap();
    }
    let sim = SimClouds::open(config).unwrap();
    let names: Vec<String> = sim
        .list_customer_vpcs()
        .into_iter()
        .map(|v| v.network_id)
        .collect();
    assert_eq!(names, vec![VPC_ONE, VPC_TWO]);
}

#[test]
fn a_corrupt_line_in_the_middle_of_the_journal_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    std::fs::write(&path, "not json\n{}\n").unwrap();
    let err = SimClouds::open(SimConfig {
        latency: Duration::ZERO,
        journal: Some(path.clone()),
    })
    .err()
    .unwrap();
    assert!(format!("{err:#}").contains(&path.display().to_string()));
}

#[test]
fn a_garbled_last_record_is_dropped_at_start_but_not_one_in_the_middle() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let config = SimConfig {
        latency: Duration::ZERO,
        journal: Some(path.clone()),
    };
    {
        let sim = SimClouds::open(config.clone()).unwrap();
        sim.create_customer_vpc(vpc(Provider::Aws, VPC_ONE, "192.168.0.0/24"))
            .unwrap();
    }
    let good = std::fs::read(&path).unwrap();
    // What an append behind a torn record used to leave: half a record glued to a whole
    // one, ending in a newline. As the last line it is dropped, with a warning.
    let mut bytes = good.clone();
    bytes.extend_from_slice(br#"{"op":"customer_vpc","cl{"op":"network_deleted"}"#);
    bytes.extend_from_slice(b"\n\0\0\n");
    std::fs::write(&path, &bytes).unwrap();
    {
        let sim = SimClouds::open(config.clone()).unwrap();
        assert_eq!(sim.list_customer_vpcs().len(), 1);
        sim.create_customer_vpc(vpc(Provider::Aws, VPC_TWO, "192.168.1.0/24"))
            .unwrap();
    }
    assert_eq!(
        SimClouds::open(config.clone())
            .unwrap()
            .list_customer_vpcs()
            .len(),
        2
    );

    // The same damage with a record after it is history lost in the middle: an error.
    let mut bytes = good.clone();
    bytes.extend_from_slice(b"{\"op\":\"customer_vpc\",\"cl\n");
    bytes.extend_from_slice(&good);
    std::fs::write(&path, &bytes).unwrap();
    let err = SimClouds::open(config)
        .err()
        .expect("middle damage refuses to start");
    assert!(
        format!("{err:#}").contains(&format!("bad record at byte {}", good.len())),
        "{err:#}"
    );
}

/// A small tmpfs the test mounts itself (root only), unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

#[test]
fn an_append_that_hits_a_full_disk_leaves_no_torn_record_behind() {
    let Some(fs) = Tmpfs::mount("64k") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let path = fs.0.path().join("journal.jsonl");
    let config = SimConfig {
        latency: Duration::ZERO,
        journal: Some(path.clone()),
    };
    let sim = SimClouds::open(config.clone()).unwrap();
    let customer = |n: u32| {
        vpc(
            Provider::Aws,
            &format!("vpc-{n:08x}"),
            &format!("192.168.{n}.0/24"),
        )
    };
    sim.create_customer_vpc(customer(0)).unwrap();
    // Fill the disk: the journal's last page still has room for a few records.
    let filler = fs.0.path().join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        while f.write_all(&[b'x'; 4096]).is_ok() {}
    }
    // Append until the disk is full: the append that does not fit fails part-way.
    let mut made = 1;
    let failed_at = loop {
        assert!(made < 200, "the disk never filled");
        let before = std::fs::metadata(&path).unwrap().len();
        if sim.create_customer_vpc(customer(made)).is_err() {
            break before;
        }
        made += 1;
    };
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        failed_at,
        "the failed append left no bytes behind"
    );
    assert!(sim.create_customer_vpc(customer(made)).is_err());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), failed_at);
    // Space comes back: the next append lands on a record boundary.
    std::fs::remove_file(&filler).unwrap();
    sim.create_customer_vpc(customer(made)).unwrap();
    drop(sim);
    let reopened = SimClouds::open(config).expect("the journal opens after the full disk");
    assert_eq!(reopened.list_customer_vpcs().len(), made as usize + 1);
}
