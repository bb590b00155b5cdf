use super::*;

fn renames(pairs: &[(&str, &str)]) -> TransformSpec {
    TransformSpec {
        subjects: pairs
            .iter()
            .map(|(from, to)| Rename {
                from: from.to_string(),
                to: to.to_string(),
            })
            .collect(),
        script: None,
    }
}

#[test]
fn renames_map_wildcards_and_tails_first_match_wins() {
    let t = Transform::new(&renames(&[
        ("orders.*.created", "sales.$1.new"),
        ("orders.>", "sales.orders.>"),
    ]))
    .unwrap();
    assert_eq!(t.subject("orders.eu.created"), "sales.eu.new");
    assert_eq!(
        t.subject("orders.eu.paid.late"),
        "sales.orders.eu.paid.late"
    );
    assert_eq!(t.subject("payments.1"), "payments.1");
    // The stream's own patterns rename when a rename covers them, and renames inside
    // one add their target pattern.
    assert_eq!(
        t.stream_subjects(&["orders.>".into(), "audit".into()]),
        ["sales.orders.>", "audit", "sales.*.new"]
    );
    let narrow = Transform::new(&renames(&[("orders.*", "sales.$1")])).unwrap();
    assert_eq!(
        narrow.stream_subjects(&["orders.>".into()]),
        ["orders.>", "sales.*"]
    );
}

#[test]
fn bad_renames_and_scripts_are_refused_naming_the_field() {
    for (from, to) in [
        ("orders..x", "a"),
        ("orders.>.x", "a"),
        ("orders.*", "a.$2"),
        ("orders.*", "a.*"),
        ("orders.>", "a.b"),
        ("orders.*", "a.>"),
    ] {
        let error = Transform::new(&renames(&[(from, to)])).err().unwrap();
        assert!(
            format!("{error:#}").starts_with("transform.subjects[0]"),
            "{from} -> {to}: {error:#}"
        );
    }
    let script = TransformSpec {
        script: Some("let x = ;".into()),
        ..TransformSpec::default()
    };
    let error = Transform::new(&script).err().unwrap();
    assert!(error.to_string().starts_with("transform.script"), "{error}");
}

#[test]
fn a_script_rewrites_headers_and_payload_and_may_skip() {
    let spec = TransformSpec {
        subjects: vec![Rename {
            from: "orders.>".into(),
            to: "sales.>".into(),
        }],
        script: Some(
            r#"
            if headers["Env"] == "test" { return false; }
            headers["Origin"] = subject;
            headers.remove("Secret");
            payload = payload.as_string().to_upper().to_blob();
            "#
            .into(),
        ),
    };
    let t = Transform::new(&spec).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("Secret", "x");
    headers.insert("Kind", "created");
    let out = t
        .apply("orders.eu", Some(&headers), Bytes::from_static(b"hello"))
        .unwrap()
        .unwrap();
    assert_eq!(out.subject, "sales.eu");
    assert_eq!(&out.payload[..], b"HELLO");
    let h = out.headers.unwrap();
    assert_eq!(h.get("Origin").unwrap().as_str(), "orders.eu");
    assert_eq!(h.get("Kind").unwrap().as_str(), "created");
    assert!(h.get("Secret").is_none());
    let mut test = HeaderMap::new();
    test.insert("Env", "test");
    assert!(t
        .apply("orders.eu", Some(&test), Bytes::new())
        .unwrap()
        .is_none());
}

#[test]
fn a_runaway_script_is_stopped_and_no_clock_is_there() {
    let spinning = TransformSpec {
        script: Some("loop { }".into()),
        ..TransformSpec::default()
    };
    let t = Transform::new(&spinning).unwrap();
    let error = t.apply("a", None, Bytes::new()).err().unwrap();
    assert!(
        error.to_string().contains("the transform script failed"),
        "{error}"
    );
    let clock = TransformSpec {
        script: Some("let t = timestamp();".into()),
        ..TransformSpec::default()
    };
    let t = Transform::new(&clock).unwrap();
    assert!(t.apply("a", None, Bytes::new()).is_err());
}
