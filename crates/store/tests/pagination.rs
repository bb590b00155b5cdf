//! Lists page by cursor in creation order: walking the pages visits every item once.

#[macro_use]
mod common;

use isthmus_core::resources::Network;
use isthmus_store::api::{Api, Env};
use std::collections::HashSet;

use common::*;
use isthmus_core::resources::NetworkUpdate;
use isthmus_store::PageRequest;

on_both_backends!(walking_the_pages_visits_every_network_exactly_once_in_creation_order);
async fn walking_the_pages_visits_every_network_exactly_once_in_creation_order(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let mut created = Vec::new();
    for i in 0..25 {
        let req = network_req(&format!("n{i}"), &format!("10.{i}.0.0/16"));
        created.push(
            Api::<Network>::new(t.store.docs())
                .create(&alice(), p, &req, &Env::default(), None)
                .await
                .unwrap()
                .resource
                .id,
        );
    }
    let mut seen = Vec::new();
    let mut page = PageRequest {
        limit: 7,
        ..Default::default()
    };
    loop {
        let got = Api::<Network>::new(t.store.docs())
            .list(p, &page)
            .await
            .unwrap();
        assert!(got.items.len() <= 7);
        seen.extend(got.items.iter().map(|n| n.id));
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, created);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 25);
}

on_both_backends!(an_exactly_full_last_page_has_no_next_cursor);
async fn an_exactly_full_last_page_has_no_next_cursor(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    for i in 0..4 {
        let req = network_req(&format!("n{i}"), &format!("10.{i}.0.0/16"));
        Api::<Network>::new(t.store.docs())
            .create(&alice(), p, &req, &Env::default(), None)
            .await
            .unwrap();
    }
    let first = Api::<Network>::new(t.store.docs())
        .list(
            p,
            &PageRequest {
                limit: 2,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let second = Api::<Network>::new(t.store.docs())
        .list(
            p,
            &PageRequest {
                limit: 2,
                cursor: first.next_cursor.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(second.items.len(), 2);
    assert_eq!(second.next_cursor, None);
}

on_both_backends!(the_audit_log_pages_by_sequence_without_gaps_or_repeats);
async fn the_audit_log_pages_by_sequence_without_gaps_or_repeats(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "n", "10.1.0.0/16").await;
    for i in 0..10 {
        let rename = NetworkUpdate {
            name: Some(format!("n{i}")),
            ..Default::default()
        };
        Api::<Network>::new(t.store.docs())
            .update(&alice(), p, n.id.as_id(), &rename, None)
            .await
            .unwrap();
    }
    let everything = t
        .store
        .list_events(p, &PageRequest::default())
        .await
        .unwrap()
        .items;
    assert_eq!(everything.len(), 12, "project, network and ten renames");

    let mut walked = Vec::new();
    let mut page = PageRequest {
        limit: 5,
        ..Default::default()
    };
    loop {
        let got = t.store.list_events(p, &page).await.unwrap();
        walked.extend(got.items);
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(walked, everything);
}

on_both_backends!(projects_list_only_those_asked_for);
async fn projects_list_only_those_asked_for(backend: Backend) {
    let t = open(backend).await;
    let a = project(&*t.store, "a").await;
    let _b = project(&*t.store, "b").await;
    let c = project(&*t.store, "c").await;
    let all = t
        .store
        .list_projects(None, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(all.items.len(), 3);
    let some = t
        .store
        .list_projects(Some(&[c, a]), &PageRequest::default())
        .await
        .unwrap();
    let ids: Vec<_> = some.items.iter().map(|p| p.id).collect();
    assert_eq!(ids, vec![a, c]);
    let none = t
        .store
        .list_projects(Some(&[]), &PageRequest::default())
        .await
        .unwrap();
    assert!(none.items.is_empty());
}
