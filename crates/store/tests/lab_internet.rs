//! The lab's internet hosts and lab VPCs behind a hub live in the store: validated in the
//! write transaction, kept across restarts, and audited.

#[macro_use]
mod common;

use common::*;
use isthmus_core::lab::{LabHostCreate, LabVpcCreate};
use isthmus_core::CoreError;
use isthmus_store::{PageRequest, StoreError};

fn host(name: &str, ip: Option<&str>) -> LabHostCreate {
    LabHostCreate {
        name: name.into(),
        ip: ip.map(str::to_string),
    }
}

fn vpc(name: &str, cidr: &str, behind: Option<&str>) -> LabVpcCreate {
    LabVpcCreate {
        name: name.into(),
        cidr_block: cidr.into(),
        behind: behind.map(str::to_string),
    }
}

on_both_backends!(internet_hosts_get_public_looking_addresses_and_survive_a_restart);
async fn internet_hosts_get_public_looking_addresses_and_survive_a_restart(backend: Backend) {
    let t = open(backend).await;
    let first = t
        .store
        .add_internet_host(&alice(), &host("laptop", None))
        .await
        .unwrap();
    assert_eq!(
        first.ip.to_string(),
        "203.0.113.10",
        "the default range starts at .10"
    );
    let chosen = t
        .store
        .add_internet_host(&alice(), &host("office", Some("198.51.100.7")))
        .await
        .unwrap();
    t.close().await;

    let reopened = t.reopen().await;
    assert_eq!(
        reopened.list_internet_hosts().await.unwrap(),
        vec![first, chosen]
    );
}

on_both_backends!(an_internet_host_with_a_private_address_or_a_taken_name_is_refused);
async fn an_internet_host_with_a_private_address_or_a_taken_name_is_refused(backend: Backend) {
    let t = open(backend).await;
    t.store
        .add_internet_host(&alice(), &host("laptop", None))
        .await
        .unwrap();
    match t
        .store
        .add_internet_host(&alice(), &host("laptop", None))
        .await
    {
        Err(StoreError::Core(CoreError::Conflict { rule, .. })) => assert_eq!(rule, "name-taken"),
        other => panic!("expected name-taken, got {other:?}"),
    }
    match t
        .store
        .add_internet_host(&alice(), &host("vpn", Some("10.0.0.5")))
        .await
    {
        Err(StoreError::Core(CoreError::Invalid(errors))) => {
            assert_eq!(
                (errors[0].field.as_str(), errors[0].rule.as_str()),
                ("ip", "public-address")
            )
        }
        other => panic!("expected public-address, got {other:?}"),
    }
}

on_both_backends!(deleting_an_internet_host_is_audited_and_frees_its_name);
async fn deleting_an_internet_host_is_audited_and_frees_its_name(backend: Backend) {
    let t = open(backend).await;
    t.store
        .add_internet_host(&alice(), &host("laptop", None))
        .await
        .unwrap();
    let removed = t
        .store
        .delete_internet_host(&alice(), "laptop")
        .await
        .unwrap();
    assert_eq!(removed.name, "laptop");
    assert!(t.store.list_internet_hosts().await.unwrap().is_empty());
    assert!(matches!(
        t.store.delete_internet_host(&alice(), "laptop").await,
        Err(StoreError::Core(CoreError::NotFound { .. }))
    ));
    let actions: Vec<String> = t
        .store
        .list_lab_events(&PageRequest::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        ["lab_internet_host.add", "lab_internet_host.delete"]
    );
}

on_both_backends!(a_vpc_behind_a_hub_keeps_its_hub_and_the_hub_cannot_go_first);
async fn a_vpc_behind_a_hub_keeps_its_hub_and_the_hub_cannot_go_first(backend: Backend) {
    let t = open(backend).await;
    t.store
        .create_lab_vpc(&alice(), &vpc("hub", "172.16.0.0/16", None))
        .await
        .unwrap();
    t.store
        .create_lab_vpc(&alice(), &vpc("vpn", "172.20.0.0/24", Some("hub")))
        .await
        .unwrap();
    t.close().await;

    let reopened = t.reopen().await;
    assert_eq!(
        reopened.get_lab_vpc("vpn").await.unwrap().behind.as_deref(),
        Some("hub")
    );
    match reopened.delete_lab_vpc(&alice(), "hub").await {
        Err(StoreError::Core(CoreError::Conflict { rule, message, .. })) => {
            assert_eq!(rule, "vpc-in-use");
            assert!(message.contains("vpn"), "{message}");
        }
        other => panic!("expected vpc-in-use, got {other:?}"),
    }
    reopened.delete_lab_vpc(&alice(), "vpn").await.unwrap();
    reopened.delete_lab_vpc(&alice(), "hub").await.unwrap();
}
