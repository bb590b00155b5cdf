//! Local peerings on real namespaces: who can connect to the cluster's nodes, and when.
//! Run as root: `cargo test -p isthmus-driver-local`.

mod common;

use common::*;
use isthmus_driver::{NetworkState, NodeState, PeeringState};
use isthmus_driver_local::probe::{self, EchoServer};
use isthmus_driver_local::{firewall, netns, nl, LabHostSpec, LabVpcSpec};

fn firewall_in(router_ns: &str) -> firewall::Table {
    netns::run_in(Some(router_ns), firewall::read_table).unwrap()
}

const NODE_IPS: [&str; 3] = ["172.29.98.2", "172.29.98.3", "172.29.98.4"];

fn host(name: &str, ip: Option<&str>) -> LabHostSpec {
    LabHostSpec {
        name: name.into(),
        ip: ip.map(|ip| ip.parse().unwrap()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lab_hosts_reach_nodes_only_while_the_peering_is_active() {
    let fx = Fixture::new("istha1");
    let d = &fx.driver;
    let net = network("172.29.98.0/24");
    let db = cluster(&net, &NODE_IPS);

    assert_eq!(
        d.observe_network(&net).await.unwrap().state,
        NetworkState::Missing
    );
    assert_eq!(
        d.ensure_network(&net).await.unwrap().state,
        NetworkState::Ready
    );
    let nodes = d.ensure_nodes(&net, &db).await.unwrap();
    assert!(
        nodes.iter().all(|n| n.state == NodeState::Running),
        "{nodes:?}"
    );

    let customer = d
        .ensure_lab_vpc(&LabVpcSpec {
            name: "customer".into(),
            cidr: cidr("172.16.0.0/16"),
            behind: None,
            hosts: vec![host("app", None)],
        })
        .await
        .unwrap();
    let app = customer.hosts[0].clone();
    assert_eq!(
        app.ip.to_string(),
        "172.16.0.2",
        "first free address after the lab gateway"
    );
    let stranger = d
        .ensure_lab_vpc(&LabVpcSpec {
            name: "stranger".into(),
            cidr: cidr("172.18.0.0/16"),
            behind: None,
            hosts: vec![host("h", None)],
        })
        .await
        .unwrap();

    let servers: Vec<EchoServer> = db
        .nodes
        .iter()
        .map(|n| EchoServer::start(&d.node_namespace(&db, n.index), addr(n.ip, 2113)).unwrap())
        .collect();

    for s in &servers {
        assert!(
            !can_connect(&app.namespace, s.addr),
            "no peering yet: {} must be unreachable",
            s.addr
        );
    }

    let link = peering(&net, "customer", &["172.16.0.0/16"]);
    let seen = d.ensure_peering(&net, &link).await.unwrap();
    assert_eq!(seen.state, PeeringState::Active, "{}", seen.message);
    for s in &servers {
        assert!(
            can_connect(&app.namespace, s.addr),
            "peered lab host must reach node {}",
            s.addr
        );
        assert!(
            !can_connect(&stranger.hosts[0].namespace, s.addr),
            "an unpeered VPC never reaches {}",
            s.addr
        );
    }

    d.delete_peering(&net, &link).await.unwrap();
    assert_eq!(
        d.observe_peering(&net, &link).await.unwrap().state,
        PeeringState::Missing
    );
    for s in &servers {
        assert!(
            !can_connect(&app.namespace, s.addr),
            "after delete_peering {} is unreachable again",
            s.addr
        );
    }

    d.delete_nodes(&net, &db).await.unwrap();
    assert!(d
        .observe_nodes(&net, &db)
        .await
        .unwrap()
        .iter()
        .all(|n| n.state == NodeState::Missing));
    d.delete_network(&net).await.unwrap();
    assert_eq!(
        d.observe_network(&net).await.unwrap().state,
        NetworkState::Missing
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_route_update_admits_the_new_range_and_keeps_open_connections() {
    let fx = Fixture::new("istha2");
    let d = &fx.driver;
    let net = network("172.29.98.0/24");
    let db = cluster(&net, &NODE_IPS);
    d.ensure_network(&net).await.unwrap();
    d.ensure_nodes(&net, &db).await.unwrap();
    // One customer VPC holding both ranges: 172.30.0.0/16 and 172.31.128.0/17.
    let vpc = d
        .ensure_lab_vpc(&LabVpcSpec {
            name: "corp".into(),
            cidr: cidr("172.30.0.0/15"),
            behind: None,
            hosts: vec![
                host("old", Some("172.30.0.10")),
                host("new", Some("172.31.128.10")),
            ],
        })
        .await
        .unwrap();
    let (old, new) = (&vpc.hosts[0].namespace, &vpc.hosts[1].namespace);
    let server = EchoServer::start(&d.node_namespace(&db, 0), addr(db.nodes[0].ip, 2113)).unwrap();

    let mut link = peering(&net, "corp", &["172.30.0.0/16"]);
    assert_eq!(
        d.ensure_peering(&net, &link).await.unwrap().state,
        PeeringState::Active
    );
    let mut open = probe::connect(old, server.addr, DENIED_AFTER).expect("172.30.x is routed");
    assert_eq!(probe::round_trip(&mut open, b"before").unwrap(), b"before");
    assert!(
        !can_connect(new, server.addr),
        "172.31.128.0/17 is not in the routes yet"
    );

    let router = d.router_namespace(&net);
    let rules_before = firewall_in(&router).rule_handles;
    link.routes.push(cidr("172.31.128.0/17"));
    assert_eq!(
        d.ensure_peering(&net, &link).await.unwrap().state,
        PeeringState::Active
    );
    assert_eq!(
        firewall_in(&router).rule_handles,
        rules_before,
        "a route update rewrites no rule"
    );
    let set = d.names().peering_set(&link.id.to_string());
    let allowed = netns::run_in(Some(&router), move || firewall::read_set(&set))
        .unwrap()
        .unwrap();
    assert!(
        allowed.contains(&Ok(cidr("172.31.128.0/17"))),
        "the new range is an element of the allowed set"
    );
    assert!(
        can_connect(new, server.addr),
        "172.31.128.0/17 is admitted after the update"
    );
    assert_eq!(
        probe::round_trip(&mut open, b"after").unwrap(),
        b"after",
        "a connection from an unchanged range survives the route update"
    );

    link.routes.pop();
    d.ensure_peering(&net, &link).await.unwrap();
    assert!(
        !can_connect(new, server.addr),
        "a removed range is refused again"
    );
    assert_eq!(probe::round_trip(&mut open, b"still").unwrap(), b"still");
}

#[tokio::test(flavor = "multi_thread")]
async fn peerings_are_not_transitive() {
    let fx = Fixture::new("istha3");
    let d = &fx.driver;
    let net = network("172.29.98.0/24");
    let db = cluster(&net, &NODE_IPS);
    d.ensure_network(&net).await.unwrap();
    d.ensure_nodes(&net, &db).await.unwrap();
    let hub = d
        .ensure_lab_vpc(&LabVpcSpec {
            name: "hub".into(),
            cidr: cidr("172.16.0.0/16"),
            behind: None,
            hosts: vec![host("h", None)],
        })
        .await
        .unwrap();
    let spoke = d
        .ensure_lab_vpc(&LabVpcSpec {
            name: "spoke".into(),
            cidr: cidr("172.17.0.0/16"),
            behind: None,
            hosts: vec![host("s", None)],
        })
        .await
        .unwrap();
    let to_hub = peering(&net, "hub", &["172.16.0.0/16"]);
    let to_spoke = peering(&net, "spoke", &["172.17.0.0/16"]);
    assert_eq!(
        d.ensure_peering(&net, &to_hub).await.unwrap().state,
        PeeringState::Active
    );
    assert_eq!(
        d.ensure_peering(&net, &to_spoke).await.unwrap().state,
        PeeringState::Active
    );
    let servers: Vec<EchoServer> = db
        .nodes
        .iter()
        .take(2)
        .map(|n| EchoServer::start(&d.node_namespace(&db, n.index), addr(n.ip, 2113)).unwrap())
        .collect();

    // The customer links spoke to hub and sends spoke's traffic for node 0 through the hub.
    d.link_lab_vpcs("hub", "spoke").await.unwrap();
    d.route_lab_vpc_via("spoke", cidr(&format!("{}/32", db.nodes[0].ip)), "hub")
        .await
        .unwrap();

    assert!(
        can_connect(&hub.hosts[0].namespace, servers[0].addr),
        "the hub's own range is admitted"
    );
    assert!(
        can_connect(&spoke.hosts[0].namespace, servers[1].addr),
        "spoke over its own peering is admitted"
    );
    assert!(
        !can_connect(&spoke.hosts[0].namespace, servers[0].addr),
        "spoke's source arriving over the hub's peering is dropped, though spoke is peered too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_reach_peered_hosts_only_where_the_egress_allowlist_says() {
    let fx = Fixture::new("istha4");
    let d = &fx.driver;
    let net = network("172.29.98.0/24");
    let mut db = cluster(&net, &NODE_IPS[..1]);
    d.ensure_network(&net).await.unwrap();
    d.ensure_nodes(&net, &db).await.unwrap();
    let vpc = d
        .ensure_lab_vpc(&LabVpcSpec {
            name: "customer".into(),
            cidr: cidr("172.16.0.0/16"),
            behind: None,
            hosts: vec![host("sink", None)],
        })
        .await
        .unwrap();
    let sink = &vpc.hosts[0];
    let allowed = EchoServer::start(&sink.namespace, addr(sink.ip, 9000)).unwrap();
    let other_port = EchoServer::start(&sink.namespace, addr(sink.ip, 9001)).unwrap();
    d.ensure_peering(&net, &peering(&net, "customer", &["172.16.0.0/16"]))
        .await
        .unwrap();
    let node = d.node_namespace(&db, 0);

    assert!(
        !can_connect(&node, allowed.addr),
        "nodes open no connections into peered VPCs by default"
    );

    db.egress_allowlist = vec![isthmus_core::resources::EgressRule {
        cidr: cidr(&format!("{}/32", sink.ip)),
        ports: vec![9000],
        comment: "replication target".into(),
    }];
    d.ensure_nodes(&net, &db).await.unwrap();
    assert!(
        can_connect(&node, allowed.addr),
        "the allow-listed destination and port are open"
    );
    assert!(
        !can_connect(&node, other_port.addr),
        "other ports of the same host stay closed"
    );

    db.egress_allowlist.clear();
    d.ensure_nodes(&net, &db).await.unwrap();
    assert!(
        !can_connect(&node, allowed.addr),
        "emptying the allow-list closes it again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_peering_link_is_reported_and_repaired() {
    let fx = Fixture::new("istha5");
    let d = &fx.driver;
    let net = network("172.29.98.0/24");
    let db = cluster(&net, &NODE_IPS[..1]);
    d.ensure_network(&net).await.unwrap();
    d.ensure_nodes(&net, &db).await.unwrap();
    let vpc = d
        .ensure_lab_vpc(&LabVpcSpec {
            name: "customer".into(),
            cidr: cidr("172.16.0.0/16"),
            behind: None,
            hosts: vec![host("app", None)],
        })
        .await
        .unwrap();
    let server = EchoServer::start(&d.node_namespace(&db, 0), addr(db.nodes[0].ip, 2113)).unwrap();
    let link = peering(&net, "customer", &["172.16.0.0/16"]);
    d.ensure_peering(&net, &link).await.unwrap();
    assert!(can_connect(&vpc.hosts[0].namespace, server.addr));

    // Someone deletes the link by hand.
    let veth = d.names().peering_link(&link.id.to_string());
    let status = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &d.router_namespace(&net),
            "ip",
            "link",
            "del",
            &veth,
        ])
        .status()
        .unwrap();
    assert!(status.success());

    let seen = d.observe_peering(&net, &link).await.unwrap();
    assert_eq!(seen.state, PeeringState::NeedsRepair);
    assert!(
        seen.message.contains(&veth),
        "the message names what is broken: {}",
        seen.message
    );
    assert!(!can_connect(&vpc.hosts[0].namespace, server.addr));

    assert_eq!(
        d.ensure_peering(&net, &link).await.unwrap().state,
        PeeringState::Active
    );
    assert!(
        can_connect(&vpc.hosts[0].namespace, server.addr),
        "connectivity returns after repair"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_peering_to_an_overlapping_or_unknown_lab_vpc_is_invalid() {
    let fx = Fixture::new("istha6");
    let d = &fx.driver;
    let net = network("172.29.98.0/24");
    d.ensure_network(&net).await.unwrap();
    d.ensure_lab_vpc(&LabVpcSpec {
        name: "clash".into(),
        cidr: cidr("172.29.0.0/16"),
        behind: None,
        hosts: vec![],
    })
    .await
    .unwrap();

    let seen = d
        .ensure_peering(&net, &peering(&net, "clash", &["10.1.0.0/16"]))
        .await
        .unwrap();
    assert_eq!(seen.state, PeeringState::Invalid);
    assert!(seen.message.contains("overlaps"), "{}", seen.message);

    let seen = d
        .ensure_peering(&net, &peering(&net, "nowhere", &["10.1.0.0/16"]))
        .await
        .unwrap();
    assert_eq!(seen.state, PeeringState::Invalid);
    assert!(
        seen.message.contains("no lab VPC named 'nowhere'"),
        "{}",
        seen.message
    );
}

/// `IpInReceives` and `IpExtInOctets` of the calling thread's namespace.
fn ip_in_counters() -> anyhow::Result<(u64, u64)> {
    fn field(file: &str, table: &str, name: &str) -> anyhow::Result<u64> {
        let text = std::fs::read_to_string(format!("/proc/thread-self/net/{file}"))?;
        let mut rows = text.lines().filter(|l| l.starts_with(&format!("{table}:")));
        let (names, values) = (rows.next().unwrap_or(""), rows.next().unwrap_or(""));
        let at = names.split_whitespace().position(|n| n == name);
        let value = at.and_then(|i| values.split_whitespace().nth(i));
        value
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("{table} {name} not in {file}"))
    }
    Ok((
        field("snmp", "Ip", "InReceives")?,
        field("netstat", "IpExt", "InOctets")?,
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_through_a_peering_travels_in_packets_larger_than_64_kib() {
    use std::io::{Read, Write};
    let fx = Fixture::new("istha7");
    let d = &fx.driver;
    let net = network("172.29.97.0/24");
    let db = cluster(&net, &["172.29.97.2"]);
    d.ensure_network(&net).await.unwrap();
    d.ensure_nodes(&net, &db).await.unwrap();
    let spec = LabVpcSpec {
        name: "customer".into(),
        cidr: cidr("172.16.0.0/16"),
        behind: None,
        hosts: vec![host("app", None)],
    };
    let customer = d.ensure_lab_vpc(&spec).await.unwrap();
    let link = peering(&net, "customer", &["172.16.0.0/16"]);
    assert_eq!(
        d.ensure_peering(&net, &link).await.unwrap().state,
        PeeringState::Active
    );

    // Every link on the path (host, lab router, peering, router, bridge, node) takes them.
    let node_ns = d.node_namespace(&db, 0);
    let path = [
        customer.hosts[0].namespace.clone(),
        customer.router_namespace.clone(),
        d.router_namespace(&net),
        node_ns.clone(),
    ];
    let links_on_path = || -> Vec<(String, nl::Link)> {
        let mut out = vec![];
        for ns in &path {
            let links = netns::netlink_in(Some(ns), |h| async move { nl::links(&h).await });
            let links = links.unwrap().into_iter().filter(|l| l.name != "lo");
            out.extend(links.map(|l| (ns.clone(), l)));
        }
        out
    };
    let every_link_at = |limit: u32| {
        let links = links_on_path();
        let at = links.iter().all(|(_, l)| l.gso_ipv4_max == Some(limit));
        assert!(at, "not every link at {limit}: {links:?}");
    };
    every_link_at(nl::GSO_IPV4_MAX);

    // Links an older Isthmus made (the kernel's 64 KiB) are raised by the next ensure.
    for (ns, l) in links_on_path() {
        netns::netlink_in(Some(&ns), move |h| async move {
            nl::set_gso_ipv4_max(&h, l.index, 65_536).await
        })
        .unwrap();
    }
    every_link_at(65_536);
    d.ensure_nodes(&net, &db).await.unwrap();
    d.ensure_lab_vpc(&spec).await.unwrap();
    d.ensure_peering(&net, &link).await.unwrap();
    every_link_at(nl::GSO_IPV4_MAX);

    // 64 MiB from the lab host to the node: the node receives them as IP packets that
    // average more than the kernel's default 64 KiB limit.
    let server = addr(db.nodes[0].ip, 5201);
    let listener = netns::run_in(Some(&node_ns), move || {
        Ok(std::net::TcpListener::bind(server)?)
    })
    .unwrap();
    let before = netns::run_in(Some(&node_ns), ip_in_counters).unwrap();
    let reader = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut sink = vec![0u8; 1 << 20];
        let mut total = 0usize;
        loop {
            match conn.read(&mut sink).unwrap() {
                0 => return total,
                n => total += n,
            }
        }
    });
    let app_ns = customer.hosts[0].namespace.clone();
    let mut conn = netns::run_in(Some(&app_ns), move || {
        Ok(std::net::TcpStream::connect(server)?)
    })
    .unwrap();
    let chunk = vec![7u8; 1 << 20];
    for _ in 0..64 {
        conn.write_all(&chunk).unwrap();
    }
    drop(conn);
    assert_eq!(reader.join().unwrap(), 64 << 20, "every byte arrives");
    let after = netns::run_in(Some(&node_ns), ip_in_counters).unwrap();
    let (packets, octets) = (after.0 - before.0, after.1 - before.1);
    assert!(
        octets / packets > 65_536,
        "{octets} bytes in {packets} packets: {} per packet",
        octets / packets
    );
}
