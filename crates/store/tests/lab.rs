//! Lab VPCs and hosts live in the store: validated in the write transaction, kept across
//! restarts (the server rebuilds their namespaces from here), and audited.

#[macro_use]
mod common;

use common::*;
use isthmus_core::lab::{LabHostCreate, LabVpcCreate};
use isthmus_core::CoreError;
use isthmus_store::{PageRequest, StoreError};

fn vpc(name: &str, cidr: &str) -> LabVpcCreate {
    LabVpcCreate {
        behind: None,
        name: name.into(),
        cidr_block: cidr.into(),
    }
}

fn host(name: &str, ip: Option<&str>) -> LabHostCreate {
    LabHostCreate {
        name: name.into(),
        ip: ip.map(str::to_string),
    }
}

/// The (field, rule) of a validation error or conflict.
fn rule_of(e: StoreError) -> (String, String) {
    match e {
        StoreError::Core(CoreError::Invalid(errors)) => {
            (errors[0].field.clone(), errors[0].rule.clone())
        }
        StoreError::Core(CoreError::Conflict { field, rule, .. }) => {
            (field.unwrap_or_default(), rule)
        }
        other => panic!("expected a rule violation, got {other:?}"),
    }
}

on_both_backends!(a_lab_vpc_and_its_hosts_survive_reopening_the_database);
async fn a_lab_vpc_and_its_hosts_survive_reopening_the_database(backend: Backend) {
    let t = open(backend).await;
    t.store
        .create_lab_vpc(&alice(), &vpc("customer", "172.16.0.0/16"))
        .await
        .unwrap();
    let first = t
        .store
        .add_lab_host(&alice(), "customer", &host("app", None))
        .await
        .unwrap();
    let chosen = t
        .store
        .add_lab_host(&alice(), "customer", &host("db", Some("172.16.9.9")))
        .await
        .unwrap();
    assert_eq!(
        first.ip.to_string(),
        "172.16.0.2",
        "the lowest address after network and gateway"
    );
    assert_eq!(chosen.ip.to_string(), "172.16.9.9");
    t.close().await;

    let reopened = t.reopen().await;
    let all = reopened.list_lab_vpcs().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].name, "customer");
    assert_eq!(all[0].cidr_block.to_string(), "172.16.0.0/16");
    let hosts: Vec<_> = all[0]
        .hosts
        .iter()
        .map(|h| (h.name.as_str(), h.ip.to_string()))
        .collect();
    assert_eq!(
        hosts,
        [
            ("app", "172.16.0.2".to_string()),
            ("db", "172.16.9.9".into())
        ]
    );
}

on_both_backends!(lab_vpc_names_are_dns_labels_and_unique);
async fn lab_vpc_names_are_dns_labels_and_unique(backend: Backend) {
    let t = open(backend).await;
    for bad in [
        "",
        "Has-Upper",
        "under_score",
        "-leading",
        "trailing-",
        "a b",
    ] {
        let e = t
            .store
            .create_lab_vpc(&alice(), &vpc(bad, "10.9.0.0/16"))
            .await
            .unwrap_err();
        assert_eq!(rule_of(e), ("name".into(), "dns-label".into()), "{bad:?}");
    }
    t.store
        .create_lab_vpc(&alice(), &vpc("customer", "10.9.0.0/16"))
        .await
        .unwrap();
    let e = t
        .store
        .create_lab_vpc(&alice(), &vpc("customer", "10.8.0.0/16"))
        .await
        .unwrap_err();
    assert_eq!(rule_of(e), ("name".into(), "name-taken".into()));
}

on_both_backends!(a_lab_vpc_cidr_is_private_without_host_bits);
async fn a_lab_vpc_cidr_is_private_without_host_bits(backend: Backend) {
    let t = open(backend).await;
    let cases = [
        ("8.8.8.0/24", "private-range"),
        ("172.16.0.7/16", "host-bits-set"),
        ("10.0.0.0/31", "prefix-length"),
        ("not-a-cidr", "cidr-syntax"),
    ];
    for (cidr, rule) in cases {
        let e = t
            .store
            .create_lab_vpc(&alice(), &vpc("v", cidr))
            .await
            .unwrap_err();
        assert_eq!(rule_of(e), ("cidr_block".into(), rule.into()), "{cidr}");
    }
    assert!(t.store.list_lab_vpcs().await.unwrap().is_empty());
}

