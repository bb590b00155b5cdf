//! Names are unique per kind within a project, enforced in the write transaction: a
//! second live object of a kind with a name is a 409 `name-taken` on `name`, however the
//! requests race; other kinds, other projects and deleted objects do not count. Objects
//! are found by name or by id. A store written before names were claimed keeps its
//! shared names (nothing fails at the upgrade) and says which they are.

#[macro_use]
mod common;

use common::*;
use isthmus_core::object::Object;
use isthmus_core::resources::{Cluster, Network, NetworkUpdate};
use isthmus_core::{CoreError, ProjectId};
use isthmus_store::api::{Api, Env};
use isthmus_store::{Store, StoreError};
use serde_json::json;

fn rule_of(err: StoreError) -> (Option<String>, String, String) {
    match err {
        StoreError::Core(CoreError::Conflict {
            field,
            rule,
            message,
        }) => (field, rule, message),
        other => panic!("expected a conflict, got {other}"),
    }
}

async fn try_network(
    store: &dyn Store,
    p: ProjectId,
    name: &str,
    cidr: &str,
) -> Result<Network, StoreError> {
    Api::<Network>::new(store.docs())
        .create(&alice(), p, &network_req(name, cidr), &Env::default(), None)
        .await
        .map(|c| c.resource)
}

on_both_backends!(a_second_network_of_the_same_name_is_refused_naming_the_field);
async fn a_second_network_of_the_same_name_is_refused_naming_the_field(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let first = network(&*t.store, p, "web", "10.1.0.0/16").await;
    let err = try_network(&*t.store, p, "web", "10.2.0.0/16")
        .await
        .unwrap_err();
    let (field, rule, message) = rule_of(err);
    assert_eq!(
        (field.as_deref(), rule.as_str()),
        (Some("name"), "name-taken")
    );
    assert!(message.contains(&first.id.to_string()), "{message}");

    // Another kind, another project: the name is theirs to use too.
    let cluster = Api::<Cluster>::new(t.store.docs())
        .create(
            &alice(),
            p,
            &cluster_req(&first.id.to_string(), "web"),
            &Env {
                dns_zone: "isthmus.internal".into(),
            },
            None,
        )
        .await;
    assert!(cluster.is_ok(), "a cluster may be called web too");
    let other = project(&*t.store, "globex").await;
    try_network(&*t.store, other, "web", "10.1.0.0/16")
        .await
        .unwrap();
}

on_both_backends!(a_rename_onto_a_taken_name_is_refused_and_a_rename_frees_the_old_one);
async fn a_rename_onto_a_taken_name_is_refused_and_a_rename_frees_the_old_one(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    network(&*t.store, p, "web", "10.1.0.0/16").await;
    let db = network(&*t.store, p, "db", "10.2.0.0/16").await;
    let api = Api::<Network>::new(t.store.docs());
    let rename =
        |name: &str| -> NetworkUpdate { serde_json::from_value(json!({ "name": name })).unwrap() };
    let err = api
        .update(&alice(), p, db.id.as_id(), &rename("web"), None)
        .await
        .unwrap_err();
    assert_eq!(rule_of(err).1, "name-taken");
    // Its own name again is no conflict.
    api.update(&alice(), p, db.id.as_id(), &rename("db"), None)
        .await
        .unwrap();
    api.update(&alice(), p, db.id.as_id(), &rename("data"), None)
        .await
        .unwrap();
    try_network(&*t.store, p, "db", "10.3.0.0/16")
        .await
        .unwrap();
}

on_both_backends!(
    of_concurrent_creates_of_one_name_exactly_one_wins,
    multi_thread
);
async fn of_concurrent_creates_of_one_name_exactly_one_wins(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = t.store.clone();
            // Disjoint ranges: only the name can collide.
            let cidr = format!("10.{i}.0.0/16");
            tokio::spawn(async move { try_network(&*store, p, "web", &cidr).await })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(e) => assert_eq!(rule_of(e).1, "name-taken"),
        }
    }
    assert_eq!(won, 1);
}

on_both_backends!(a_deleted_objects_name_is_free_again);
async fn a_deleted_objects_name_is_free_again(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let web = network(&*t.store, p, "web", "10.1.0.0/16").await;
    let api = Api::<Network>::new(t.store.docs());
    let deleting = api.delete(&alice(), p, web.id.as_id(), None).await.unwrap();
    // While it is being deleted it keeps its name, and the refusal says why.
    let err = try_network(&*t.store, p, "web", "10.2.0.0/16")
        .await
        .unwrap_err();
    assert!(rule_of(err).2.contains("being deleted"));
    let mut gone = deleting.clone();
    gone.status = isthmus_core::state::NetworkStatus::Deleted;
    api.save_status(&isthmus_store::Actor::controller(), &gone)
        .await
        .unwrap();
    let again = try_network(&*t.store, p, "web", "10.2.0.0/16")
        .await
        .unwrap();
    assert_eq!(api.find(p, "web").await.unwrap().id, again.id);
}

on_both_backends!(objects_are_found_by_name_or_by_id);
async fn objects_are_found_by_name_or_by_id(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let web = network(&*t.store, p, "web", "10.1.0.0/16").await;
    let api = Api::<Network>::new(t.store.docs());
    assert_eq!(api.find(p, "web").await.unwrap().id, web.id);
    assert_eq!(api.find(p, &web.id.to_string()).await.unwrap().id, web.id);
    let missing = api.find(p, "nosuch").await.unwrap_err();
    assert!(
        matches!(missing, StoreError::Core(CoreError::NotFound { .. })),
        "{missing}"
    );
    // Another project's object is not found by its name.
    let other = project(&*t.store, "globex").await;
    assert!(api.find(other, "web").await.is_err());
}

on_both_backends!(a_store_with_names_shared_before_the_rule_upgrades_and_reports_them);
async fn a_store_with_names_shared_before_the_rule_upgrades_and_reports_them(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let a = network(&*t.store, p, "n2", "10.1.0.0/16").await;
    // As a store written before names were claimed: no name claims, so a second `n2`
    // got in.
    let forget = "DELETE FROM resource_index WHERE index_name = ?1";
    t.exec(forget, "name").await;
    let b = network(&*t.store, p, "n2", "10.2.0.0/16").await;
    network(&*t.store, p, "solo", "10.3.0.0/16").await;
    t.exec(forget, "name").await;

    let api = Api::<Network>::new(t.store.docs());
    let before = api.get(p, a.id.as_id()).await.unwrap();
    let shared = api.claim_names().await.unwrap();
    assert_eq!(shared.len(), 1, "{shared:?}");
    assert!(shared[0].contains(&a.id.to_string()) && shared[0].contains(&b.id.to_string()));
    // Nothing a user sees changed: the same version (ETag).
    assert_eq!(
        api.get(p, a.id.as_id()).await.unwrap().version(),
        before.version()
    );
    // Both stay, by id; the shared name is ambiguous; the claims hold from now on.
    let err = api.find(p, "n2").await.unwrap_err();
    assert_eq!(rule_of(err).1, "name-ambiguous");
    let err = try_network(&*t.store, p, "solo", "10.4.0.0/16")
        .await
        .unwrap_err();
    assert_eq!(rule_of(err).1, "name-taken");
    assert_eq!(
        api.claim_names().await.unwrap().len(),
        1,
        "run again, the same report"
    );
}
