//! An owner's delete goes down the whole ownership tree: what a cascaded object owns goes
//! `deleting` in the same write, and what would block a cascaded object's own delete
//! blocks the whole delete (a 409 naming it), with nothing written.

#[macro_use]
mod common;

use async_trait::async_trait;
use chrono::Utc;
use common::*;
use isthmus_core::object::OnOwnerDelete;
use isthmus_core::resources::Network;
use isthmus_core::state::NetworkStatus;
use isthmus_core::{CoreError, Id, ProjectId};
use isthmus_store::api::{Api, Env};
use isthmus_store::doc::{Doc, DocStore, Plan, Put, Tx, WriteOp, DELETED};
use isthmus_store::StoreError;
use serde_json::json;

/// Writes `doc` as it is: new, or over the stored version before it.
struct Write(Doc);

#[async_trait]
impl WriteOp for Write {
    async fn run(&mut self, _tx: &mut dyn Tx) -> isthmus_store::Result<Plan> {
        let doc = self.0.clone();
        Ok(Plan::Put(vec![Put {
            expected_version: (doc.version > 1).then(|| doc.version - 1),
            index: Some(Vec::new()),
            action: Some("create"),
            before: None,
            at: Utc::now(),
            doc,
        }]))
    }
}

/// A live object of `kind`, owned by `owner` with `policy`.
fn owned(kind: &'static str, project: ProjectId, owner: Id, policy: OnOwnerDelete) -> Doc {
    let id = isthmus_store::ids::new_id();
    let now = Utc::now();
    let body = json!({
        "id": id.to_string(), "project_id": project.to_string(), "name": kind,
        "status": "ready", "status_message": "", "updated_at": now, "version": 1,
    });
    Doc {
        kind,
        plural: if kind == "widget" {
            "widgets"
        } else {
            "gadgets"
        },
        id,
        project_id: project,
        owner: Some((owner, policy)),
        status: "ready".into(),
        version: 1,
        created_at: now,
        body: body.to_string(),
    }
}

async fn write(docs: &dyn DocStore, doc: Doc) {
    docs.write(&alice(), None, Box::new(Write(doc)))
        .await
        .expect("write the doc");
}

on_both_backends!(a_delete_cascades_and_is_blocked_at_any_depth);
async fn a_delete_cascades_and_is_blocked_at_any_depth(backend: Backend) {
    let t = open(backend).await;
    let docs = t.store.docs();
    let p = project(&*t.store, "acme").await;
    let networks = Api::<Network>::new(docs);
    let n = networks
        .create(
            &alice(),
            p,
            &network_req("prod", "10.1.0.0/16"),
            &Env::default(),
            None,
        )
        .await
        .unwrap()
        .resource;
    let widget = owned("widget", p, n.id.0, OnOwnerDelete::Cascade);
    let keeper = owned("gadget", p, widget.id, OnOwnerDelete::Block);
    write(docs, widget.clone()).await;
    write(docs, keeper.clone()).await;
    let events = t.store.last_event_seq().await.unwrap();

    // The gadget would refuse its widget's delete, so it refuses the network's.
    let err = networks
        .delete(&alice(), p, n.id.0, None)
        .await
        .unwrap_err();
    let StoreError::Core(CoreError::Conflict { rule, message, .. }) = err else {
        panic!("expected a conflict, got {err:?}")
    };
    assert_eq!(rule, "widget-has-gadgets");
    assert!(message.contains(&keeper.id.to_string()), "{message}");
    assert_eq!(networks.get(p, n.id.0).await.unwrap(), n);
    assert_eq!(
        docs.get_doc("widget", widget.id).await.unwrap(),
        Some(widget.clone())
    );
    assert_eq!(t.store.last_event_seq().await.unwrap(), events);

    // With the gadget gone and one that follows its widget instead, all three go down.
    let stored = docs.get_doc("gadget", keeper.id).await.unwrap().unwrap();
    write(
        docs,
        Doc {
            status: DELETED.into(),
            version: stored.version + 1,
            ..stored
        },
    )
    .await;
    let follower = owned("gadget", p, widget.id, OnOwnerDelete::Cascade);
    write(docs, follower.clone()).await;
    let deleting = networks.delete(&alice(), p, n.id.0, None).await.unwrap();
    assert_eq!(deleting.status, NetworkStatus::Deleting);
    let widget_now = docs.get_doc("widget", widget.id).await.unwrap().unwrap();
    assert_eq!(widget_now.status, "deleting");
    let follower_now = docs.get_doc("gadget", follower.id).await.unwrap().unwrap();
    assert_eq!(follower_now.status, "deleting");
    let body: serde_json::Value = serde_json::from_str(&follower_now.body).unwrap();
    assert_eq!(
        body["status_message"],
        format!("deleting with widget {}", widget.id)
    );
}
