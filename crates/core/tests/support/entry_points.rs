//! The entry points the fuzz targets (`fuzz/fuzz_targets/*.rs`) and the stable smoke test
//! (`tests/entry_points.rs`) drive, with what must hold for ANY input: no panic, and the
//! checks below. Shared by path (`#[path]`) so both run exactly the same code.
//!
//! - `prefix_text`: `Cidr` (`FromStr`, serde), the rules' prefix wrappers, ids,
//!   reachability sources, and `PrefixSet` answers checked against a naive scan.
//! - `request_body`: the JSON body of every create/update, parsed as the API parses it,
//!   then run through its rule against a small fixed state (two networks — AWS, and
//!   `local` where gateway transit is allowed — a peering on each, a cluster, a lab VPC);
//!   a refusal names a field and a rule; an acceptance survives the store's JSON round trip.
//! - `allowlist_file`: the `--public-allowlist-file` parser, then the server's validation.
#![allow(dead_code)]

use std::collections::HashSet;
use std::fmt::Debug;
use std::net::Ipv4Addr;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use isthmus_core::allowlist_file::parse_allowlist_text;
use isthmus_core::cidr::CidrError;
use isthmus_core::id::{ClusterId, Id, NetworkId, PeeringId, ProjectId};
use isthmus_core::ipam::PrefixSet;
use isthmus_core::lab::{self, LabHost, LabHostCreate, LabVpc, LabVpcCreate};
use isthmus_core::reach::Source;
use isthmus_core::resources::*;
use isthmus_core::{rules, Cidr, CoreError};
use serde::de::DeserializeOwned;
use serde::Serialize;

// ---- prefixes ---------------------------------------------------------------------------

fn check_one(raw: &str) -> Option<Cidr> {
    let parsed = raw.parse::<Cidr>();
    // The serde form (what request and stored JSON use) agrees with FromStr.
    let via_serde = serde_json::from_value::<Cidr>(serde_json::Value::String(raw.to_string()));
    assert_eq!(parsed.is_ok(), via_serde.is_ok(), "{raw:?}");
    // The rules' wrappers never panic and agree on what parses.
    let field = rules::parse_cidr("routes[0]", raw);
    assert_eq!(parsed.is_ok(), field.is_ok(), "{raw:?}");
    if let Ok(c) = rules::validate_network_cidr(raw) {
        assert!((8..=28).contains(&c.prefix_len()));
    }
    if let Ok(c) = lab::validate_lab_cidr(raw) {
        assert!((8..=30).contains(&c.prefix_len()));
    }
    let _ = raw.parse::<Source>();
    if let Ok(id) = raw.parse::<Id>() {
        assert_eq!(id.to_string().parse::<Id>().ok(), Some(id));
        assert_eq!(raw.parse::<ClusterId>().ok().map(|c| c.as_id()), Some(id));
    }
    match parsed {
        Ok(c) => {
            assert_eq!(via_serde.ok(), Some(c));
            // Display round-trips, and the arithmetic holds together.
            let text = c.to_string();
            assert_eq!(text.parse::<Cidr>().ok(), Some(c), "{raw:?} -> {text}");
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                serde_json::Value::String(text)
            );
            assert!(c.prefix_len() <= 32);
            assert_eq!(u32::from(c.network()), c.start());
            assert_eq!(u32::from(c.broadcast()), c.end());
            assert!(c.start() <= c.end());
            assert_eq!(u64::from(c.end() - c.start()) + 1, c.size());
            assert!(c.contains(&c) && c.overlaps(&c));
            assert_eq!(Cidr::containing(c.network(), c.prefix_len()), c);
            assert_eq!(Cidr::new(c.network(), c.prefix_len()).ok(), Some(c));
            Some(c)
        }
        Err(CidrError::HostBits { meant, .. }) => {
            // The network the message suggests is itself a valid prefix.
            assert_eq!(meant.to_string().parse::<Cidr>().ok(), Some(meant));
            None
        }
        Err(e) => {
            assert_eq!(e.rule(), "cidr-syntax");
            None
        }
    }
}

