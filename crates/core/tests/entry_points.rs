//! A stable, quick smoke of what the fuzz targets (`fuzz/`, nightly, `scripts/fuzz`) check
//! at length: the same entry points and checks (`support/entry_points.rs`), driven by
//! proptest with a few hundred generated inputs each — request bodies built from the
//! fields the API knows, prefix lists, allow-list files, and plain arbitrary text.

#[path = "support/entry_points.rs"]
mod entry_points;

use proptest::prelude::*;
use serde_json::{Map, Value};

/// Text that is often a prefix, an address or an id, and sometimes nonsense.
fn prefixish() -> impl Strategy<Value = String> {
    prop_oneof![
        (any::<[u8; 4]>(), 0u8..=34)
            .prop_map(|(a, len)| format!("{}.{}.{}.{}/{len}", a[0], a[1], a[2], a[3])),
        (
            prop::sample::select(vec![10u8, 100, 172, 192, 198, 203]),
            any::<[u8; 3]>(),
            0u8..=32
        )
            .prop_map(|(first, a, len)| format!("{first}.{}.{}.{}/{len}", a[0], a[1], a[2])),
        any::<[u8; 4]>().prop_map(|a| format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])),
        "[ 0-9./a-z-]{0,24}",
        ".{0,12}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prefixish().prop_map(Value::from),
        2 => prop::sample::select(vec![
            "aws", "gcp", "azure", "local", "us-east-1", "single-node",
            "three-node-multi-zone", "nats", "postgresql", "probe", "hub", "", " ", "\u{7}",
        ])
        .prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => (0u16..3).prop_map(Value::from),
        1 => Just(Value::Null),
    ]
}

const KEYS: &[&str] = &[
    "name",
    "provider",
    "region",
    "cidr_block",
    "network_id",
    "peer",
    "account_id",
    "routes",
    "transit_routes",
    "allow_gateway_transit",
    "engine",
    "topology",
    "public_access",
    "enabled",
    "allowlist",
    "cidr",
    "comment",
    "private_allowlist",
    "egress_allowlist",
    "ports",
    "behind",
    "ip",
];

/// JSON objects whose keys are the request fields, nested a few levels.
fn body() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..7).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

/// The fuzz seeds' request bodies (valid requests of every kind).
fn seed_bodies() -> Vec<Value> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds/requests");
    let mut bodies: Vec<Value> = std::fs::read_dir(dir)
        .expect("seed directory")
        .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect();
    bodies.sort_by_key(|b| b.to_string());
    bodies
}

/// The `n`th object of `value` (depth first), if it has that many.
fn nth_object<'a>(value: &'a mut Value, n: &mut usize) -> Option<&'a mut Map<String, Value>> {
    match value {
        Value::Object(_) if *n == 0 => value.as_object_mut(),
        Value::Object(map) => {
            *n -= 1;
            map.values_mut().find_map(|v| nth_object(v, n))
        }
        Value::Array(items) => items.iter_mut().find_map(|v| nth_object(v, n)),
        _ => None,
    }
}

/// A valid request with a few fields set to other values or taken out: most of these
/// parse, so the rules behind them run.
fn mutated_body() -> impl Strategy<Value = Value> {
    let edits = prop::collection::vec(
        (
            0usize..6,
            prop::sample::select(KEYS),
            prop::option::weighted(0.85, body()),
        ),
        1..4,
    );
    (prop::sample::select(seed_bodies()), edits).prop_map(|(mut value, edits)| {
        for (n, key, new) in edits {
            let mut n = n;
            if let Some(object) = nth_object(&mut value, &mut n) {
                match new {
                    Some(v) => object.insert(key.to_string(), v),
                    None => object.remove(key),
                };
            }
        }
        value
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_request_body_is_validated_without_panic(body in body()) {
        entry_points::request_body(body.to_string().as_bytes());
    }

    #[test]
    fn any_edit_of_a_valid_request_is_validated_without_panic(body in mutated_body()) {
        entry_points::request_body(body.to_string().as_bytes());
    }

    #[test]
    fn any_bytes_as_a_request_body_are_refused_without_panic(raw in prop::collection::vec(any::<u8>(), 0..64)) {
        entry_points::request_body(&raw);
    }

    #[test]
    fn any_prefix_list_parses_and_sets_without_panic(lines in prop::collection::vec(prefixish(), 0..12)) {
        entry_points::prefix_text(&lines.join("\n"));
    }

    #[test]
    fn any_allowlist_file_parses_without_panic(
        lines in prop::collection::vec((prefixish(), "[ \t#a-z,]{0,12}"), 0..12),
        crlf in any::<bool>(),
    ) {
        let text: Vec<String> = lines.into_iter().map(|(c, rest)| format!("{c}{rest}")).collect();
        entry_points::allowlist_file(&text.join(if crlf { "\r\n" } else { "\n" }));
    }
}

/// The seed inputs of the fuzz targets, run once each (so a seed that stops parsing, or a
/// fixture that stops being valid, shows up in the normal suite).
#[test]
fn the_fuzz_seeds_pass() {
    let seeds = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds");
    let run = |target: &str, check: &dyn Fn(&[u8])| {
        let dir = std::fs::read_dir(format!("{seeds}/{target}")).expect("seed directory");
        let mut n = 0;
        for entry in dir {
            check(&std::fs::read(entry.unwrap().path()).unwrap());
            n += 1;
        }
        assert!(n > 0, "no seeds for {target}");
    };
    run("requests", &|b| entry_points::request_body(b));
    run("cidr", &|b| {
        entry_points::prefix_text(std::str::from_utf8(b).unwrap())
    });
    run("allowlist_file", &|b| {
        entry_points::allowlist_file(std::str::from_utf8(b).unwrap())
    });
}
