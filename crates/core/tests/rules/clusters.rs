//! Clusters: created even while their network provisions (no 409), node IPs from the
//! network CIDR skipping what the provider reserves, a known engine in a topology it
//! supports.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use isthmus_core::resources::{
    AllowlistEntryInput, ClusterUpdate, EgressRuleInput, Network, Provider, PublicAccessInput,
    Topology,
};
use isthmus_core::rules;
use isthmus_core::state::{ClusterStatus, NetworkStatus};
use isthmus_core::CoreError;

use crate::support::*;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn ips(list: &[&str]) -> Vec<Ipv4Addr> {
    list.iter().map(|s| ip(s)).collect()
}

fn create(
    network: &Network,
    engine: &str,
    topology: Topology,
    taken: &HashSet<Ipv4Addr>,
) -> Result<isthmus_core::resources::Cluster, CoreError> {
    rules::new_cluster(
        id(),
        project(),
        &cluster_request(network, engine, topology),
        network,
        taken,
        "isthmus.internal",
        now(),
    )
}

#[test]
fn aws_keeps_the_first_four_and_the_last_address_of_the_network() {
    let net = network(Provider::Aws, "us-east-1", "10.0.0.0/28");
    assert_eq!(
        rules::reserved_addresses(net.provider, &net.cidr_block),
        ips(&["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.15"])
    );
    // 16 addresses, 5 reserved: exactly 11 nodes fit, .4 to .14.
    let all = rules::allocate_node_ips(&net, 11, &HashSet::new()).unwrap();
    assert_eq!(all.first(), Some(&ip("10.0.0.4")));
    assert_eq!(all.last(), Some(&ip("10.0.0.14")));
    assert!(rules::allocate_node_ips(&net, 12, &HashSet::new()).is_err());
}

#[test]
fn other_providers_keep_network_gateway_and_broadcast() {
    for provider in [Provider::Gcp, Provider::Azure, Provider::Local] {
        let net = network(provider, region_of(provider), "10.0.0.0/28");
        assert_eq!(
            rules::reserved_addresses(provider, &net.cidr_block),
            ips(&["10.0.0.0", "10.0.0.1", "10.0.0.15"])
        );
        assert_eq!(rules::gateway_address(&net.cidr_block), ip("10.0.0.1"));
        let all = rules::allocate_node_ips(&net, 13, &HashSet::new()).unwrap();
        assert_eq!((all[0], all[12]), (ip("10.0.0.2"), ip("10.0.0.14")));
        assert!(rules::allocate_node_ips(&net, 14, &HashSet::new()).is_err());
    }
}

#[test]
fn nodes_take_the_lowest_free_addresses_skipping_those_of_other_nodes() {
    let aws = network(Provider::Aws, "us-east-1", "10.0.0.0/24");
    let taken: HashSet<Ipv4Addr> = ips(&["10.0.0.4", "10.0.0.6"]).into_iter().collect();
    let c = create(&aws, "nats", Topology::ThreeNodeMultiZone, &taken).unwrap();
    let node_ips: Vec<Ipv4Addr> = c.nodes.iter().map(|n| n.ip).collect();
    assert_eq!(node_ips, ips(&["10.0.0.5", "10.0.0.7", "10.0.0.8"]));

    let gcp = network(Provider::Gcp, "europe-west1", "10.0.0.0/24");
    let c = create(&gcp, "nats", Topology::ThreeNodeMultiZone, &HashSet::new()).unwrap();
    let node_ips: Vec<Ipv4Addr> = c.nodes.iter().map(|n| n.ip).collect();
    assert_eq!(node_ips, ips(&["10.0.0.2", "10.0.0.3", "10.0.0.4"]));
}

#[test]
fn a_full_network_is_a_conflict_naming_the_network() {
    let net = network(Provider::Aws, "us-east-1", "10.0.0.0/28");
    // .4 … .13 are taken: one address (.14) is left for three nodes.
    let taken: HashSet<Ipv4Addr> = (4..=13).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
    let err = create(&net, "nats", Topology::ThreeNodeMultiZone, &taken).unwrap_err();
    let (field, rule, message) = conflict(err);
    assert_eq!(
        (field.as_deref(), rule.as_str()),
        (Some("network_id"), "network-full")
    );
    assert_eq!(
        message,
        format!(
            "network {} (10.0.0.0/28) has no room for 3 more nodes",
            net.id
        )
    );
    assert!(create(&net, "nats", Topology::SingleNode, &taken).is_ok());
}

