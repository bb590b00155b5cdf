//! The migration egress: the replicator reaches its source over a peering and nothing
//! else; each denial names its reason, and following the fix turns it into an allow.

use std::collections::HashSet;

use chrono::Utc;

use super::migration::{migration_egress, source_destinations};
use super::tests::{c, World};
use super::*;
use crate::kinds::migration::{new_migration, Migration, MigrationStatus};
use crate::resources::{Provider, Topology};
use crate::state::PeeringStatus;
use crate::{Id, MigrationId};

/// A network with a NATS cluster, lab VPC `customer` (source at .10, another host at
/// .20), and a migration from the source, placed (`copying`).
fn world() -> (World, Migration) {
    let mut w = World::new();
    let network = w.network(Provider::Local, "10.60.0.0/24");
    w.lab_vpc(
        "customer",
        "172.16.0.0/16",
        &[("src", "172.16.0.10"), ("other", "172.16.0.20")],
    );
    w.lab_vpc("island", "172.17.0.0/16", &[("far", "172.17.0.10")]);
    w.cluster(&network, Topology::SingleNode);
    let target = w.snap.clusters.last_mut().unwrap();
    target.engine = "nats".into();
    let body = serde_json::from_value(serde_json::json!({
        "name": "move", "target_cluster_id": target.id.to_string(),
        "source": {"urls": ["nats://172.16.0.10:4222", "nats://172.17.0.10:4222"]}
    }))
    .unwrap();
    let taken: HashSet<_> = target.nodes.iter().map(|n| n.ip).collect();
    let mut m = new_migration(
        MigrationId(Id::from_parts(1_700_000_000, [7; 8])),
        network.project_id,
        &body,
        target,
        &network,
        &taken,
        Utc::now(),
    )
    .unwrap();
    m.status = MigrationStatus::Copying;
    (w, m)
}

fn check(w: &World, m: &Migration, to: &str, port: u16) -> Verdict {
    migration_egress(&w.snap, m, to.parse().unwrap(), port).verdict
}

#[test]
fn the_replicator_reaches_its_source_over_the_peering_and_nothing_else() {
    let (mut w, m) = world();
    let network = w.snap.networks[0].clone();
    w.peering(&network, "customer", &["172.16.0.0/16"]);
    assert_eq!(
        source_destinations(&m),
        [
            ("172.16.0.10".parse().unwrap(), 4222),
            ("172.17.0.10".parse().unwrap(), 4222)
        ]
    );
    let ok = check(&w, &m, "172.16.0.10", 4222);
    assert!(ok.allowed, "{ok:#?}");
    assert!(matches!(ok.hops.first(), Some(Hop::Source { ip, .. }) if *ip == m.worker_ip));
    assert!(ok.hops.contains(&Hop::RouteMatched {
        route: c("172.16.0.0/16")
    }));
    assert!(matches!(
        ok.hops.last(),
        Some(Hop::Server { port: 4222, .. })
    ));
    for (to, port) in [("172.16.0.20", 4222), ("172.16.0.10", 7000)] {
        let denied = check(&w, &m, to, port);
        assert_eq!(denied.reason, Reason::NotInEgress, "{to}:{port}");
        assert!(denied.explanation.contains("172.16.0.10/32 tcp 4222"));
    }
}

#[test]
fn a_source_no_peering_routes_is_told_the_peering_to_create() {
    let (mut w, m) = world();
    let denied = check(&w, &m, "172.17.0.10", 4222);
    assert_eq!(denied.reason, Reason::NoPeering, "{denied:#?}");
    let fix = denied.fix.expect("a fix");
    assert!(
        fix.commands[0].contains("--peer-network island --peer-region local --route 172.17.0.0/16")
    );
    w.apply(&fix.actions[0]);
    assert!(check(&w, &m, "172.17.0.10", 4222).allowed);
}

#[test]
fn a_pending_peering_or_a_transit_route_without_transit_says_so() {
    let (mut w, m) = world();
    let network = w.snap.networks[0].clone();
    let pid = w.peering(&network, "customer", &["172.16.0.0/16"]);
    w.peering_mut(pid).status = PeeringStatus::PendingAcceptance;
    assert_eq!(
        check(&w, &m, "172.16.0.10", 4222).reason,
        Reason::PeeringNotActive
    );
    w.peering_mut(pid).status = PeeringStatus::Active;
    // The island sits behind the customer's gateway: its range is a transit route.
    w.peering_mut(pid).transit_routes = vec![c("172.17.0.0/16")];
    let denied = check(&w, &m, "172.17.0.10", 4222);
    assert_eq!(denied.reason, Reason::GatewayTransitDisabled, "{denied:#?}");
    w.apply(&denied.fix.unwrap().actions[0]);
    let ok = check(&w, &m, "172.17.0.10", 4222);
    assert!(ok.allowed, "{ok:#?}");
    assert!(ok.hops.contains(&Hop::TransitRouteMatched {
        route: c("172.17.0.0/16")
    }));
}

#[test]
fn a_replicator_not_placed_has_no_egress() {
    let (mut w, mut m) = world();
    let network = w.snap.networks[0].clone();
    w.peering(&network, "customer", &["172.16.0.0/16"]);
    for status in [MigrationStatus::Provisioning, MigrationStatus::Deleted] {
        m.status = status;
        let denied = check(&w, &m, "172.16.0.10", 4222);
        assert_eq!(denied.reason, Reason::ReplicatorNotPlaced, "{status}");
    }
    for reason in [Reason::NotInEgress, Reason::ReplicatorNotPlaced] {
        assert_eq!(
            serde_json::to_value(reason).unwrap(),
            serde_json::json!(reason.as_str())
        );
    }
}
