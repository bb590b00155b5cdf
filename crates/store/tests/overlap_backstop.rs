//! PostgreSQL enforces the network overlap rule itself, as a backstop: an exclusion
//! constraint on the live networks' CIDRs per project, provider and region. A write that
//! slipped past the rule (here: a raw document write that skips admission) is refused
//! with the same 409 `network-overlap` the rule gives, naming the network held; a
//! deleted network holds nothing, and another region or project does not collide.

#[macro_use]
mod common;

use async_trait::async_trait;
use chrono::Utc;
use common::*;
use isthmus_core::resources::Network;
use isthmus_core::{CoreError, ProjectId};
use isthmus_store::api::Api;
use isthmus_store::doc::{Doc, Plan, Put, Tx, WriteOp};
use isthmus_store::StoreError;
use serde_json::json;

/// Writes a network doc as it is, without the kind's admission rules.
struct Unchecked(Doc);

#[async_trait]
impl WriteOp for Unchecked {
    async fn run(&mut self, _tx: &mut dyn Tx) -> isthmus_store::Result<Plan> {
        Ok(Plan::Put(vec![Put {
            expected_version: None,
            index: Some(Vec::new()),
            action: Some("create"),
            before: None,
            at: Utc::now(),
            doc: self.0.clone(),
        }]))
    }
}

fn raw_network(project: ProjectId, region: &str, cidr: &str) -> Doc {
    let id = isthmus_store::ids::new_id();
    let now = Utc::now();
    let body = json!({
        "id": id.to_string(), "project_id": project.to_string(), "name": "sneaky",
        "provider": "aws", "region": region, "cidr_block": cidr,
        "status": "creating", "status_message": "", "provider_network_id": null,
        "created_at": now, "updated_at": now, "version": 1,
    });
    Doc {
        kind: "network",
        plural: "networks",
        id,
        project_id: project,
        owner: None,
        status: "creating".into(),
        version: 1,
        created_at: now,
        body: body.to_string(),
    }
}

#[tokio::test]
async fn the_database_refuses_an_overlap_the_rule_did_not_see_with_the_rules_409() {
    let t = open(Backend::Postgres).await;
    let p = project(&*t.store, "acme").await;
    let held = network(&*t.store, p, "prod", "10.1.0.0/16").await;
    let before = t.store.last_event_seq().await.unwrap();

    let err = t
        .store
        .docs()
        .write(
            &alice(),
            None,
            Box::new(Unchecked(raw_network(p, "us-east-1", "10.1.2.0/24"))),
        )
        .await
        .unwrap_err();
    match err {
        StoreError::Core(CoreError::Conflict {
            field,
            rule,
            message,
            ..
        }) => {
            assert_eq!(field.as_deref(), Some("cidr_block"));
            assert_eq!(rule, "network-overlap");
            assert!(message.contains(&held.id.to_string()), "{message}");
            assert!(message.contains("'prod'"), "{message}");
        }
        other => panic!("expected the overlap conflict, got {other}"),
    }
    assert_eq!(
        t.store.last_event_seq().await.unwrap(),
        before,
        "nothing was written"
    );

    // Another region, or another project, is another address space.
    t.store
        .docs()
        .write(
            &alice(),
            None,
            Box::new(Unchecked(raw_network(p, "eu-west-1", "10.1.2.0/24"))),
        )
        .await
        .unwrap();
    let other = project(&*t.store, "globex").await;
    t.store
        .docs()
        .write(
            &alice(),
            None,
            Box::new(Unchecked(raw_network(other, "us-east-1", "10.1.2.0/24"))),
        )
        .await
        .unwrap();

    // A deleted network holds nothing.
    t.exec(
        "UPDATE resources SET status = 'deleted' WHERE id = ?1",
        &held.id.to_string(),
    )
    .await;
    t.store
        .docs()
        .write(
            &alice(),
            None,
            Box::new(Unchecked(raw_network(p, "us-east-1", "10.1.2.0/24"))),
        )
        .await
        .unwrap();
    assert!(Api::<Network>::new(t.store.docs())
        .get(p, held.id.as_id())
        .await
        .is_ok());
}
