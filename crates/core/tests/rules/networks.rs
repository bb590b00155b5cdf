//! Networks: a private CIDR of /8 … /28 without host bits, no overlap with another live
//! network in the same provider and region, only the name changes after creation, and no
//! deletion while clusters live in it.

use isthmus_core::resources::{NetworkCreate, NetworkUpdate, Provider};
use isthmus_core::rules;
use isthmus_core::state::{ClusterStatus, NetworkStatus};

use crate::support::*;

fn create(cidr: &str) -> Result<isthmus_core::resources::Network, isthmus_core::CoreError> {
    rules::new_network(
        id(),
        project(),
        &network_request(Provider::Aws, "us-east-1", cidr),
        &[],
        now(),
    )
}

#[test]
fn a_network_in_every_private_range_is_accepted_and_starts_provisioning() {
    for cidr in [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "172.29.98.0/24",
    ] {
        // GCP: AWS takes no VPC wider than /16.
        let req = network_request(Provider::Gcp, "us-central1", cidr);
        let net = rules::new_network(id(), project(), &req, &[], now()).unwrap();
        assert_eq!(net.cidr_block.to_string(), cidr);
        assert_eq!(net.status, NetworkStatus::Provisioning);
        assert_eq!((net.generation, net.observed_generation), (1, 0));
    }
}

#[test]
fn a_public_cidr_is_refused_as_outside_the_private_ranges() {
    let (field, rule, message) = invalid(create("8.8.8.0/24").unwrap_err());
    assert_eq!(
        (field.as_str(), rule.as_str()),
        ("cidr_block", "private-range")
    );
    assert_eq!(
        message,
        "8.8.8.0/24 is not inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10"
    );
    // Straddling a private range is as wrong as missing it.
    let (_, rule, _) = invalid(create("172.0.0.0/8").unwrap_err());
    assert_eq!(rule, "private-range");
}

#[test]
fn a_network_must_be_between_slash_8_and_slash_28() {
    let (field, rule, message) = invalid(create("10.0.0.0/29").unwrap_err());
    assert_eq!(
        (field.as_str(), rule.as_str()),
        ("cidr_block", "prefix-length")
    );
    assert_eq!(
        message,
        "10.0.0.0/29 has prefix length /29; a network must be between /8 and /28"
    );
    let (_, rule, _) = invalid(create("10.0.0.0/7").unwrap_err());
    assert_eq!(rule, "prefix-length");
    assert!(create("10.0.0.16/28").is_ok());
}

#[test]
fn host_bits_are_refused_with_the_network_that_was_meant() {
    let (field, rule, message) = invalid(create("172.29.98.7/24").unwrap_err());
    assert_eq!(
        (field.as_str(), rule.as_str()),
        ("cidr_block", "host-bits-set")
    );
    assert_eq!(
        message,
        "'172.29.98.7/24' has host bits set: did you mean 172.29.98.0/24?"
    );
}

#[test]
fn a_cidr_that_does_not_parse_is_a_syntax_error_quoting_the_input() {
    let (field, rule, message) = invalid(create("10.0.0.0").unwrap_err());
    assert_eq!(
        (field.as_str(), rule.as_str()),
        ("cidr_block", "cidr-syntax")
    );
    assert_eq!(
        message,
        "'10.0.0.0' is not an IPv4 prefix in a.b.c.d/len form"
    );
}

#[test]
fn every_bad_field_is_reported_at_once() {
    let req = isthmus_core::resources::NetworkCreate {
        name: "  ".into(),
        provider: Provider::Gcp,
        region: "Europe West".into(),
        cidr_block: "10.1.2.3/16".into(),
    };
    let errors = all_invalid(rules::new_network(id(), project(), &req, &[], now()).unwrap_err());
    let pairs: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.field.as_str(), e.rule.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("name", "required"),
            ("region", "region-syntax"),
            ("cidr_block", "host-bits-set")
        ]
    );
    assert_eq!(
        errors[1].message,
        "'Europe West' is not a gcp region name (lowercase letters, digits and '-', e.g. us-central1)"
    );
}