#[test]
fn a_cluster_may_be_created_while_its_network_is_still_provisioning() {
    let net = network(Provider::Aws, "us-east-1", "10.0.0.0/24");
    assert_eq!(net.status, NetworkStatus::Provisioning);
    let c = create(&net, "probe", Topology::SingleNode, &HashSet::new()).unwrap();
    assert_eq!(c.status, ClusterStatus::Provisioning);
}

#[test]
fn a_cluster_cannot_be_placed_in_a_network_being_deleted() {
    let net = with_status(
        network(Provider::Aws, "us-east-1", "10.0.0.0/24"),
        NetworkStatus::Deleting,
    );
    let err = create(&net, "probe", Topology::SingleNode, &HashSet::new()).unwrap_err();
    assert_eq!(conflict(err).1, "network-deleting");
}

#[test]
fn an_unknown_engine_is_refused_listing_the_known_ones() {
    let net = network(Provider::Aws, "us-east-1", "10.0.0.0/24");
    let err = create(&net, "mongodb", Topology::SingleNode, &HashSet::new()).unwrap_err();
    let (field, rule, message) = invalid(err);
    assert_eq!((field.as_str(), rule.as_str()), ("engine", "known-engine"));
    assert_eq!(
        message,
        "unknown engine 'mongodb' (one of probe, nats, postgresql)"
    );
}

#[test]
fn an_engine_only_runs_in_the_topologies_it_supports() {
    let net = network(Provider::Aws, "us-east-1", "10.0.0.0/24");
    let err = create(
        &net,
        "postgresql",
        Topology::ThreeNodeMultiZone,
        &HashSet::new(),
    )
    .unwrap_err();
    let (field, rule, message) = invalid(err);
    assert_eq!(
        (field.as_str(), rule.as_str()),
        ("topology", "engine-topology")
    );
    assert_eq!(
        message,
        "engine postgresql does not support topology three-node-multi-zone"
    );
}

#[test]
fn a_cluster_needs_a_network_of_its_own_project() {
    let net = network(Provider::Aws, "us-east-1", "10.0.0.0/24");
    let stranger = isthmus_core::ProjectId::from(isthmus_core::Id::from_parts(1, [9; 8]));
    let req = cluster_request(&net, "probe", Topology::SingleNode);
    let err = rules::new_cluster(id(), stranger, &req, &net, &HashSet::new(), "z", now());
    let (field, rule, _) = invalid(err.unwrap_err());
    assert_eq!(
        (field.as_str(), rule.as_str()),
        ("network_id", "same-project")
    );
}

#[test]
fn nodes_get_dns_names_under_the_cluster_and_spread_over_zones() {
    let net = network(Provider::Aws, "us-east-1", "10.0.0.0/24");
    let c = create(&net, "nats", Topology::ThreeNodeMultiZone, &HashSet::new()).unwrap();
    assert_eq!(c.dns_name, format!("{}.isthmus.internal", c.id));
    let names: Vec<String> = c.nodes.iter().map(|n| n.dns_name.clone()).collect();
    assert_eq!(
        names,
        (0..3)
            .map(|i| format!("{}-{i}.isthmus.internal", c.id))
            .collect::<Vec<_>>()
    );
    let zones: Vec<&str> = c.nodes.iter().map(|n| n.zone.as_str()).collect();
    assert_eq!(zones, ["us-east-1a", "us-east-1b", "us-east-1c"]);
}

#[test]
fn zones_are_named_as_each_cloud_names_them() {
    for (provider, region, want) in [
        (
            Provider::Gcp,
            "us-central1",
            ["us-central1-a", "us-central1-b", "us-central1-c"],
        ),
        (Provider::Azure, "westeurope", ["1", "2", "3"]),
    ] {
        let net = network(provider, region, "10.0.0.0/24");
        let c = create(&net, "nats", Topology::ThreeNodeMultiZone, &HashSet::new()).unwrap();
        let zones: Vec<&str> = c.nodes.iter().map(|n| n.zone.as_str()).collect();
        assert_eq!(zones, want, "{provider}");
    }
}

