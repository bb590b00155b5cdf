//! Peerings: 1 … 50 routes of /8 … /32, no duplicates or overlaps among themselves, none
//! overlapping the network, none overlapping a route of another live peering on the same
//! network; routes stay updatable; a peer in another region gets a warning, not a refusal.

use isthmus_core::ipam::PrefixSet;
use isthmus_core::resources::{Network, PeeringUpdate, Provider};
use isthmus_core::rules;
use isthmus_core::state::{NetworkStatus, PeeringStatus};
use isthmus_core::{CoreError, PeeringId};

use crate::support::*;

fn net() -> Network {
    network(Provider::Aws, "us-east-1", "10.0.0.0/16")
}

fn routes(list: &[&str]) -> Vec<String> {
    list.iter().map(|r| r.to_string()).collect()
}

fn check(list: &[&str]) -> Result<Vec<String>, CoreError> {
    rules::validate_routes(&routes(list), &net(), &PrefixSet::new())
        .map(|v| v.iter().map(|c| c.to_string()).collect())
}

#[test]
fn routes_from_slash_8_to_slash_32_are_accepted_in_order() {
    assert_eq!(
        check(&[
            "192.168.0.0/16",
            "172.16.0.0/12",
            "11.0.0.0/8",
            "203.0.113.7/32"
        ])
        .unwrap(),
        [
            "192.168.0.0/16",
            "172.16.0.0/12",
            "11.0.0.0/8",
            "203.0.113.7/32"
        ]
    );
}

#[test]
fn a_peering_needs_between_1_and_50_routes() {
    for n in [0usize, 51] {
        let many: Vec<String> = (0..n).map(|i| format!("192.168.{i}.0/24")).collect();
        let err = rules::validate_routes(&many, &net(), &PrefixSet::new()).unwrap_err();
        let (field, rule, message) = invalid(err);
        assert_eq!((field.as_str(), rule.as_str()), ("routes", "route-count"));
        assert_eq!(message, format!("a peering needs 1 to 50 routes, got {n}"));
    }
    let fifty: Vec<String> = (0..50).map(|i| format!("192.168.{i}.0/24")).collect();
    assert_eq!(
        rules::validate_routes(&fifty, &net(), &PrefixSet::new())
            .unwrap()
            .len(),
        50
    );
}

#[test]
fn a_route_wider_than_slash_8_is_refused() {
    let (field, rule, message) = invalid(check(&["192.168.0.0/16", "192.0.0.0/7"]).unwrap_err());
    assert_eq!(
        (field.as_str(), rule.as_str()),
        ("routes[1]", "prefix-length")
    );
    assert_eq!(message, "192.0.0.0/7 is wider than /8");
}

#[test]
fn a_route_with_bad_syntax_or_host_bits_names_its_index() {
    let errors = all_invalid(check(&["192.168.0.0/16", "nope", "172.16.1.9/24"]).unwrap_err());
    let found: Vec<(&str, &str, &str)> = errors
        .iter()
        .map(|e| (e.field.as_str(), e.rule.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (
                "routes[1]",
                "cidr-syntax",
                "'nope' is not an IPv4 prefix in a.b.c.d/len form"
            ),
            (
                "routes[2]",
                "host-bits-set",
                "'172.16.1.9/24' has host bits set: did you mean 172.16.1.0/24?"
            ),
        ]
    );
}

#[test]
fn a_route_listed_twice_is_a_duplicate() {
    let (field, rule, message) =
        invalid(check(&["192.168.1.0/24", "172.16.0.0/12", "192.168.1.0/24"]).unwrap_err());
    assert_eq!(
        (field.as_str(), rule.as_str()),
        ("routes[2]", "duplicate-route")
    );
    assert_eq!(message, "192.168.1.0/24 is listed twice (also routes[0])");
}

#[test]
fn routes_of_one_peering_must_not_overlap_each_other() {
    let (field, rule, message) =
        invalid(check(&["192.168.1.0/24", "192.168.1.128/25"]).unwrap_err());
    assert_eq!(
        (field.as_str(), rule.as_str()),
        ("routes[1]", "route-overlap")
    );
    assert_eq!(
        message,
        "192.168.1.128/25 overlaps routes[0] 192.168.1.0/24"
    );
}

