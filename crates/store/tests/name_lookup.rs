//! A lookup by name reads the name's claims in the index, not every object of the kind
//! (issue 17): in a project of many networks, finding one by name lists none of them.
//! A name nobody holds still answers 404.

#[macro_use]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use common::*;
use isthmus_core::object::Object;
use isthmus_core::resources::Network;
use isthmus_core::{CoreError, Id, ProjectId};
use isthmus_store::api::Api;
use isthmus_store::doc::{CreateKey, Doc, DocStore, WriteOp, Written};
use isthmus_store::{Actor, ObjectKey, Page, PageRequest, Result, Store, StoreError};

/// The store, counting the list reads that a scan of a kind's objects makes.
struct CountingLists {
    inner: Arc<dyn Store>,
    lists: AtomicUsize,
}

#[async_trait]
impl DocStore for CountingLists {
    async fn get_doc(&self, kind: &str, id: Id) -> Result<Option<Doc>> {
        self.inner.get_doc(kind, id).await
    }
    async fn list_docs(&self, kind: &str, p: ProjectId, page: &PageRequest) -> Result<Page<Doc>> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list_docs(kind, p, page).await
    }
    async fn owned_docs(&self, owner: Id, kind: Option<&str>) -> Result<Vec<Doc>> {
        self.inner.owned_docs(owner, kind).await
    }
    async fn live_docs(&self) -> Result<Vec<ObjectKey>> {
        self.inner.live_docs().await
    }
    async fn docs_claiming(&self, index: &str, scope: &str, v: u32) -> Result<Option<Vec<Doc>>> {
        self.inner.docs_claiming(index, scope, v).await
    }
    async fn write(
        &self,
        actor: &Actor,
        idem: Option<&CreateKey>,
        op: Box<dyn WriteOp>,
    ) -> Result<Written> {
        self.inner.write(actor, idem, op).await
    }
}

on_both_backends!(a_name_is_found_through_its_claim_without_listing_the_kind);
async fn a_name_is_found_through_its_claim_without_listing_the_kind(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let mut wanted = None;
    for i in 0..30 {
        let n = network(&*t.store, p, &format!("net-{i}"), &format!("10.{i}.0.0/16")).await;
        if i == 17 {
            wanted = Some(n.id());
        }
    }
    let counting = CountingLists {
        inner: t.store.clone(),
        lists: AtomicUsize::new(0),
    };
    let found = Api::<Network>::new(&counting)
        .find(p, "net-17")
        .await
        .unwrap();
    assert_eq!(Some(found.id()), wanted);
    assert_eq!(
        counting.lists.load(Ordering::SeqCst),
        0,
        "the kind was listed"
    );

    match Api::<Network>::new(&counting).find(p, "nosuch").await {
        Err(StoreError::Core(CoreError::NotFound { .. })) => {}
        other => panic!("expected 404, got {other:?}"),
    }
}
