//! The document store serves kinds it has never heard of: a new kind needs no migration,
//! and an owner's delete treats its objects by the policy each declares (block: a 409
//! naming them; cascade: `deleting` in the same write), written as the kind itself would.

#[macro_use]
mod common;

use async_trait::async_trait;
use chrono::Utc;
use common::*;
use isthmus_core::object::{OnOwnerDelete, StatusMachine};
use isthmus_core::resources::{Network, Peering};
use isthmus_core::state::{ClusterStatus, NetworkStatus, PeeringStatus};
use isthmus_core::{CoreError, Id, ProjectId};
use isthmus_store::api::{Api, Env};
use isthmus_store::doc::{Doc, DocStore, ObjectKey, Plan, Put, Tx, WriteOp};
use isthmus_store::{PageRequest, StoreError};
use serde_json::json;

/// Writes one doc of kind `widget`, owned by `owner` with `policy`.
struct NewWidget {
    doc: Doc,
}

#[async_trait]
impl WriteOp for NewWidget {
    async fn run(&mut self, _tx: &mut dyn Tx) -> isthmus_store::Result<Plan> {
        Ok(Plan::Put(vec![Put {
            expected_version: None,
            doc: self.doc.clone(),
            index: Some(Vec::new()),
            action: Some("create"),
            before: None,
            at: Utc::now(),
        }]))
    }
}

fn widget(project: ProjectId, owner: Id, policy: OnOwnerDelete, name: &str) -> Doc {
    let id = isthmus_store::ids::new_id();
    let now = Utc::now();
    let body = json!({
        "id": id.to_string(), "project_id": project.to_string(), "name": name,
        "status": "ready", "status_message": "", "updated_at": now, "version": 1,
    });
    Doc {
        kind: "widget",
        plural: "widgets",
        id,
        project_id: project,
        owner: Some((owner, policy)),
        status: "ready".into(),
        version: 1,
        created_at: now,
        body: body.to_string(),
    }
}

on_both_backends!(objects_of_a_new_kind_block_or_follow_their_owners_delete_as_they_declare);
async fn objects_of_a_new_kind_block_or_follow_their_owners_delete_as_they_declare(
    backend: Backend,
) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "prod", "10.1.0.0/16").await;
    let blocking = widget(p, n.id.0, OnOwnerDelete::Block, "keeper");
    let docs: &dyn DocStore = t.store.docs();
    docs.write(
        &alice(),
        None,
        Box::new(NewWidget {
            doc: blocking.clone(),
        }),
    )
    .await
    .expect("a kind the schema never named is stored");
    assert!(docs.live_docs().await.unwrap().contains(&ObjectKey {
        kind: "widget",
        id: blocking.id
    }));

    let err = Api::<Network>::new(t.store.docs())
        .delete(&alice(), p, n.id.as_id(), None)
        .await
        .unwrap_err();
    match err {
        StoreError::Core(CoreError::Conflict { rule, message, .. }) => {
            assert_eq!(rule, "network-has-widgets");
            assert_eq!(
                message,
                format!(
                    "network {} still holds widgets 'keeper' ({}); delete them first",
                    n.id, blocking.id
                )
            );
        }
        other => panic!("expected a conflict, got {other}"),
    }

    // Once it is deleted, a widget that follows its owner goes down with the network.
    t.exec(
        "UPDATE resources SET status = 'deleted' WHERE id = ?1",
        &blocking.id.to_string(),
    )
    .await;
    let follower = widget(p, n.id.0, OnOwnerDelete::Cascade, "follower");
    docs.write(
        &alice(),
        None,
        Box::new(NewWidget {
            doc: follower.clone(),
        }),
    )
    .await
    .unwrap();
    let deleted = Api::<Network>::new(t.store.docs())
        .delete(&alice(), p, n.id.as_id(), None)
        .await
        .unwrap();
    assert_eq!(deleted.status, NetworkStatus::Deleting);
    let stored = docs.get_doc("widget", follower.id).await.unwrap().unwrap();
    assert_eq!((stored.status.as_str(), stored.version), ("deleting", 2));
    let body: serde_json::Value = serde_json::from_str(&stored.body).unwrap();
    assert_eq!(body["status"], "deleting");
    assert_eq!(
        body["status_message"],
        format!("deleting with network {}", n.id)
    );
    assert_eq!(body["version"], 2);
    let actions: Vec<String> = t
        .store
        .list_events(p, &PageRequest::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.ends_with(&["network.delete".into(), "widget.delete".into()]));
}

on_both_backends!(a_peering_taken_down_with_its_network_is_stored_and_audited_as_a_peering);
async fn a_peering_taken_down_with_its_network_is_stored_and_audited_as_a_peering(
    backend: Backend,
) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "prod", "10.1.0.0/16").await;
    let peering = Api::<Peering>::new(t.store.docs())
        .create(
            &alice(),
            p,
            &peering_req(&n.id.to_string(), &["192.168.1.0/24"]),
            &Env::default(),
            None,
        )
        .await
        .unwrap()
        .resource;
    Api::<Network>::new(t.store.docs())
        .delete(&alice(), p, n.id.as_id(), None)
        .await
        .unwrap();

    let now = Api::<Peering>::new(t.store.docs())
        .get(p, peering.id.as_id())
        .await
        .unwrap();
    assert_eq!(now.status, PeeringStatus::Deleting);
    // Byte for byte what serializing the peering gives: the cascade kept the body's
    // members and their order.
    let raw = t.raw_body(&peering.id.to_string()).await;
    assert_eq!(raw, serde_json::to_string(&now).unwrap());
    let mut expected = peering.clone();
    expected.status = PeeringStatus::Deleting;
    expected.status_message = format!("deleting with network {}", n.id);
    expected.version += 1;
    expected.updated_at = now.updated_at;
    assert_eq!(now, expected);

    let events = t
        .store
        .list_events(p, &PageRequest::default())
        .await
        .unwrap()
        .items;
    let event = events.last().unwrap();
    assert_eq!(event.action, "peering.delete");
    assert_eq!(event.before, Some(serde_json::to_value(&peering).unwrap()));
    assert_eq!(event.after, Some(serde_json::to_value(&now).unwrap()));
    assert_eq!(event.time, now.updated_at);
}

/// What the generic cascade relies on: it moves an owned object to `deleting` without
/// its kind's machine, so every machine must allow that move from every live state.
#[test]
fn every_machine_goes_from_any_live_state_to_deleting() {
    fn check<S: StatusMachine>() {
        for s in S::all() {
            if *s != S::DELETED {
                assert!(s.transition(S::DELETING).is_ok(), "{} {s}", S::KIND);
            }
        }
        assert_eq!(S::DELETING.as_str(), isthmus_store::doc::DELETING);
        assert_eq!(S::DELETED.as_str(), isthmus_store::doc::DELETED);
    }
    check::<NetworkStatus>();
    check::<PeeringStatus>();
    check::<ClusterStatus>();
}