/// The prefix parsers on `text`: the whole of it, then each line, the lines that parse
/// forming a `PrefixSet` that must answer as a scan of them does.
pub fn prefix_text(text: &str) {
    let _ = check_one(text);
    let prefixes: Vec<Cidr> = text.lines().take(64).filter_map(check_one).collect();

    let mut set = PrefixSet::new();
    for (i, c) in prefixes.iter().enumerate() {
        set.insert(*c, i);
    }
    assert_eq!(set.len(), prefixes.len());
    // Each prefix asked against the set of all prefixes (itself included) and against the
    // set of the others: the answers match a scan.
    for q in &prefixes {
        let naive: Vec<usize> = (0..prefixes.len())
            .filter(|j| prefixes[*j].overlaps(q))
            .collect();
        let mut got: Vec<usize> = set.overlapping(q).into_iter().map(|(_, v)| *v).collect();
        got.sort_unstable();
        assert_eq!(got, naive, "overlapping({q})");
        let first = set.first_overlap(q).map(|(c, _)| *c);
        assert!(first.is_some_and(|c| c.overlaps(q)), "first_overlap({q})");
        for addr in [q.network(), q.broadcast()] {
            let best = prefixes
                .iter()
                .filter(|c| c.contains_addr(addr))
                .map(Cidr::prefix_len)
                .max();
            let got = set.longest_match(addr).map(|(c, _)| *c);
            assert_eq!(got.map(|c| c.prefix_len()), best, "longest_match({addr})");
            assert!(got.is_some_and(|c| c.contains_addr(addr)));
        }
    }
    // Removing a prefix removes every copy of it, and only it.
    if let Some(first) = prefixes.first() {
        let copies = prefixes.iter().filter(|c| *c == first).count();
        assert_eq!(set.remove(first).len(), copies);
        assert_eq!(set.len(), prefixes.len() - copies);
        assert!(set.iter().all(|(c, _)| c != first));
        assert!(set.remove(first).is_empty());
    }
    let _ = set.longest_match(Ipv4Addr::UNSPECIFIED);
}

// ---- request bodies ---------------------------------------------------------------------

const ZONE: &str = "isthmus.internal";

