//! Record sets of any kind of object, answered over real UDP on loopback: each publisher's
//! names come and go with it alone, whatever else shares the zone or a name.

mod support;

use std::net::Ipv4Addr;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::RecordType;
use isthmus_connect::dns::{ClusterRecords, DnsHandle, DnsServer, Publisher, RecordSet, View};
use isthmus_core::id::{ClusterId, Id};
use support::dns_client::query_udp;

const ZONE: &str = "isthmus.internal";

fn id(n: u8) -> Id {
    Id::from_parts(1_700_000_000, [n; 8])
}

/// An object of a kind other than cluster, e.g. a private endpoint.
fn endpoint(n: u8) -> Publisher {
    Publisher {
        kind: "endpoint",
        id: id(n),
    }
}

async fn server() -> DnsHandle {
    DnsServer::start("127.0.0.1:0".parse().unwrap(), ZONE)
        .await
        .expect("start DNS")
}

#[tokio::test]
async fn an_objects_names_resolve_until_it_is_withdrawn_and_then_are_nxdomain() {
    let dns = server().await;
    let addr = dns.local_addr();
    let endpoint = endpoint(1);
    let name = format!("pe-{}", endpoint.id);
    let ip = Ipv4Addr::new(10, 50, 0, 9);
    assert!(!dns.publish(endpoint, vec![RecordSet::a(name.clone(), vec![ip])]));

    let found = query_udp(addr, &format!("{name}.{ZONE}."), RecordType::A).await;
    assert_eq!(found.code, ResponseCode::NoError);
    assert!(found.authoritative);
    assert_eq!(found.a_records(), vec![ip]);

    assert!(dns.withdraw(endpoint), "it had a name");
    let gone = query_udp(addr, &format!("{name}.{ZONE}."), RecordType::A).await;
    assert_eq!(gone.code, ResponseCode::NXDomain);
    assert!(gone.has_soa_in_authority());
    assert!(!dns.withdraw(endpoint), "nothing left to withdraw");
}

#[tokio::test]
async fn republishing_an_object_replaces_its_names_and_leaves_a_cluster_alone() {
    let dns = server().await;
    let addr = dns.local_addr();
    let cluster = ClusterRecords {
        cluster_id: ClusterId::from(id(2)),
        node_ips: vec![Ipv4Addr::new(10, 40, 0, 5)],
        public_ip: None,
    };
    dns.upsert(&cluster);
    let endpoint = endpoint(3);
    let ip = Ipv4Addr::new(10, 50, 0, 10);
    dns.publish(
        endpoint,
        vec![
            RecordSet::a("pe-old".into(), vec![ip]),
            RecordSet::a("pe-kept".into(), vec![ip]),
        ],
    );
    assert!(dns.publish(endpoint, vec![RecordSet::a("pe-kept".into(), vec![ip])]));

    let old = query_udp(addr, &format!("pe-old.{ZONE}."), RecordType::A).await;
    assert_eq!(old.code, ResponseCode::NXDomain);
    let kept = query_udp(addr, &format!("pe-kept.{ZONE}."), RecordType::A).await;
    assert_eq!(kept.a_records(), vec![ip]);
    let cluster_name = format!("{}.{ZONE}.", cluster.cluster_id);
    let nodes = query_udp(addr, &cluster_name, RecordType::A).await;
    assert_eq!(nodes.a_records(), cluster.node_ips);

    // Publishing nothing withdraws: an object being deleted loses its names at once.
    dns.publish(endpoint, Vec::new());
    let kept = query_udp(addr, &format!("pe-kept.{ZONE}."), RecordType::A).await;
    assert_eq!(kept.code, ResponseCode::NXDomain);
    let nodes = query_udp(addr, &cluster_name, RecordType::A).await;
    assert_eq!(nodes.a_records(), cluster.node_ips);
}

#[tokio::test]
async fn a_name_two_objects_publish_answers_both_until_one_is_withdrawn() {
    let dns = server().await;
    let addr = dns.local_addr();
    let (first, second) = (endpoint(4), endpoint(5));
    let (a, b) = (Ipv4Addr::new(10, 50, 0, 1), Ipv4Addr::new(10, 50, 0, 2));
    dns.publish(second, vec![RecordSet::a("shared".into(), vec![b])]);
    dns.publish(first, vec![RecordSet::a("shared".into(), vec![a])]);
    let name = format!("shared.{ZONE}.");

    let both = query_udp(addr, &name, RecordType::A).await;
    assert_eq!(both.a_records(), vec![a, b], "in publisher order");
    dns.withdraw(first);
    let one = query_udp(addr, &name, RecordType::A).await;
    assert_eq!(one.a_records(), vec![b]);
    dns.withdraw(second);
    let none = query_udp(addr, &name, RecordType::A).await;
    assert_eq!(none.code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn a_set_in_a_customer_networks_view_is_not_served_to_the_default_view() {
    let dns = server().await;
    let endpoint = endpoint(6);
    dns.publish(
        endpoint,
        vec![RecordSet {
            view: View::Network("lab-vpc-a".into()),
            ..RecordSet::a("pe-view".into(), vec![Ipv4Addr::new(10, 60, 0, 1)])
        }],
    );
    let reply = query_udp(dns.local_addr(), &format!("pe-view.{ZONE}."), RecordType::A).await;
    assert_eq!(reply.code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn names_the_zone_cannot_publish_are_skipped_not_served() {
    let dns = server().await;
    let addr = dns.local_addr();
    let endpoint = endpoint(7);
    let ip = Ipv4Addr::new(10, 50, 0, 3);
    let too_long = "p".repeat(isthmus_connect::dns::LONGEST_LABEL_LEN + 1);
    dns.publish(
        endpoint,
        vec![
            RecordSet::a("two.labels".into(), vec![ip]),
            RecordSet::a("hostmaster".into(), vec![ip]),
            RecordSet::a(too_long.clone(), vec![ip]),
            RecordSet::a("Mixed-Case".into(), vec![ip]),
        ],
    );
    for skipped in ["two.labels", "hostmaster", too_long.as_str()] {
        let reply = query_udp(addr, &format!("{skipped}.{ZONE}."), RecordType::A).await;
        assert!(reply.a_records().is_empty(), "{skipped}");
    }
    // Names are case-insensitive, whichever case they were published in.
    let reply = query_udp(addr, &format!("mixed-case.{ZONE}."), RecordType::A).await;
    assert_eq!(reply.a_records(), vec![ip]);
}