on_both_backends!(a_host_address_is_inside_the_vpc_and_not_reserved_or_taken);
async fn a_host_address_is_inside_the_vpc_and_not_reserved_or_taken(backend: Backend) {
    let t = open(backend).await;
    t.store
        .create_lab_vpc(&alice(), &vpc("small", "192.168.5.0/29"))
        .await
        .unwrap();
    let cases = [
        ("192.168.6.2", "outside-vpc"),
        ("192.168.5.0", "reserved-address"),
        ("192.168.5.1", "reserved-address"),
        ("192.168.5.7", "reserved-address"),
        ("192.168.5.x", "ip-syntax"),
    ];
    for (ip, rule) in cases {
        let e = t
            .store
            .add_lab_host(&alice(), "small", &host("h", Some(ip)))
            .await
            .unwrap_err();
        assert_eq!(rule_of(e), ("ip".into(), rule.into()), "{ip}");
    }
    t.store
        .add_lab_host(&alice(), "small", &host("a", Some("192.168.5.3")))
        .await
        .unwrap();
    let e = t
        .store
        .add_lab_host(&alice(), "small", &host("b", Some("192.168.5.3")))
        .await
        .unwrap_err();
    assert_eq!(rule_of(e), ("ip".into(), "ip-taken".into()));
    let e = t
        .store
        .add_lab_host(&alice(), "small", &host("a", None))
        .await
        .unwrap_err();
    assert_eq!(rule_of(e), ("name".into(), "name-taken".into()));
}

on_both_backends!(allocation_skips_taken_addresses_until_the_vpc_is_full);
async fn allocation_skips_taken_addresses_until_the_vpc_is_full(backend: Backend) {
    let t = open(backend).await;
    // A /29 has six usable addresses; the gateway takes one, hosts get the other five.
    t.store
        .create_lab_vpc(&alice(), &vpc("small", "10.7.0.0/29"))
        .await
        .unwrap();
    t.store
        .add_lab_host(&alice(), "small", &host("fixed", Some("10.7.0.3")))
        .await
        .unwrap();
    let mut given = vec![];
    for name in ["h1", "h2", "h3", "h4"] {
        let h = t
            .store
            .add_lab_host(&alice(), "small", &host(name, None))
            .await
            .unwrap();
        given.push(h.ip.to_string());
    }
    assert_eq!(given, ["10.7.0.2", "10.7.0.4", "10.7.0.5", "10.7.0.6"]);
    let e = t
        .store
        .add_lab_host(&alice(), "small", &host("h5", None))
        .await
        .unwrap_err();
    assert_eq!(rule_of(e), ("ip".into(), "no-free-address".into()));
}

on_both_backends!(deleting_a_vpc_removes_its_hosts_and_unknown_names_are_not_found);
async fn deleting_a_vpc_removes_its_hosts_and_unknown_names_are_not_found(backend: Backend) {
    let t = open(backend).await;
    t.store
        .create_lab_vpc(&alice(), &vpc("customer", "172.16.0.0/16"))
        .await
        .unwrap();
    t.store
        .add_lab_host(&alice(), "customer", &host("app", None))
        .await
        .unwrap();
    let removed = t.store.delete_lab_host(&alice(), "customer", "app").await;
    assert_eq!(removed.unwrap().name, "app");
    assert!(matches!(
        t.store.delete_lab_host(&alice(), "customer", "app").await,
        Err(StoreError::Core(CoreError::NotFound { .. }))
    ));
    t.store
        .add_lab_host(&alice(), "customer", &host("app", None))
        .await
        .unwrap();
    let gone = t.store.delete_lab_vpc(&alice(), "customer").await.unwrap();
    assert_eq!(
        gone.hosts.len(),
        1,
        "the removed VPC is returned with its hosts"
    );
    assert!(matches!(
        t.store.get_lab_vpc("customer").await,
        Err(StoreError::Core(CoreError::NotFound { .. }))
    ));
    // The name is free again, and the new VPC starts without the old hosts.
    let again = t
        .store
        .create_lab_vpc(&alice(), &vpc("customer", "10.1.0.0/16"))
        .await
        .unwrap();
    assert!(again.hosts.is_empty());
    assert!(matches!(
        t.store
            .add_lab_host(&alice(), "nope", &host("h", None))
            .await,
        Err(StoreError::Core(CoreError::NotFound { .. }))
    ));
}

on_both_backends!(every_lab_change_is_in_the_audit_log_with_its_actor);
async fn every_lab_change_is_in_the_audit_log_with_its_actor(backend: Backend) {
    let t = open(backend).await;
    t.store
        .create_lab_vpc(&alice(), &vpc("customer", "172.16.0.0/16"))
        .await
        .unwrap();
    t.store
        .add_lab_host(&alice(), "customer", &host("app", None))
        .await
        .unwrap();
    t.store
        .delete_lab_host(&alice(), "customer", "app")
        .await
        .unwrap();
    t.store.delete_lab_vpc(&alice(), "customer").await.unwrap();
    let page = t
        .store
        .list_lab_events(&PageRequest::default())
        .await
        .unwrap();
    let log: Vec<_> = page
        .items
        .iter()
        .map(|e| (e.action.as_str(), e.resource_id.as_str()))
        .collect();
    assert_eq!(
        log,
        [
            ("lab_vpc.create", "customer"),
            ("lab_host.add", "customer/app"),
            ("lab_host.delete", "customer/app"),
            ("lab_vpc.delete", "customer"),
        ]
    );
    assert!(page.items.iter().all(|e| e.actor == alice().0));
    assert_eq!(page.items[1].after.as_ref().unwrap()["ip"], "172.16.0.2");
    assert!(page.items[3].after.is_none() && page.items[3].before.is_some());
}