fn id(n: u8) -> Id {
    Id::from_parts(1_700_000_000, [n; 8])
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

fn project() -> ProjectId {
    ProjectId(id(1))
}

struct Fixture {
    networks: Vec<Network>,
    /// The peerings of `networks[i]`.
    peerings: Vec<Vec<Peering>>,
    cluster: Cluster,
    taken_ips: HashSet<Ipv4Addr>,
    lab_vpc: LabVpc,
    internet_hosts: Vec<LabHost>,
}

/// What the API accepts (it uses `serde_path_to_error` for the error message only: the
/// same values parse).
fn parse<T: DeserializeOwned>(raw: &[u8]) -> Option<T> {
    serde_json::from_slice(raw).ok()
}

fn json<T: DeserializeOwned>(text: &str) -> T {
    parse(text.as_bytes()).expect("fixture JSON")
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let aws = rules::new_network(
        NetworkId(id(2)),
        project(),
        &json(
            r#"{"name":"prod","provider":"aws","region":"us-east-1","cidr_block":"10.0.0.0/16"}"#,
        ),
        &[],
        now(),
    )
    .unwrap();
    let local = rules::new_network(
        NetworkId(id(3)),
        project(),
        &json(r#"{"name":"lab","provider":"local","region":"local","cidr_block":"172.16.0.0/16"}"#),
        &[],
        now(),
    )
    .unwrap();
    let on_aws = rules::new_peering(
        PeeringId(id(4)),
        project(),
        &json(r#"{"name":"corp","network_id":"x","peer":{"account_id":"111122223333","network_id":"vpc-0a1b2c3d","region":"us-east-1"},"routes":["192.168.0.0/24","10.1.0.0/16"]}"#),
        &aws,
        &[],
        now(),
    )
    .unwrap();
    let on_local = rules::new_peering(
        PeeringId(id(5)),
        project(),
        &json(r#"{"name":"hub","network_id":"x","peer":{"account_id":"lab","network_id":"hub","region":"local"},"routes":["192.168.0.0/24"],"transit_routes":["10.8.0.0/16"],"allow_gateway_transit":true}"#),
        &local,
        &[],
        now(),
    )
    .unwrap();
    let mut cluster = rules::new_cluster(
        ClusterId(id(6)),
        project(),
        &json(r#"{"name":"db","network_id":"x","engine":"nats","topology":"three-node-multi-zone",
                  "public_access":{"enabled":true,"allowlist":[{"cidr":"203.0.113.0/24","comment":"office"}]},
                  "private_allowlist":[{"cidr":"192.168.0.0/24"}],
                  "egress_allowlist":[{"cidr":"192.168.0.0/24","ports":[443]}]}"#),
        &aws,
        &HashSet::new(),
        ZONE,
        now(),
    )
    .unwrap();
    rules::assign_public_endpoint(&mut cluster, &HashSet::new()).unwrap();
    let taken_ips = cluster.nodes.iter().map(|n| n.ip).collect();
    let mut lab_vpc = lab::new_lab_vpc(
        &json(r#"{"name":"hub","cidr_block":"192.168.0.0/24"}"#),
        &[],
        now(),
    )
    .unwrap();
    let host = lab::new_lab_host(&lab_vpc, &json(r#"{"name":"client"}"#)).unwrap();
    lab_vpc.hosts.push(host);
    let internet = lab::new_internet_host(&[], &json(r#"{"name":"cdn"}"#)).unwrap();
    Fixture {
        networks: vec![aws, local],
        peerings: vec![vec![on_aws], vec![on_local]],
        cluster,
        taken_ips,
        lab_vpc,
        internet_hosts: vec![internet],
    }
});

/// A refusal names the field and the rule (what the API's problem+json carries); an
/// acceptance is stored as JSON and must read back the same.
fn check<T: Serialize + DeserializeOwned + PartialEq + Debug>(outcome: Result<T, CoreError>) {
    match outcome {
        Ok(value) => {
            let text = serde_json::to_string(&value).expect("serialize accepted value");
            let back: T = serde_json::from_str(&text).expect("read back accepted value");
            assert_eq!(back, value, "JSON round trip of {text}");
        }
        Err(CoreError::Invalid(errors)) => {
            assert!(!errors.is_empty(), "an Invalid error with no field");
            for e in errors {
                assert!(!e.field.is_empty() && !e.rule.is_empty(), "{e:?}");
            }
        }
        Err(CoreError::Conflict { rule, .. }) => assert!(!rule.is_empty()),
        Err(other) => panic!("a create/update rule answered {other:?}"),
    }
}

/// One request body: parsed as every create/update request type, each that parses run
/// through its rule against the fixed state.
pub fn request_body(data: &[u8]) {
    let f = &*FIXTURE;
    if let Some(req) = parse::<ProjectCreate>(data) {
        let _ = rules::validate_name("name", &req.name);
    }
    if let Some(req) = parse::<NetworkCreate>(data) {
        check(rules::new_network(
            NetworkId(id(9)),
            project(),
            &req,
            &f.networks,
            now(),
        ));
    }
    if let Some(req) = parse::<NetworkUpdate>(data) {
        for network in &f.networks {
            check(rules::update_network(network, &req, now()));
        }
    }
    if let Some(req) = parse::<PeeringCreate>(data) {
        for (network, peerings) in f.networks.iter().zip(&f.peerings) {
            check(rules::new_peering(
                PeeringId(id(9)),
                project(),
                &req,
                network,
                peerings,
                now(),
            ));
        }
    }
    if let Some(req) = parse::<PeeringUpdate>(data) {
        for (network, peerings) in f.networks.iter().zip(&f.peerings) {
            check(rules::update_peering(
                &peerings[0],
                &req,
                network,
                peerings,
                now(),
            ));
        }
    }
    if let Some(req) = parse::<ClusterCreate>(data) {
        for network in &f.networks {
            let outcome = rules::new_cluster(
                ClusterId(id(9)),
                project(),
                &req,
                network,
                &f.taken_ips,
                ZONE,
                now(),
            )
            .and_then(|mut c| {
                rules::assign_public_endpoint(&mut c, &HashSet::new())?;
                Ok(c)
            });
            check(outcome);
        }
    }
    if let Some(req) = parse::<ClusterUpdate>(data) {
        let outcome = rules::update_cluster(&f.cluster, &req, now()).and_then(|mut c| {
            rules::assign_public_endpoint(&mut c, &HashSet::new())?;
            Ok(c)
        });
        check(outcome);
    }
    if let Some(req) = parse::<LabVpcCreate>(data) {
        check(lab::new_lab_vpc(
            &req,
            std::slice::from_ref(&f.lab_vpc),
            now(),
        ));
    }
    if let Some(req) = parse::<LabHostCreate>(data) {
        check(lab::new_lab_host(&f.lab_vpc, &req));
        check(lab::new_internet_host(&f.internet_hosts, &req));
    }
}

// ---- allow-list files -------------------------------------------------------------------

/// An allow-list file's text, parsed, then validated as `cluster update` sends it.
pub fn allowlist_file(text: &str) {
    let Ok(entries) = parse_allowlist_text(text) else {
        return;
    };
    assert!(entries.len() <= text.lines().count());
    for e in &entries {
        // One token, no comment marker, and a comment with nothing to trim.
        assert!(!e.cidr.is_empty(), "{e:?}");
        assert!(
            !e.cidr.contains(char::is_whitespace) && !e.cidr.contains('#'),
            "{e:?}"
        );
        assert!(
            !e.comment.contains('#') && e.comment.trim() == e.comment,
            "{e:?}"
        );
    }
    let _ = rules::validate_allowlist("public_access.allowlist", &entries);
}