#[test]
fn names_are_trimmed_and_limited_to_100_printable_characters() {
    let mut req = network_request(Provider::Aws, "us-east-1", "10.0.0.0/16");
    req.name = "  prod  ".into();
    let net = rules::new_network(id(), project(), &req, &[], now()).unwrap();
    assert_eq!(net.name, "prod");

    req.name = "x".repeat(101);
    let (field, rule, message) =
        invalid(rules::new_network(id(), project(), &req, &[], now()).unwrap_err());
    assert_eq!((field.as_str(), rule.as_str()), ("name", "max-length"));
    assert_eq!(message, "must be at most 100 characters");

    req.name = "bell\u{7}".into();
    let (_, rule, _) = invalid(rules::new_network(id(), project(), &req, &[], now()).unwrap_err());
    assert_eq!(rule, "printable");
}

#[test]
fn overlapping_a_live_network_in_the_same_provider_and_region_is_a_conflict() {
    let existing = network(Provider::Aws, "us-east-1", "10.0.0.0/16");
    let req = network_request(Provider::Aws, "us-east-1", "10.0.128.0/17");
    let err = rules::new_network(
        id(),
        project(),
        &req,
        std::slice::from_ref(&existing),
        now(),
    )
    .unwrap_err();
    let (field, rule, message) = conflict(err);
    assert_eq!(field.as_deref(), Some("cidr_block"));
    assert_eq!(rule, "network-overlap");
    assert_eq!(
        message,
        format!(
            "10.0.128.0/17 overlaps network 'net-10.0.0.0/16' ({}, 10.0.0.0/16) in aws us-east-1",
            existing.id
        )
    );
}

#[test]
fn the_same_cidr_is_allowed_in_another_region_or_provider_or_after_deletion() {
    let existing = network(Provider::Aws, "us-east-1", "10.0.0.0/16");
    let elsewhere = [
        network_request(Provider::Aws, "eu-west-1", "10.0.0.0/16"),
        network_request(Provider::Gcp, "us-east1", "10.0.0.0/16"),
    ];
    for req in &elsewhere {
        assert!(
            rules::new_network(id(), project(), req, std::slice::from_ref(&existing), now())
                .is_ok()
        );
    }
    let gone = with_status(existing, NetworkStatus::Deleted);
    let same = network_request(Provider::Aws, "us-east-1", "10.0.0.0/16");
    assert!(rules::new_network(id(), project(), &same, &[gone], now()).is_ok());
}

#[test]
fn provider_region_and_cidr_are_immutable_but_the_name_is_not() {
    let net = network(Provider::Aws, "us-east-1", "10.0.0.0/16");
    let req = NetworkUpdate {
        name: Some("renamed".into()),
        provider: Some("gcp".into()),
        region: Some("eu-west-1".into()),
        cidr_block: Some("10.1.0.0/16".into()),
    };
    let errors = all_invalid(rules::update_network(&net, &req, now()).unwrap_err());
    let pairs: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.field.as_str(), e.rule.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("provider", "immutable"),
            ("region", "immutable"),
            ("cidr_block", "immutable")
        ]
    );
    assert_eq!(
        errors[2].message,
        "cidr_block cannot change after creation; create a new network"
    );

    let rename = NetworkUpdate {
        name: Some(" renamed ".into()),
        ..Default::default()
    };
    let next = rules::update_network(&net, &rename, now()).unwrap();
    assert_eq!(next.name, "renamed");
    assert_eq!(next.cidr_block, net.cidr_block);
}

#[test]
fn a_deleting_network_cannot_be_updated() {
    let net = with_status(
        network(Provider::Aws, "us-east-1", "10.0.0.0/16"),
        NetworkStatus::Deleting,
    );
    let rename = NetworkUpdate {
        name: Some("late".into()),
        ..Default::default()
    };
    let (_, rule, message) = conflict(rules::update_network(&net, &rename, now()).unwrap_err());
    assert_eq!(rule, "network-deleting");
    assert_eq!(message, format!("network {} is deleting", net.id));
}

