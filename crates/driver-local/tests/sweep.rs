//! Orphan removal: kernel objects under the prefix that no known resource accounts for.

mod common;

use common::*;
use isthmus_core::resources::{Cluster, Network, Peering};
use isthmus_driver::{NodeState, PeeringState, Provisioner};
use isthmus_driver_local::{KnownObjects, LabHostSpec, LabVpcSpec, LocalConfig, LocalDriver};

/// What the store accounts for when it holds these objects: each one's names, as the
/// local provisioner of its kind gives them.
fn known(
    d: &LocalDriver,
    networks: &[Network],
    peerings: &[Peering],
    clusters: &[Cluster],
) -> KnownObjects {
    let mut known = KnownObjects::new();
    for n in networks {
        known.claim(Provisioner::<Network>::owned_names(d, n));
    }
    for p in peerings {
        known.claim(Provisioner::<Peering>::owned_names(d, p));
    }
    for c in clusters {
        known.claim(Provisioner::<Cluster>::owned_names(d, c));
    }
    known
}

#[tokio::test(flavor = "multi_thread")]
async fn sweep_removes_what_no_known_resource_accounts_for() {
    let fx = Fixture::new("isthb1");
    let d = &fx.driver;
    let net = network("172.29.98.0/24");
    let db = cluster(&net, &["172.29.98.2", "172.29.98.3", "172.29.98.4"]);
    d.ensure_network(&net).await.unwrap();
    d.ensure_nodes(&net, &db).await.unwrap();
    d.ensure_lab_vpc(&LabVpcSpec {
        name: "customer".into(),
        cidr: cidr("172.16.0.0/16"),
        behind: None,
        hosts: vec![LabHostSpec {
            name: "app".into(),
            ip: None,
        }],
    })
    .await
    .unwrap();
    let link = peering(&net, "customer", &["172.16.0.0/16"]);
    assert_eq!(
        d.ensure_peering(&net, &link).await.unwrap().state,
        PeeringState::Active
    );

    let everything = known(
        d,
        std::slice::from_ref(&net),
        std::slice::from_ref(&link),
        std::slice::from_ref(&db),
    );
    let report = d.sweep_orphans(&everything).await.unwrap();
    assert_eq!(
        report.removed,
        Vec::<String>::new(),
        "nothing is orphaned while all is known"
    );

    // The cluster and the peering are gone from the store (say, deleted while we were down).
    let only_network = known(d, std::slice::from_ref(&net), &[], &[]);
    let report = d.sweep_orphans(&only_network).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    for index in 0..3 {
        let ns = d.node_namespace(&db, index);
        assert!(
            report.removed.contains(&format!("namespace {ns}")),
            "{report:?}"
        );
    }
    // Either end of the veth may be the one removed (the other goes with it).
    let ends = [
        d.names().peering_link(&link.id.to_string()),
        d.names().peering_peer_link(&link.id.to_string()),
    ];
    assert!(
        report
            .removed
            .iter()
            .any(|r| ends.iter().any(|end| r.contains(end))),
        "{report:?}"
    );
    assert!(report
        .removed
        .iter()
        .any(|r| r.contains(&d.names().peering_chain(&link.id.to_string()))));
    assert!(d
        .observe_nodes(&net, &db)
        .await
        .unwrap()
        .iter()
        .all(|n| n.state == NodeState::Missing));
    assert_eq!(
        d.observe_peering(&net, &link).await.unwrap().state,
        PeeringState::Missing
    );
    assert!(
        fx.namespaces().contains(&d.router_namespace(&net)),
        "the known network stays"
    );

    // A lab VPC that another driver instance made (and this one never registered) is an orphan.
    let other = LocalDriver::new(LocalConfig {
        prefix: "isthb1".into(),
    })
    .unwrap();
    let ghost = other
        .ensure_lab_vpc(&LabVpcSpec {
            name: "ghost".into(),
            cidr: cidr("172.20.0.0/16"),
            behind: None,
            hosts: vec![],
        })
        .await
        .unwrap();
    let report = d.sweep_orphans(&KnownObjects::new()).await.unwrap();
    assert!(
        report
            .removed
            .contains(&format!("namespace {}", ghost.router_namespace)),
        "{report:?}"
    );
    assert!(report
        .removed
        .contains(&format!("namespace {}", d.router_namespace(&net))));
    let left = fx.namespaces();
    let customer = d.lab_vpc("customer").unwrap();
    assert_eq!(
        left.len(),
        2,
        "only the registered lab VPC remains: {left:?}"
    );
    assert!(left.contains(&customer.router_namespace));
    assert!(left.contains(&customer.hosts[0].namespace));
}

#[tokio::test(flavor = "multi_thread")]
async fn sweep_removes_forgotten_endpoints_uplinks_and_internet_hosts() {
    let fx = Fixture::new("isthb2");
    let d = &fx.driver;
    let net = network("172.29.94.0/24");
    let mut db = cluster(&net, &["172.29.94.2"]);
    open_public(&mut db, "198.18.0.9", &["203.0.113.0/24"]);
    d.ensure_network(&net).await.unwrap();
    d.ensure_nodes(&net, &db).await.unwrap();
    let host = d
        .add_internet_host(&LabHostSpec {
            name: "a".into(),
            ip: None,
        })
        .await
        .unwrap();
    let everything = known(
        d,
        std::slice::from_ref(&net),
        &[],
        std::slice::from_ref(&db),
    );
    let report = d.sweep_orphans(&everything).await.unwrap();
    assert_eq!(report.removed, Vec::<String>::new(), "nothing is orphaned");

    // The cluster is forgotten: its endpoint chains and the internet's route to it go.
    let only_network = known(d, std::slice::from_ref(&net), &[], &[]);
    let report = d.sweep_orphans(&only_network).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let public_chain = d.names().public_chain(&db.id.to_string());
    assert!(
        report.removed.iter().any(|r| r.contains(&public_chain)),
        "{report:?}"
    );
    assert!(
        report.removed.iter().any(|r| r.contains("198.18.0.9")),
        "{report:?}"
    );

    // An internet host another driver instance made is an orphan; registered ones stay.
    let other = LocalDriver::new(LocalConfig {
        prefix: "isthb2".into(),
    })
    .unwrap();
    let ghost = other
        .add_internet_host(&LabHostSpec {
            name: "ghost".into(),
            ip: Some("203.0.113.99".parse().unwrap()),
        })
        .await
        .unwrap();
    let report = d.sweep_orphans(&KnownObjects::new()).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        report
            .removed
            .contains(&format!("namespace {}", ghost.namespace)),
        "{report:?}"
    );
    let mut left = fx.namespaces();
    left.sort();
    let mut expected = vec![d.internet_namespace(), host.namespace.clone()];
    expected.sort();
    assert_eq!(
        left, expected,
        "the internet and its registered host remain; the forgotten network's router and \
         uplink are gone"
    );
}
