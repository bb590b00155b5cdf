//! The platform DNS answered over real UDP and TCP on loopback.

mod support;

use std::net::Ipv4Addr;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{RData, RecordType};
use isthmus_connect::dns::{check_zone, ClusterRecords, DnsHandle, DnsServer, MAX_ZONE_WIRE_LEN};
use isthmus_core::id::{ClusterId, Id};
use support::dns_client::{query_tcp, query_udp};

const ZONE: &str = "isthmus.internal";

fn cluster_id(n: u8) -> ClusterId {
    ClusterId::from(Id::from_parts(1_700_000_000, [n; 8]))
}

fn three_nodes(id: ClusterId) -> ClusterRecords {
    ClusterRecords {
        cluster_id: id,
        node_ips: vec![
            Ipv4Addr::new(10, 40, 0, 5),
            Ipv4Addr::new(10, 40, 1, 5),
            Ipv4Addr::new(10, 40, 2, 5),
        ],
        public_ip: None,
    }
}

async fn server() -> DnsHandle {
    DnsServer::start("127.0.0.1:0".parse().unwrap(), ZONE)
        .await
        .expect("start DNS")
}

#[tokio::test]
async fn cluster_name_resolves_to_every_node_and_node_names_to_one() {
    let dns = server().await;
    let id = cluster_id(1);
    dns.upsert(&three_nodes(id));
    let addr = dns.local_addr();

    let all = query_udp(addr, &format!("{id}.{ZONE}."), RecordType::A).await;
    assert_eq!(all.code, ResponseCode::NoError);
    assert!(all.authoritative);
    assert_eq!(all.a_records(), three_nodes(id).node_ips);

    for (n, ip) in three_nodes(id).node_ips.iter().enumerate() {
        let one = query_udp(addr, &format!("{id}-{n}.{ZONE}."), RecordType::A).await;
        assert_eq!(one.code, ResponseCode::NoError);
        assert_eq!(one.a_records(), vec![*ip], "node {n}");
    }
}

#[tokio::test]
async fn names_are_case_insensitive_and_answered_over_tcp_too() {
    let dns = server().await;
    let id = cluster_id(2);
    dns.upsert(&three_nodes(id));
    let upper = format!("{id}-1.{ZONE}.").to_uppercase();
    let reply = query_tcp(dns.local_addr(), &upper, RecordType::A).await;
    assert_eq!(reply.code, ResponseCode::NoError);
    assert_eq!(reply.a_records(), vec![Ipv4Addr::new(10, 40, 1, 5)]);
}

#[tokio::test]
async fn public_name_exists_only_while_the_cluster_has_a_public_endpoint() {
    let dns = server().await;
    let id = cluster_id(3);
    let public_name = format!("public-{id}.{ZONE}.");
    dns.upsert(&three_nodes(id));
    let before = query_udp(dns.local_addr(), &public_name, RecordType::A).await;
    assert_eq!(before.code, ResponseCode::NXDomain);

    let public = Ipv4Addr::new(198, 51, 100, 20);
    dns.upsert(&ClusterRecords {
        public_ip: Some(public),
        ..three_nodes(id)
    });
    let after = query_udp(dns.local_addr(), &public_name, RecordType::A).await;
    assert_eq!(after.code, ResponseCode::NoError);
    assert_eq!(after.a_records(), vec![public]);
}

#[tokio::test]
async fn removing_a_cluster_makes_its_names_nxdomain_on_the_next_query() {
    let dns = server().await;
    let id = cluster_id(4);
    let other = cluster_id(5);
    dns.set_clusters(vec![three_nodes(id), three_nodes(other)]);
    let name = format!("{id}.{ZONE}.");
    assert_eq!(
        query_udp(dns.local_addr(), &name, RecordType::A).await.code,
        ResponseCode::NoError
    );

    assert!(dns.remove(id));
    for gone in [name, format!("{id}-0.{ZONE}.")] {
        let reply = query_udp(dns.local_addr(), &gone, RecordType::A).await;
        assert_eq!(reply.code, ResponseCode::NXDomain, "{gone}");
        assert!(reply.authoritative);
        assert!(reply.has_soa_in_authority(), "NXDOMAIN carries the SOA");
    }
    let kept = query_udp(dns.local_addr(), &format!("{other}.{ZONE}."), RecordType::A).await;
    assert_eq!(kept.a_records(), three_nodes(other).node_ips);
}

#[tokio::test]
async fn shrinking_a_cluster_drops_the_names_of_nodes_it_no_longer_has() {
    let dns = server().await;
    let id = cluster_id(6);
    dns.upsert(&three_nodes(id));
    dns.upsert(&ClusterRecords {
        node_ips: vec![Ipv4Addr::new(10, 40, 0, 5)],
        ..three_nodes(id)
    });
    let gone = query_udp(dns.local_addr(), &format!("{id}-2.{ZONE}."), RecordType::A).await;
    assert_eq!(gone.code, ResponseCode::NXDomain);
    let all = query_udp(dns.local_addr(), &format!("{id}.{ZONE}."), RecordType::A).await;
    assert_eq!(all.a_records(), vec![Ipv4Addr::new(10, 40, 0, 5)]);
}