#[test]
fn a_network_with_live_clusters_cannot_be_deleted_and_the_409_names_them() {
    let net = network(Provider::Aws, "us-east-1", "10.0.0.0/16");
    let orders = cluster(&net, "orders", ClusterStatus::Running);
    let billing = cluster(&net, "billing", ClusterStatus::Deleting);
    let old = cluster(&net, "old", ClusterStatus::Deleted);
    let err =
        rules::check_network_deletable(&net, &[orders.clone(), billing.clone(), old]).unwrap_err();
    let (field, rule, message) = conflict(err);
    assert_eq!((field, rule.as_str()), (None, "network-has-clusters"));
    assert_eq!(
        message,
        format!(
            "network {} still holds clusters 'orders' ({}), 'billing' ({}); delete them first",
            net.id, orders.id, billing.id
        )
    );
}

#[test]
fn a_network_whose_clusters_are_deleted_or_elsewhere_can_be_deleted() {
    let net = network(Provider::Aws, "us-east-1", "10.0.0.0/16");
    let other = network(Provider::Aws, "us-east-1", "10.1.0.0/16");
    let clusters = [
        cluster(&net, "old", ClusterStatus::Deleted),
        cluster(&other, "elsewhere", ClusterStatus::Running),
    ];
    assert_eq!(rules::check_network_deletable(&net, &clusters), Ok(()));
}

#[test]
fn names_refuse_invisible_and_direction_changing_characters() {
    let mut req = network_request(Provider::Aws, "us-east-1", "10.0.0.0/16");
    for bad in [
        "pay\u{202e}lanigiro",
        "zero\u{200b}width",
        "\u{2066}isolate\u{2069}",
        "bom\u{feff}",
        "line\u{2028}separator",
        "para\u{2029}",
        "no\u{a0}break",
        "tab\tinside",
        "trailing\u{2028}",
    ] {
        req.name = bad.into();
        let (field, rule, message) =
            invalid(rules::new_network(id(), project(), &req, &[], now()).unwrap_err());
        assert_eq!(
            (field.as_str(), rule.as_str()),
            ("name", "printable"),
            "{bad:?}"
        );
        assert!(message.contains("U+"), "{bad:?}: {message}");
    }
    // Plain spaces and visible letters of any script are fine.
    req.name = "Zürich prod 東京 ✓".into();
    let net = rules::new_network(id(), project(), &req, &[], now()).unwrap();
    assert_eq!(net.name, "Zürich prod 東京 ✓");
}

#[test]
fn cloud_regions_come_from_a_catalog_and_aws_vpcs_are_16_to_28() {
    let refused = |req: NetworkCreate| {
        all_invalid(rules::new_network(id(), project(), &req, &[], now()).unwrap_err())
    };
    let errors = refused(network_request(Provider::Aws, "mars-1", "10.0.0.0/16"));
    assert_eq!(
        (errors[0].field.as_str(), errors[0].rule.as_str()),
        ("region", "known-region")
    );
    assert!(
        errors[0].message.contains("did you mean '"),
        "{}",
        errors[0].message
    );
    let errors = refused(network_request(
        Provider::Azure,
        "westeuropea",
        "10.0.0.0/16",
    ));
    assert!(
        errors[0].message.contains("did you mean 'westeurope'?"),
        "{}",
        errors[0].message
    );
    let errors = refused(network_request(Provider::Aws, "us-east-1", "10.0.0.0/8"));
    assert_eq!(
        (errors[0].field.as_str(), errors[0].rule.as_str()),
        ("cidr_block", "vpc-size")
    );
    for (provider, region) in [
        (Provider::Gcp, "us-central1"),
        (Provider::Azure, "westeurope"),
    ] {
        assert!(rules::new_network(
            id(),
            project(),
            &network_request(provider, region, "10.0.0.0/8"),
            &[],
            now()
        )
        .is_ok());
    }
    assert!(rules::new_network(
        id(),
        project(),
        &network_request(Provider::Local, "host", "10.0.0.0/16"),
        &[],
        now()
    )
    .is_ok());
}