#[test]
fn a_bad_allowlist_entry_names_its_position() {
    let net = network(Provider::Aws, "us-east-1", "10.0.0.0/24");
    let mut req = cluster_request(&net, "probe", Topology::SingleNode);
    req.public_access = Some(PublicAccessInput {
        enabled: true,
        allowlist: vec![
            AllowlistEntryInput {
                cidr: "203.0.113.0/24".into(),
                comment: "office".into(),
                expires_at: None,
            },
            AllowlistEntryInput {
                cidr: "198.51.100.1/24".into(),
                comment: "vpn".into(),
                expires_at: None,
            },
        ],
    });
    let err = rules::new_cluster(id(), project(), &req, &net, &HashSet::new(), "z", now());
    let (field, rule, message) = invalid(err.unwrap_err());
    assert_eq!(
        (field.as_str(), rule.as_str()),
        ("public_access.allowlist[1].cidr", "host-bits-set")
    );
    assert!(
        message.ends_with("did you mean 198.51.100.0/24?"),
        "{message}"
    );
}

#[test]
fn changing_public_access_bumps_the_generation_and_a_deleting_cluster_refuses_updates() {
    let net = network(Provider::Aws, "us-east-1", "10.0.0.0/24");
    let c = cluster(&net, "orders", ClusterStatus::Running);
    let open = ClusterUpdate {
        public_access: Some(PublicAccessInput {
            enabled: true,
            allowlist: Vec::new(),
        }),
        ..Default::default()
    };
    let next = rules::update_cluster(&c, &open, now()).unwrap();
    assert!(next.public_access.enabled);
    assert_eq!(next.generation, c.generation + 1);

    let going = cluster(&net, "going", ClusterStatus::Deleting);
    let (_, rule, message) = conflict(rules::update_cluster(&going, &open, now()).unwrap_err());
    assert_eq!(rule, "cluster-deleting");
    assert_eq!(message, format!("cluster {} is deleting", going.id));
}

#[test]
fn egress_rules_name_a_bad_prefix_or_port_zero_by_position() {
    let net = network(Provider::Aws, "us-east-1", "10.0.0.0/24");
    let mut req = cluster_request(&net, "probe", Topology::SingleNode);
    req.egress_allowlist = Some(vec![
        EgressRuleInput {
            cidr: "192.168.1.0/24".into(),
            ports: vec![443],
            comment: "api".into(),
        },
        EgressRuleInput {
            cidr: "192.168.2.0".into(),
            ports: vec![0],
            comment: String::new(),
        },
    ]);
    let err = rules::new_cluster(id(), project(), &req, &net, &HashSet::new(), "z", now());
    let errors = all_invalid(err.unwrap_err());
    let found: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.field.as_str(), e.rule.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("egress_allowlist[1].cidr", "cidr-syntax"),
            ("egress_allowlist[1].ports", "port-range")
        ]
    );
    assert_eq!(errors[1].message, "ports are 1…65535");
}

fn egress(cidr: &str, ports: Vec<u16>, comment: &str) -> EgressRuleInput {
    EgressRuleInput {
        cidr: cidr.into(),
        ports,
        comment: comment.into(),
    }
}

/// The field and rule of every error an egress list gets.
fn egress_errors(list: Vec<EgressRuleInput>) -> Vec<(String, String)> {
    let err = rules::validate_egress(&Some(list)).unwrap_err();
    all_invalid(err)
        .into_iter()
        .map(|e| (e.field, e.rule))
        .collect()
}

#[test]
fn the_egress_allowlist_holds_at_most_as_many_entries_as_the_allowlists() {
    let many: Vec<EgressRuleInput> = (0..=rules::MAX_ALLOWLIST_ENTRIES as u32)
        .map(|i| {
            let ip = Ipv4Addr::from(0x0a00_0000 + i);
            egress(&format!("{ip}/32"), vec![], "")
        })
        .collect();
    assert_eq!(many.len(), 8_001);
    assert_eq!(
        egress_errors(many.clone()),
        [("egress_allowlist".to_string(), "max-entries".to_string())]
    );
    assert!(rules::validate_egress(&Some(many[..8_000].to_vec())).is_ok());
}

