//! Deleting a project (issue 17, item 11), on both backends: refused with a 409
//! `project-not-empty` naming its live objects; once they are all `deleted`, the project
//! goes with their tombstones, name claims and memberships in one write, and its name
//! is free again for a new object in another project.

#[macro_use]
mod common;

use common::*;
use isthmus_core::resources::{Cluster, Network};
use isthmus_core::CoreError;
use isthmus_store::api::Api;
use isthmus_store::{PageRequest, StoreError};

on_both_backends!(a_project_goes_only_once_its_objects_are_deleted);
async fn a_project_goes_only_once_its_objects_are_deleted(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "prod", "10.1.0.0/16").await;
    let c = cluster(&*t.store, p, &n, "db").await;

    match t.store.delete_project(&alice(), p).await {
        Err(StoreError::Core(CoreError::Conflict { rule, message, .. })) => {
            assert_eq!(rule, "project-not-empty");
            assert!(message.contains("network 'prod'"), "{message}");
            assert!(message.contains("cluster 'db'"), "{message}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }

    // The controller's part: each object reported deleted, what it held first.
    let deleting = Api::<Cluster>::new(t.store.docs())
        .delete(&alice(), p, c.id.as_id(), None)
        .await
        .unwrap();
    report_deleted(&*t.store, &deleting).await;
    let deleting = Api::<Network>::new(t.store.docs())
        .delete(&alice(), p, n.id.as_id(), None)
        .await
        .unwrap();
    report_deleted(&*t.store, &deleting).await;

    let deleted = t.store.delete_project(&alice(), p).await.unwrap();
    assert_eq!(deleted.id, p);
    assert!(t.store.get_project(p).await.is_err());
    let left = t
        .store
        .list_projects(None, &PageRequest::default())
        .await
        .unwrap();
    assert!(left.items.iter().all(|q| q.id != p));
    // Its objects' rows went too, tombstones included.
    let with_deleted = PageRequest {
        include_deleted: true,
        ..PageRequest::default()
    };
    assert!(t
        .store
        .docs()
        .list_docs("network", p, &with_deleted)
        .await
        .unwrap()
        .items
        .is_empty());
    // The delete is the project's last event.
    let events = t.store.events_after(0, 1000).await.unwrap();
    assert_eq!(events.last().unwrap().action, "project.delete");
}