#[tokio::test]
async fn the_apex_has_soa_and_ns() {
    let dns = server().await;
    let apex = format!("{ZONE}.");

    let soa = query_udp(dns.local_addr(), &apex, RecordType::SOA).await;
    assert_eq!(soa.code, ResponseCode::NoError);
    assert!(soa.authoritative);
    let RData::SOA(record) = &soa.message.answers[0].data else {
        panic!("expected an SOA answer, got {:?}", soa.message.answers);
    };
    assert_eq!(record.mname.to_ascii(), format!("ns.{ZONE}."));

    let ns = query_udp(dns.local_addr(), &apex, RecordType::NS).await;
    let RData::NS(name) = &ns.message.answers[0].data else {
        panic!("expected an NS answer, got {:?}", ns.message.answers);
    };
    assert_eq!(name.0.to_ascii(), format!("ns.{ZONE}."));

    // The name server's own name points at where it listens.
    let glue = query_udp(dns.local_addr(), &format!("ns.{ZONE}."), RecordType::A).await;
    assert_eq!(glue.a_records(), vec![Ipv4Addr::LOCALHOST]);
}

#[tokio::test]
async fn a_known_name_asked_for_another_type_is_an_empty_answer_not_nxdomain() {
    let dns = server().await;
    let id = cluster_id(7);
    dns.upsert(&three_nodes(id));
    let reply = query_udp(dns.local_addr(), &format!("{id}.{ZONE}."), RecordType::AAAA).await;
    assert_eq!(reply.code, ResponseCode::NoError);
    assert!(reply.message.answers.is_empty());
    assert!(reply.has_soa_in_authority());
}

#[tokio::test]
async fn names_outside_the_zone_are_refused() {
    let dns = server().await;
    let reply = query_udp(dns.local_addr(), "example.com.", RecordType::A).await;
    assert_eq!(reply.code, ResponseCode::Refused);
    assert!(!reply.authoritative);
}

#[tokio::test]
async fn the_zone_is_configurable() {
    let dns = DnsServer::start("127.0.0.1:0".parse().unwrap(), "db.example.test")
        .await
        .expect("start DNS");
    let id = cluster_id(8);
    dns.upsert(&three_nodes(id));
    let inside = query_udp(
        dns.local_addr(),
        &format!("{id}-0.db.example.test."),
        RecordType::A,
    )
    .await;
    assert_eq!(inside.a_records(), vec![Ipv4Addr::new(10, 40, 0, 5)]);
    let default_zone = query_udp(dns.local_addr(), &format!("{id}.{ZONE}."), RecordType::A).await;
    assert_eq!(default_zone.code, ResponseCode::Refused);
    dns.shutdown().await.expect("shut down");
}

/// A zone of `wire_len` bytes as a DNS name: labels of 63 `a`s and one shorter label.
fn zone_of_wire_len(wire_len: usize) -> String {
    let mut labels = Vec::new();
    // Every label costs its length plus one; the root's zero byte is the last one.
    let mut left = wire_len - 1;
    while left > 0 {
        let take = (left - 1).min(63);
        labels.push("a".repeat(take));
        left -= take + 1;
    }
    labels.join(".")
}

#[tokio::test]
async fn a_zone_that_leaves_no_room_for_the_published_names_is_refused_at_start() {
    let too_long = zone_of_wire_len(MAX_ZONE_WIRE_LEN + 1);
    let err = DnsServer::start("127.0.0.1:0".parse().unwrap(), &too_long)
        .await
        .err()
        .expect("a zone too long for public-<id>.<zone> is refused");
    let message = format!("{err:#}");
    assert!(message.contains("too long"), "{message}");
    assert!(message.contains("255"), "{message}");
    // One byte past what fits, and a zone near DNS's own limit, are both refused.
    assert!(check_zone(&zone_of_wire_len(250)).is_err());
    assert!(check_zone(&zone_of_wire_len(MAX_ZONE_WIRE_LEN)).is_ok());
}

#[tokio::test]
async fn at_the_longest_zone_every_published_name_and_miss_is_answered() {
    let zone = zone_of_wire_len(MAX_ZONE_WIRE_LEN);
    let dns = DnsServer::start("127.0.0.1:0".parse().unwrap(), &zone)
        .await
        .expect("the longest zone that fits starts");
    let id = cluster_id(9);
    let public = Ipv4Addr::new(198, 51, 100, 21);
    dns.upsert(&ClusterRecords {
        public_ip: Some(public),
        ..three_nodes(id)
    });
    let addr = dns.local_addr();
    // Over TCP: answers this long need more than plain UDP's 512 bytes.
    let reply = query_tcp(addr, &format!("public-{id}.{zone}."), RecordType::A).await;
    assert_eq!(reply.code, ResponseCode::NoError);
    assert_eq!(reply.a_records(), vec![public]);
    let reply = query_tcp(addr, &format!("{id}-2.{zone}."), RecordType::A).await;
    assert_eq!(reply.a_records(), vec![Ipv4Addr::new(10, 40, 2, 5)]);
    // Misses and the apex carry the SOA, whose hostmaster name must fit as well.
    let miss = query_tcp(addr, &format!("nothing-here.{zone}."), RecordType::A).await;
    assert_eq!(miss.code, ResponseCode::NXDomain);
    assert!(miss.has_soa_in_authority());
    let apex = query_tcp(addr, &format!("{zone}."), RecordType::SOA).await;
    assert_eq!(apex.code, ResponseCode::NoError);
    // The longest name DNS allows, in the zone, is an answer too (NXDOMAIN), not a panic.
    let longest = format!("{}.{zone}.", zone_of_wire_len(255 - MAX_ZONE_WIRE_LEN + 1));
    let reply = query_tcp(addr, &longest, RecordType::A).await;
    assert_eq!(reply.code, ResponseCode::NXDomain);
    dns.shutdown().await.expect("shut down");
}
