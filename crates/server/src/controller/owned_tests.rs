//! The deletion finalizer waits for what an object owns whatever its kind, at any depth:
//! objects of a kind the controller never names (a `widget` owned by a network, a
//! `gadget` owned by that widget) go down with the network's delete, and the network is
//! `deleted` only once they are gone.

use async_trait::async_trait;
use chrono::Utc;
use isthmus_core::object::OnOwnerDelete;
use isthmus_core::resources::Network;
use isthmus_core::state::NetworkStatus;
use isthmus_core::{Id, ProjectId};
use isthmus_store::api::Api;
use isthmus_store::doc::{Doc, Plan, Put, Tx, WriteOp, DELETED};
use isthmus_store::{ObjectKey, Store};
use serde_json::json;

use super::tests::{actor, Harness};

/// Writes `doc` as it is: new, or over the stored version before it.
struct Write(Doc);

#[async_trait]
impl WriteOp for Write {
    async fn run(&mut self, _tx: &mut dyn Tx) -> isthmus_store::Result<Plan> {
        let doc = self.0.clone();
        Ok(Plan::Put(vec![Put {
            expected_version: (doc.version > 1).then(|| doc.version - 1),
            index: Some(Vec::new()),
            action: None,
            before: None,
            at: Utc::now(),
            doc,
        }]))
    }
}

/// A live object of `kind` owned by `owner`, going down with it.
fn owned(kind: &'static str, project: ProjectId, owner: Id) -> Doc {
    let id = isthmus_store::ids::new_id();
    let now = Utc::now();
    let body = json!({
        "id": id.to_string(), "project_id": project.to_string(), "name": kind,
        "status": "ready", "status_message": "", "updated_at": now, "version": 1,
    });
    Doc {
        kind,
        plural: kind,
        id,
        project_id: project,
        owner: Some((owner, OnOwnerDelete::Cascade)),
        status: "ready".into(),
        version: 1,
        created_at: now,
        body: body.to_string(),
    }
}

async fn write(store: &dyn Store, doc: Doc) {
    store
        .docs()
        .write(&actor(), None, Box::new(Write(doc)))
        .await
        .expect("write the doc");
}

/// The stored doc of `kind` `id`.
async fn stored(store: &dyn Store, kind: &str, id: Id) -> Doc {
    store
        .docs()
        .get_doc(kind, id)
        .await
        .unwrap()
        .expect("stored")
}

/// `doc` (as stored now) marked `deleted`, as its own controller would.
fn gone(doc: Doc) -> Doc {
    Doc {
        status: DELETED.into(),
        version: doc.version + 1,
        ..doc
    }
}

/// Queues the network and turns keys until it has had its turn (the finalizer also wakes
/// what remains, which no registered kind reconciles here).
async fn turn_network(h: &Harness, net: &Network) {
    let key = ObjectKey::of::<Network>(net.id.0);
    h.ctx.queue.add(key);
    while h.turn().await != key {}
}

#[tokio::test(start_paused = true)]
async fn a_network_waits_for_owned_objects_of_any_kind_and_any_depth() {
    let h = Harness::new().await;
    let store = &*h.store;
    let net = h.network("net").await;
    h.turn().await;
    assert_eq!(h.get_network(&net).await.status, NetworkStatus::Active);
    let widget = owned("widget", h.project.id, net.id.0);
    let gadget = owned("gadget", h.project.id, widget.id);
    write(store, widget.clone()).await;
    write(store, gadget.clone()).await;

    let deleting = Api::<Network>::new(store.docs())
        .delete(&actor(), h.project.id, net.id.0, None)
        .await
        .unwrap();
    assert_eq!(deleting.status, NetworkStatus::Deleting);
    // The cascade went down the whole tree in the same write.
    assert_eq!(stored(store, "widget", widget.id).await.status, "deleting");
    assert_eq!(stored(store, "gadget", gadget.id).await.status, "deleting");

    turn_network(&h, &net).await;
    let waiting = h.get_network(&net).await;
    assert_eq!(waiting.status, NetworkStatus::Deleting);
    assert_eq!(
        waiting.status_message,
        "waiting for 0 peerings, 0 clusters, 0 vpn-gateways and 1 widget objects to be deleted"
    );

    // The widget goes only after what it owns; once both are gone, the network goes.
    write(store, gone(stored(store, "gadget", gadget.id).await)).await;
    write(store, gone(stored(store, "widget", widget.id).await)).await;
    turn_network(&h, &net).await;
    assert_eq!(h.get_network(&net).await.status, NetworkStatus::Deleted);
}
