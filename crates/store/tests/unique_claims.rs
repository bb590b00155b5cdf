//! The database itself refuses a second live claim of a public endpoint address: a
//! write that skips the cluster's admission rules (as a buggy rule would) and claims an
//! address another cluster holds is a 409 naming the holder, and nothing is written.

#[macro_use]
mod common;

use async_trait::async_trait;
use chrono::Utc;
use common::*;
use isthmus_core::object::Object;
use isthmus_core::resources::{Cluster, ClusterUpdate, PublicAccessInput};
use isthmus_core::{CoreError, Id};
use isthmus_store::api::Api;
use isthmus_store::doc::{Doc, Plan, Put, Tx, WriteOp};
use isthmus_store::StoreError;

/// Gives the stored cluster `id` the public endpoint `endpoint_of` holds, without the
/// rules: the write a rule that ignored the taken addresses would plan.
struct CopyEndpoint {
    id: Id,
    endpoint_of: Cluster,
}

#[async_trait]
impl WriteOp for CopyEndpoint {
    async fn run(&mut self, tx: &mut dyn Tx) -> isthmus_store::Result<Plan> {
        let stored = tx.get("cluster", self.id).await?.expect("the cluster");
        let mut next: Cluster = stored.decode()?;
        next.public_access.enabled = true;
        next.public_endpoint = self.endpoint_of.public_endpoint.clone();
        next.version += 1;
        Ok(Plan::Put(vec![Put {
            expected_version: Some(stored.version),
            index: Some(next.index_entries()),
            action: Some("update"),
            before: Some(stored.body.clone()),
            at: Utc::now(),
            doc: Doc {
                version: next.version,
                body: serde_json::to_string(&next).unwrap(),
                ..stored
            },
        }]))
    }
}

on_both_backends!(a_write_that_skips_the_rules_cannot_claim_a_taken_public_address);
async fn a_write_that_skips_the_rules_cannot_claim_a_taken_public_address(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let n = network(&*t.store, p, "prod", "10.1.0.0/16").await;
    let clusters = Api::<Cluster>::new(t.store.docs());
    let a = cluster(&*t.store, p, &n, "a").await;
    let enable = ClusterUpdate {
        public_access: Some(PublicAccessInput {
            enabled: true,
            allowlist: Vec::new(),
        }),
        ..Default::default()
    };
    let a = clusters
        .update(&alice(), p, a.id.0, &enable, None)
        .await
        .unwrap();
    let ip = a.public_endpoint.as_ref().expect("a has an address").ip;
    let b = cluster(&*t.store, p, &n, "b").await;
    let events_before = t.store.last_event_seq().await.unwrap();

    let err = t
        .store
        .docs()
        .write(
            &alice(),
            None,
            Box::new(CopyEndpoint {
                id: b.id.0,
                endpoint_of: a.clone(),
            }),
        )
        .await
        .expect_err("the database refuses a second claim of the address");
    let StoreError::Core(CoreError::Conflict { rule, message, .. }) = err else {
        panic!("expected a conflict, got {err:?}")
    };
    assert_eq!(rule, "public-ip-taken");
    assert!(
        message.contains(&ip.to_string()) && message.contains(&format!("cluster {}", a.id)),
        "{message}"
    );
    // Nothing of the write landed: b as it was, no event.
    assert_eq!(clusters.get(p, b.id.0).await.unwrap(), b);
    assert_eq!(t.store.last_event_seq().await.unwrap(), events_before);

    // Through the rules, b gets another address.
    let b = clusters
        .update(&alice(), p, b.id.0, &enable, None)
        .await
        .unwrap();
    assert_ne!(b.public_endpoint.as_ref().unwrap().ip, ip);

    // Once a gives its address back, the same write may claim it.
    let disable = ClusterUpdate {
        public_access: Some(PublicAccessInput {
            enabled: false,
            allowlist: Vec::new(),
        }),
        ..Default::default()
    };
    clusters
        .update(&alice(), p, a.id.0, &disable, None)
        .await
        .unwrap();
    t.store
        .docs()
        .write(
            &alice(),
            None,
            Box::new(CopyEndpoint {
                id: b.id.0,
                endpoint_of: a,
            }),
        )
        .await
        .expect("a free address can be claimed");
    let b = clusters.get(p, b.id.0).await.unwrap();
    assert_eq!(b.public_endpoint.unwrap().ip, ip);
}