#[test]
fn a_route_must_not_overlap_the_network_itself() {
    for route in ["10.0.5.0/24", "10.0.0.0/8"] {
        let (field, rule, message) = invalid(check(&[route]).unwrap_err());
        assert_eq!(
            (field.as_str(), rule.as_str()),
            ("routes[0]", "overlaps-network")
        );
        assert_eq!(
            message,
            format!("{route} overlaps the network's own CIDR 10.0.0.0/16")
        );
    }
}

#[test]
fn overlapping_a_route_of_another_live_peering_is_a_conflict() {
    let network = net();
    let first = peering(&network, &["192.168.1.0/24"], PeeringStatus::Active);
    let req = peering_request(&network, &["172.16.0.0/12", "192.168.1.128/25"]);
    let err = rules::new_peering(
        id(),
        project(),
        &req,
        &network,
        std::slice::from_ref(&first),
        now(),
    )
    .unwrap_err();
    let (field, rule, message) = conflict(err);
    assert_eq!(field.as_deref(), Some("routes[1]"));
    assert_eq!(rule, "route-taken");
    assert_eq!(
        message,
        format!(
            "192.168.1.128/25 overlaps route 192.168.1.0/24 of peering {} on the same network",
            first.id
        )
    );
}

#[test]
fn a_peering_still_being_deleted_holds_its_routes_but_a_deleted_one_does_not() {
    let network = net();
    let req = peering_request(&network, &["192.168.1.0/24"]);

    let deleting = peering(&network, &["192.168.0.0/16"], PeeringStatus::Deleting);
    let err = rules::new_peering(id(), project(), &req, &network, &[deleting], now());
    assert_eq!(conflict(err.unwrap_err()).1, "route-taken");

    let deleted = peering(&network, &["192.168.0.0/16"], PeeringStatus::Deleted);
    let created = rules::new_peering(id(), project(), &req, &network, &[deleted], now()).unwrap();
    assert_eq!(created.routes[0].to_string(), "192.168.1.0/24");
    assert_eq!(created.status, PeeringStatus::Provisioning);
}

#[test]
fn routes_can_be_updated_and_a_peering_does_not_collide_with_itself() {
    let network = net();
    let mine = peering(&network, &["192.168.1.0/24"], PeeringStatus::Active);
    let other = peering(&network, &["172.16.0.0/12"], PeeringStatus::Active);
    let on_network = [mine.clone(), other.clone()];

    let widen = PeeringUpdate {
        routes: Some(routes(&["192.168.0.0/16", "198.51.100.0/24"])),
        ..Default::default()
    };
    let next = rules::update_peering(&mine, &widen, &network, &on_network, now()).unwrap();
    let shown: Vec<String> = next.routes.iter().map(|c| c.to_string()).collect();
    assert_eq!(shown, ["192.168.0.0/16", "198.51.100.0/24"]);
    assert_eq!(
        next.generation,
        mine.generation + 1,
        "the data plane must follow"
    );

    let grab = PeeringUpdate {
        routes: Some(routes(&["172.16.5.0/24"])),
        ..Default::default()
    };
    let err = rules::update_peering(&mine, &grab, &network, &on_network, now()).unwrap_err();
    let (field, rule, message) = conflict(err);
    assert_eq!(
        (field.as_deref(), rule.as_str()),
        (Some("routes[0]"), "route-taken")
    );
    assert!(message.contains(&other.id.to_string()), "{message}");
}

#[test]
fn an_update_that_changes_nothing_keeps_the_generation() {
    let network = net();
    let mine = peering(&network, &["192.168.1.0/24"], PeeringStatus::Active);
    let same = PeeringUpdate {
        routes: Some(routes(&["192.168.1.0/24"])),
        allow_gateway_transit: Some(false),
        ..Default::default()
    };
    let next =
        rules::update_peering(&mine, &same, &network, std::slice::from_ref(&mine), now()).unwrap();
    assert_eq!(next.generation, mine.generation);
}

#[test]
fn a_deleting_peering_cannot_be_updated() {
    let network = net();
    let going = peering(&network, &["192.168.1.0/24"], PeeringStatus::Deleting);
    let req = PeeringUpdate {
        allow_gateway_transit: Some(true),
        ..Default::default()
    };
    let (_, rule, message) =
        conflict(rules::update_peering(&going, &req, &network, &[], now()).unwrap_err());
    assert_eq!(rule, "peering-deleting");
    assert_eq!(message, format!("peering {} is deleting", going.id));
}

