//! The audit log: every change appends one event in the same transaction, with who did
//! it, what, and the resource before and after.

#[macro_use]
mod common;

use common::*;
use isthmus_core::resources::Network;
use isthmus_core::resources::NetworkUpdate;
use isthmus_core::state::NetworkStatus;
use isthmus_store::api::{Api, Env};
use isthmus_store::{Actor, PageRequest};

on_both_backends!(create_update_and_status_changes_are_logged_with_before_and_after);
async fn create_update_and_status_changes_are_logged_with_before_and_after(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "prod", "10.1.0.0/16").await;
    let rename = NetworkUpdate {
        name: Some("production".into()),
        ..Default::default()
    };
    let renamed = Api::<Network>::new(t.store.docs())
        .update(&alice(), p, n.id.as_id(), &rename, None)
        .await
        .unwrap();
    let mut observed = renamed.clone();
    observed.status = NetworkStatus::Active;
    Api::<Network>::new(t.store.docs())
        .save_status(&Actor::controller(), &observed.clone())
        .await
        .unwrap();
    // Saving the same status again is a heartbeat, not an event.
    observed.version += 1;
    Api::<Network>::new(t.store.docs())
        .save_status(&Actor::controller(), &observed)
        .await
        .unwrap();

    let events = t
        .store
        .list_events(p, &PageRequest::default())
        .await
        .unwrap()
        .items;
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "project.create",
            "network.create",
            "network.update",
            "network.status"
        ]
    );
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));

    let create = &events[1];
    assert_eq!(create.actor, "token:alice");
    assert_eq!(
        (create.resource_kind.as_str(), create.resource_id.clone()),
        ("network", n.id.to_string())
    );
    assert_eq!(create.project_id, Some(p));
    assert_eq!(create.before, None);
    assert_eq!(create.after.as_ref().unwrap()["cidr_block"], "10.1.0.0/16");

    let update = &events[2];
    assert_eq!(update.before.as_ref().unwrap()["name"], "prod");
    assert_eq!(update.after.as_ref().unwrap()["name"], "production");
    assert_eq!(update.after.as_ref().unwrap()["version"], 2);

    let status = &events[3];
    assert_eq!(status.actor, "controller");
    assert_eq!(status.before.as_ref().unwrap()["status"], "provisioning");
    assert_eq!(status.after.as_ref().unwrap()["status"], "active");
}

on_both_backends!(a_projects_log_holds_only_its_own_events);
async fn a_projects_log_holds_only_its_own_events(backend: Backend) {
    let t = open(backend).await;
    let mine = project(&*t.store, "mine").await;
    let theirs = project(&*t.store, "theirs").await;
    Api::<Network>::new(t.store.docs())
        .create(
            &alice(),
            theirs,
            &network_req("n", "10.1.0.0/16"),
            &Env::default(),
            None,
        )
        .await
        .unwrap();
    let events = t
        .store
        .list_events(mine, &PageRequest::default())
        .await
        .unwrap()
        .items;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, "project.create");
    assert_eq!(events[0].resource_id, mine.to_string());
}
