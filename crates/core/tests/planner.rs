//! The offline planners behind `isthmus plan cover|split|free`, pinned by the output a
//! user reads. `isthmus plan split` prints `render_split_table(split(..))` verbatim.

use isthmus_core::planner::{cover, free, render_split_table, split, SplitRow};
use isthmus_core::{Cidr, CoreError};

fn c(s: &str) -> Cidr {
    s.parse().unwrap()
}

fn field_and_rule(err: CoreError) -> (String, String, String) {
    match err {
        CoreError::Invalid(errors) => {
            assert_eq!(errors.len(), 1, "{errors:?}");
            let e = &errors[0];
            (e.field.clone(), e.rule.clone(), e.message.clone())
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}

/// The GKE example of the Event Store Cloud docs: a /15 split into a /16 for pods and two
/// /17s for services and nodes.
#[test]
fn gke_split_of_a_slash_15_matches_the_event_store_cloud_docs() {
    let rows = split(c("172.30.0.0/15"), &[16, 17, 17]).unwrap();
    let summary: Vec<(String, u64)> = rows
        .iter()
        .map(|r| (r.subnet.to_string(), r.hosts))
        .collect();
    assert_eq!(
        summary,
        [
            ("172.30.0.0/16".to_string(), 65534),
            ("172.31.0.0/17".to_string(), 32766),
            ("172.31.128.0/17".to_string(), 32766),
        ]
    );
}

#[test]
fn gke_split_table_prints_exactly_this() {
    let rows = split(c("172.30.0.0/15"), &[16, 17, 17]).unwrap();
    let expected = "\
subnet           range                          usable range                   hosts
172.30.0.0/16    172.30.0.0 - 172.30.255.255    172.30.0.1 - 172.30.255.254    65534
172.31.0.0/17    172.31.0.0 - 172.31.127.255    172.31.0.1 - 172.31.127.254    32766
172.31.128.0/17  172.31.128.0 - 172.31.255.255  172.31.128.1 - 172.31.255.254  32766
";
    assert_eq!(render_split_table(&rows), expected);
}

#[test]
fn split_aligns_each_subnet_to_its_own_size_leaving_a_gap_when_needed() {
    // A /24 first, then a /23 cannot start at .1.0 (not /23-aligned): it starts at .2.0.
    let rows = split(c("10.0.0.0/22"), &[24, 23]).unwrap();
    let subnets: Vec<String> = rows.iter().map(|r| r.subnet.to_string()).collect();
    assert_eq!(subnets, ["10.0.0.0/24", "10.0.2.0/23"]);
}

#[test]
fn split_that_does_not_fit_names_the_entry_that_overflows() {
    let (field, rule, message) =
        field_and_rule(split(c("172.30.0.0/15"), &[16, 17, 17, 24]).unwrap_err());
    assert_eq!(field, "into[3]");
    assert_eq!(rule, "does-not-fit");
    assert_eq!(
        message,
        "/24 (256 addresses) does not fit in 172.30.0.0/15: only 0 addresses are left after 172.31.128.0/17"
    );
}

#[test]
fn split_refuses_a_size_wider_than_the_parent_or_beyond_32() {
    let (field, rule, message) = field_and_rule(split(c("10.0.0.0/16"), &[24, 15]).unwrap_err());
    assert_eq!(
        (field.as_str(), rule.as_str()),
        ("into[1]", "prefix-length")
    );
    assert_eq!(message, "/15 is wider than the parent 10.0.0.0/16");

    let (field, rule, _) = field_and_rule(split(c("10.0.0.0/16"), &[33]).unwrap_err());
    assert_eq!(
        (field.as_str(), rule.as_str()),
        ("into[0]", "prefix-length")
    );

    let (field, rule, _) = field_and_rule(split(c("10.0.0.0/16"), &[]).unwrap_err());
    assert_eq!((field.as_str(), rule.as_str()), ("into", "required"));
}

#[test]
fn hosts_leave_out_network_and_broadcast_except_on_point_to_point_and_host_routes() {
    let row = |s: &str| SplitRow::for_subnet(c(s));
    assert_eq!(row("10.0.0.0/30").hosts, 2);
    assert_eq!(row("10.0.0.0/30").usable.to_string(), "10.0.0.1 - 10.0.0.2");
    // RFC 3021: a /31 link has no network or broadcast address.
    assert_eq!(row("10.0.0.0/31").hosts, 2);
    assert_eq!(row("10.0.0.0/31").usable.to_string(), "10.0.0.0 - 10.0.0.1");
    assert_eq!(row("10.0.0.7/32").hosts, 1);
    assert_eq!(row("10.0.0.7/32").usable.to_string(), "10.0.0.7 - 10.0.0.7");
}

#[test]
fn split_reaches_the_very_top_of_the_address_space_without_wrapping() {
    let rows = split(c("255.255.255.252/30"), &[31, 31]).unwrap();
    assert_eq!(rows[1].subnet, c("255.255.255.254/31"));
    assert!(split(c("255.255.255.252/30"), &[31, 31, 32]).is_err());
}

#[test]
fn cover_is_the_smallest_prefix_holding_every_input() {
    assert_eq!(
        cover(&[c("10.1.0.0/16"), c("10.2.0.0/16")]),
        Some(c("10.0.0.0/14"))
    );
    assert_eq!(cover(&[c("10.1.0.0/16")]), Some(c("10.1.0.0/16")));
    assert_eq!(
        cover(&[c("192.168.1.0/24"), c("192.168.1.128/25")]),
        Some(c("192.168.1.0/24"))
    );
    assert_eq!(
        cover(&[c("10.0.0.0/8"), c("192.168.0.0/16")]),
        Some(c("0.0.0.0/0"))
    );
    assert_eq!(cover(&[]), None);
}

#[test]
fn free_skips_what_is_taken_and_stays_aligned() {
    let taken = [c("10.0.0.0/24"), c("10.0.1.128/25"), c("10.0.3.0/24")];
    let found = free(c("10.0.0.0/16"), 24, 3, &taken);
    assert_eq!(
        found,
        [c("10.0.2.0/24"), c("10.0.4.0/24"), c("10.0.5.0/24")]
    );
}

#[test]
fn free_returns_fewer_when_the_parent_runs_out() {
    let found = free(c("10.0.0.0/23"), 24, 5, &[c("10.0.0.0/24")]);
    assert_eq!(found, [c("10.0.1.0/24")]);
    assert!(free(c("10.0.0.0/16"), 24, 1, &[c("10.0.0.0/8")]).is_empty());
    assert!(
        free(c("10.0.0.0/16"), 15, 1, &[]).is_empty(),
        "a /15 never fits in a /16"
    );
}

#[test]
fn free_steps_over_a_huge_blocked_range_at_once() {
    // Everything but the last /24 of 10/8 is taken: 65,535 candidates are skipped by
    // jumping past the one blocking range, not by testing each.
    let taken = [
        c("10.0.0.0/9"),
        c("10.128.0.0/10"),
        c("10.192.0.0/11"),
        c("10.224.0.0/12"),
        c("10.240.0.0/13"),
        c("10.248.0.0/14"),
        c("10.252.0.0/15"),
        c("10.254.0.0/16"),
        c("10.255.0.0/17"),
        c("10.255.128.0/18"),
        c("10.255.192.0/19"),
        c("10.255.224.0/20"),
        c("10.255.240.0/21"),
        c("10.255.248.0/22"),
        c("10.255.252.0/23"),
        c("10.255.254.0/24"),
    ];
    assert_eq!(free(c("10.0.0.0/8"), 24, 2, &taken), [c("10.255.255.0/24")]);
}

#[test]
fn split_says_how_many_addresses_the_earlier_subnets_left() {
    let (field, _, message) = field_and_rule(split(c("10.0.0.0/24"), &[25, 26, 25]).unwrap_err());
    assert_eq!(field, "into[2]");
    assert_eq!(
        message,
        "/25 (128 addresses) does not fit in 10.0.0.0/24: only 64 addresses are left after 10.0.0.128/26"
    );
}