#[test]
fn a_peer_in_another_region_is_allowed_with_a_latency_and_cost_warning() {
    let network = net();
    let mut req = peering_request(&network, &["192.168.1.0/24"]);
    req.peer.region = "eu-west-1".into();
    let p = rules::new_peering(id(), project(), &req, &network, &[], now()).unwrap();
    assert_eq!(
        p.warnings,
        ["peer region eu-west-1 differs from network region us-east-1: expect higher latency and inter-region transfer cost"]
    );
    let same_region = peering(&network, &["172.16.0.0/12"], PeeringStatus::Active);
    assert!(same_region.warnings.is_empty());
}

#[test]
fn local_networks_have_no_regions_to_warn_about() {
    let lab = network(Provider::Local, "lab", "10.0.0.0/16");
    let spec = peer("elsewhere");
    assert!(rules::peering_warnings(&lab, &spec).is_empty());
}

#[test]
fn the_peer_fields_are_required_and_free_of_whitespace() {
    let network = net();
    let mut req = peering_request(&network, &["192.168.1.0/24"]);
    req.peer.account_id = " ".into();
    req.peer.network_id = "vpc 1".into();
    let errors =
        all_invalid(rules::new_peering(id(), project(), &req, &network, &[], now()).unwrap_err());
    let pairs: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.field.as_str(), e.rule.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("peer.account_id", "required"),
            ("peer.network_id", "no-whitespace")
        ]
    );
}

#[test]
fn a_peering_needs_a_network_of_its_own_project_that_is_not_being_deleted() {
    let network = net();
    let req = peering_request(&network, &["192.168.1.0/24"]);
    let stranger = isthmus_core::ProjectId::from(isthmus_core::Id::from_parts(1, [9; 8]));
    let (field, rule, _) =
        invalid(rules::new_peering(id(), stranger, &req, &network, &[], now()).unwrap_err());
    assert_eq!(
        (field.as_str(), rule.as_str()),
        ("network_id", "same-project")
    );

    let going = with_status(network, NetworkStatus::Deleting);
    let err = rules::new_peering(id(), project(), &req, &going, &[], now()).unwrap_err();
    assert_eq!(conflict(err).1, "network-deleting");
}

#[test]
fn taken_routes_keep_the_owner_of_each_route_and_skip_the_peering_being_updated() {
    let network = net();
    let a = peering(&network, &["192.168.1.0/24"], PeeringStatus::Active);
    let b = peering(
        &network,
        &["172.16.0.0/12"],
        PeeringStatus::PendingAcceptance,
    );
    let taken: PrefixSet<PeeringId> = rules::taken_routes([&a, &b], Some(a.id));
    let owners: Vec<(String, PeeringId)> =
        taken.iter().map(|(c, id)| (c.to_string(), *id)).collect();
    assert_eq!(owners, [("172.16.0.0/12".to_string(), b.id)]);
}

#[test]
fn the_peer_fields_follow_the_formats_of_the_networks_cloud() {
    let gcp = network(Provider::Gcp, "us-central1", "10.0.0.0/16");
    let mut req = peering_request(&gcp, &["192.168.1.0/24"]);
    req.peer = peer("us-central1"); // AWS-shaped ids on a GCP network
    req.peer.network_id = "Default".into();
    let errors =
        all_invalid(rules::new_peering(id(), project(), &req, &gcp, &[], now()).unwrap_err());
    let pairs: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.field.as_str(), e.rule.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("peer.account_id", "gcp-project-id"),
            ("peer.network_id", "gcp-network-name")
        ]
    );
    let aws = net();
    let mut req = peering_request(&aws, &["192.168.1.0/24"]);
    req.peer.region = "<YOUR_ROUTE_TABLE_ID>".into();
    let errors =
        all_invalid(rules::new_peering(id(), project(), &req, &aws, &[], now()).unwrap_err());
    assert_eq!(
        (errors[0].field.as_str(), errors[0].rule.as_str()),
        ("peer.region", "region-syntax")
    );
}