#[test]
fn an_egress_prefix_listed_twice_is_refused_by_position() {
    let list = vec![
        egress("192.168.1.0/24", vec![443], "api"),
        egress("192.168.2.0/24", vec![], ""),
        egress("192.168.1.0/24", vec![80], "api again"),
    ];
    assert_eq!(
        egress_errors(list),
        [(
            "egress_allowlist[2].cidr".to_string(),
            "duplicate-entry".to_string()
        )]
    );
}

#[test]
fn egress_ports_are_bounded_in_number_and_listed_once() {
    let too_many: Vec<u16> = (1..=rules::MAX_EGRESS_PORTS as u16 + 1).collect();
    let list = vec![
        egress("192.168.1.0/24", too_many, ""),
        egress("192.168.2.0/24", vec![443, 80, 443], ""),
        egress(
            "192.168.3.0/24",
            (1..=rules::MAX_EGRESS_PORTS as u16).collect(),
            "",
        ),
    ];
    assert_eq!(
        egress_errors(list),
        [
            (
                "egress_allowlist[0].ports".to_string(),
                "max-ports".to_string()
            ),
            (
                "egress_allowlist[1].ports".to_string(),
                "duplicate-port".to_string()
            ),
        ]
    );
}

#[test]
fn egress_comments_are_bounded_and_printable() {
    let list = vec![
        egress("192.168.1.0/24", vec![], &"x".repeat(256)),
        egress("192.168.2.0/24", vec![], &"x".repeat(257)),
        egress("192.168.3.0/24", vec![], "bell\u{7}"),
        egress("192.168.4.0/24", vec![], "db\u{202e}1gp"),
        egress("192.168.5.0/24", vec![], "caf\u{e9} \u{2603} ok"),
    ];
    assert_eq!(
        egress_errors(list),
        [
            (
                "egress_allowlist[1].comment".to_string(),
                "comment".to_string()
            ),
            (
                "egress_allowlist[2].comment".to_string(),
                "printable".to_string()
            ),
            (
                "egress_allowlist[3].comment".to_string(),
                "printable".to_string()
            ),
        ]
    );
}

#[test]
fn allowlist_comments_refuse_invisible_characters() {
    let list = vec![AllowlistEntryInput {
        cidr: "203.0.113.0/24".into(),
        comment: "office\u{200b}".into(),
        expires_at: None,
    }];
    let err = rules::validate_allowlist("private_allowlist", &list).unwrap_err();
    let (field, rule, message) = invalid(err);
    assert_eq!(
        (field.as_str(), rule.as_str()),
        ("private_allowlist[0].comment", "printable")
    );
    assert!(message.contains("U+200B"), "{message}");
}

#[test]
fn an_egress_entry_no_live_peering_routes_is_a_warning() {
    use isthmus_core::state::PeeringStatus;
    let net = network(Provider::Aws, "us-east-1", "10.0.0.0/24");
    let peered = peering(&net, &["192.168.0.0/16"], PeeringStatus::Active);
    let gone = peering(&net, &["172.16.0.0/12"], PeeringStatus::Deleted);
    let mut c = cluster(&net, "orders", ClusterStatus::Running);
    c.egress_allowlist = rules::validate_egress(&Some(vec![
        egress("192.168.1.0/24", vec![443], "routed"),
        egress("172.16.5.0/24", vec![], "only a deleted peering routes it"),
        egress("10.0.0.128/25", vec![], "inside the network itself"),
        egress("100.64.0.0/10", vec![], "nowhere"),
    ]))
    .unwrap();
    let warnings = rules::egress_warnings(&c, &net, &[peered.clone(), gone]);
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    assert!(warnings[0].starts_with("egress_allowlist[1] 172.16.5.0/24 lies outside"));
    assert!(warnings[1].starts_with("egress_allowlist[3] 100.64.0.0/10 lies outside"));
    c.egress_allowlist.truncate(1);
    assert!(rules::egress_warnings(&c, &net, &[peered]).is_empty());
}
