//! Gateway transit and private allow-lists on real namespaces: a lab VPC behind a hub
//! reaches a cluster only through the hub's peering, only inside its transit routes, and
//! only while the peering allows gateway transit; a private allow-list narrows which
//! peered sources get in. Run as root: `cargo test -p isthmus-driver-local --test transit`.

mod common;

use common::*;
use isthmus_driver::{NodeState, PeeringState};
use isthmus_driver_local::probe::{self, EchoServer};
use isthmus_driver_local::{firewall, netns, LabHostSpec, LabVpc, LabVpcSpec, LocalDriver};

const NODE_IPS: [&str; 2] = ["172.29.96.2", "172.29.96.3"];

async fn lab(d: &LocalDriver, name: &str, cidr_block: &str, behind: Option<&str>) -> LabVpc {
    d.ensure_lab_vpc(&LabVpcSpec {
        name: name.into(),
        cidr: cidr(cidr_block),
        behind: behind.map(str::to_string),
        hosts: vec![LabHostSpec {
            name: "h".into(),
            ip: None,
        }],
    })
    .await
    .unwrap()
}

fn host_ns(vpc: &LabVpc) -> &str {
    &vpc.hosts[0].namespace
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spoke_behind_the_hub_gets_in_only_with_gateway_transit_and_inside_transit_routes() {
    let fx = Fixture::new("istht1");
    let d = &fx.driver;
    let net = network("172.29.96.0/24");
    let db = cluster(&net, &NODE_IPS[..1]);
    d.ensure_network(&net).await.unwrap();
    d.ensure_nodes(&net, &db).await.unwrap();
    let server = EchoServer::start(&d.node_namespace(&db, 0), addr(db.nodes[0].ip, 2113)).unwrap();

    let hub = lab(d, "hub", "172.16.0.0/16", None).await;
    let spoke = lab(d, "spoke", "172.17.0.0/16", Some("hub")).await;
    let vpn = lab(d, "vpn", "172.18.0.0/16", Some("hub")).await;
    let alone = lab(d, "alone", "172.19.0.0/16", None).await;

    let mut link = peering(&net, "hub", &["172.16.0.0/16"]);
    link.transit_routes = vec![cidr("172.17.0.0/16")];
    let seen = d.ensure_peering(&net, &link).await.unwrap();
    assert_eq!(seen.state, PeeringState::Active, "{}", seen.message);
    assert!(
        can_connect(host_ns(&hub), server.addr),
        "the hub's own range"
    );
    assert!(
        !can_connect(host_ns(&spoke), server.addr),
        "allow_gateway_transit false: the spoke behind the hub is dropped"
    );

    let router = d.router_namespace(&net);
    let handles_before = netns::run_in(Some(&router), firewall::read_table)
        .unwrap()
        .rule_handles;
    link.allow_gateway_transit = true;
    let seen = d.ensure_peering(&net, &link).await.unwrap();
    assert_eq!(seen.state, PeeringState::Active, "{}", seen.message);
    assert_eq!(
        netns::run_in(Some(&router), firewall::read_table)
            .unwrap()
            .rule_handles,
        handles_before,
        "turning gateway transit on changes set elements, no rule"
    );
    let mut from_spoke = probe::connect(host_ns(&spoke), server.addr, DENIED_AFTER)
        .expect("allow_gateway_transit true: the spoke inside transit_routes is admitted");
    assert!(still_carries(&mut from_spoke, b"through the hub"));
    assert!(
        !can_connect(host_ns(&vpn), server.addr),
        "a range behind the hub but outside transit_routes is dropped even with the flag"
    );
    assert!(
        !can_connect(host_ns(&alone), server.addr),
        "a lab VPC behind nothing and unpeered has no way in"
    );

    link.allow_gateway_transit = false;
    d.ensure_peering(&net, &link).await.unwrap();
    assert!(
        !still_carries(&mut from_spoke, b"flag off"),
        "turning the flag off cuts the spoke's open connection"
    );
    assert!(can_connect(host_ns(&hub), server.addr));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spoke_peered_directly_uses_its_own_peering() {
    let fx = Fixture::new("istht2");
    let d = &fx.driver;
    let net = network("172.29.96.0/24");
    let db = cluster(&net, &NODE_IPS[..1]);
    d.ensure_network(&net).await.unwrap();
    d.ensure_nodes(&net, &db).await.unwrap();
    let server = EchoServer::start(&d.node_namespace(&db, 0), addr(db.nodes[0].ip, 2113)).unwrap();
    lab(d, "hub", "172.16.0.0/16", None).await;
    let spoke = lab(d, "spoke", "172.17.0.0/16", Some("hub")).await;
    // The hub's peering does not admit the spoke; the spoke's own one does.
    d.ensure_peering(&net, &peering(&net, "hub", &["172.16.0.0/16"]))
        .await
        .unwrap();
    d.ensure_peering(&net, &peering(&net, "spoke", &["172.17.0.0/16"]))
        .await
        .unwrap();
    assert!(
        can_connect(host_ns(&spoke), server.addr),
        "the spoke's own peering route is more specific than its default via the hub"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_allow_list_narrows_peered_sources_per_packet() {
    let fx = Fixture::new("istht3");
    let d = &fx.driver;
    let net = network("172.29.96.0/24");
    let mut db = cluster(&net, &NODE_IPS);
    d.ensure_network(&net).await.unwrap();
    d.ensure_nodes(&net, &db).await.unwrap();
    let servers: Vec<EchoServer> = db
        .nodes
        .iter()
        .map(|n| EchoServer::start(&d.node_namespace(&db, n.index), addr(n.ip, 2113)).unwrap())
        .collect();
    let corp = d
        .ensure_lab_vpc(&LabVpcSpec {
            name: "corp".into(),
            cidr: cidr("172.16.0.0/16"),
            behind: None,
            hosts: vec![
                LabHostSpec {
                    name: "app".into(),
                    ip: Some("172.16.0.10".parse().unwrap()),
                },
                LabHostSpec {
                    name: "laptop".into(),
                    ip: Some("172.16.0.11".parse().unwrap()),
                },
            ],
        })
        .await
        .unwrap();
    let (app, laptop) = (&corp.hosts[0].namespace, &corp.hosts[1].namespace);
    d.ensure_peering(&net, &peering(&net, "corp", &["172.16.0.0/16"]))
        .await
        .unwrap();
    let mut from_laptop = probe::connect(laptop, servers[0].addr, DENIED_AFTER).unwrap();
    assert!(still_carries(&mut from_laptop, b"before"));

    db.private_allowlist = vec![entry("172.16.0.10/32")];
    let seen = d.ensure_nodes(&net, &db).await.unwrap();
    assert!(
        seen.iter().all(|n| n.state == NodeState::Running),
        "{seen:?}"
    );
    for s in &servers {
        assert!(
            can_connect(app, s.addr),
            "the listed source reaches {}",
            s.addr
        );
        assert!(
            !can_connect(laptop, s.addr),
            "a peered source outside the private list is dropped at {}",
            s.addr
        );
    }
    assert!(
        !still_carries(&mut from_laptop, b"after"),
        "narrowing cuts the open connection of a source no longer listed"
    );

    // Replies to a connection a node opens (its egress allow-list) are not narrowed.
    let laptop_ip = corp.hosts[1].ip;
    let sink = EchoServer::start(laptop, addr(laptop_ip, 9000)).unwrap();
    db.egress_allowlist = vec![isthmus_core::resources::EgressRule {
        cidr: cidr(&format!("{laptop_ip}/32")),
        ports: vec![9000],
        comment: String::new(),
    }];
    d.ensure_nodes(&net, &db).await.unwrap();
    assert!(
        can_connect(&d.node_namespace(&db, 0), sink.addr),
        "a node's own connection to an unlisted peered host gets its replies"
    );
    assert!(
        !can_connect(laptop, servers[0].addr),
        "still narrowed inbound"
    );

    db.private_allowlist.clear();
    let seen = d.ensure_nodes(&net, &db).await.unwrap();
    assert!(
        seen.iter().all(|n| n.state == NodeState::Running),
        "{seen:?}"
    );
    assert!(
        can_connect(laptop, servers[0].addr),
        "an empty private list narrows nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_spoke_takes_its_link_and_the_hubs_route_with_it() {
    let fx = Fixture::new("istht4");
    let d = &fx.driver;
    let hub = lab(d, "hub", "172.16.0.0/16", None).await;
    let spoke = lab(d, "spoke", "172.17.0.0/16", Some("hub")).await;
    let on_hub = EchoServer::start(host_ns(&hub), addr(hub.hosts[0].ip, 7000)).unwrap();
    assert!(
        can_connect(host_ns(&spoke), on_hub.addr),
        "the spoke reaches the hub over its link"
    );
    let hub_routes = |hub: LabVpc| {
        netns::netlink_in(Some(&hub.router_namespace), |h| async move {
            isthmus_driver_local::nl::routes(&h).await
        })
        .unwrap()
    };
    assert!(hub_routes(hub.clone())
        .iter()
        .any(|r| r.destination == cidr("172.17.0.0/16")));

    d.delete_lab_vpc("spoke").await.unwrap();
    assert!(
        !hub_routes(hub.clone())
            .iter()
            .any(|r| r.destination == cidr("172.17.0.0/16")),
        "the hub no longer routes the spoke's range"
    );
    let (hub_end, _) = d.names().lab_link("hub", "spoke");
    let hub_ns = hub.router_namespace.clone();
    let link = netns::netlink_in(Some(&hub_ns), move |h| async move {
        isthmus_driver_local::nl::link(&h, &hub_end).await
    })
    .unwrap();
    assert!(
        link.is_none(),
        "the hub's end of the link went with the spoke"
    );
}
