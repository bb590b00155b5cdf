//! Tokens and roles: only hashes are stored; memberships are written with the token or
//! the project that grants them.

mod common;

use common::*;
use isthmus_core::resources::{Membership, ProjectCreate, Role};
use isthmus_core::{CoreError, TokenId};
use isthmus_store::{PageRequest, Store, StoreError};

#[tokio::test]
async fn a_token_is_found_by_the_hash_of_its_secret_only() {
    let t = open().await;
    assert_eq!(t.store.count_tokens().await.unwrap(), 0);
    let admin = t
        .store
        .create_token(&alice(), "bootstrap", true, "hash-of-secret", None)
        .await
        .unwrap();
    assert!(admin.superuser);
    assert_eq!(t.store.count_tokens().await.unwrap(), 1);
    assert_eq!(
        t.store.token_by_hash("hash-of-secret").await.unwrap(),
        Some(admin)
    );
    assert_eq!(t.store.token_by_hash("another-hash").await.unwrap(), None);
}

#[tokio::test]
async fn the_owner_of_a_new_project_becomes_its_admin() {
    let t = open().await;
    let owner = t
        .store
        .create_token(&alice(), "owner", false, "h", None)
        .await
        .unwrap();
    let p = t
        .store
        .create_project(
            &alice(),
            &ProjectCreate {
                name: "acme".into(),
            },
            Some(owner.id),
        )
        .await
        .unwrap();
    let expected = Membership {
        project_id: p.id,
        token_id: owner.id,
        role: Role::Admin,
    };
    assert_eq!(
        t.store.memberships_of(owner.id).await.unwrap(),
        vec![expected.clone()]
    );
    assert_eq!(t.store.members_of(p.id).await.unwrap(), vec![expected]);
}

#[tokio::test]
async fn a_project_with_an_unknown_owner_is_not_created() {
    let t = open().await;
    let ghost = TokenId(isthmus_store::ids::new_id());
    let err = t
        .store
        .create_project(
            &alice(),
            &ProjectCreate {
                name: "acme".into(),
            },
            Some(ghost),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Core(CoreError::NotFound { kind: "token", .. })
    ));
    assert!(t
        .store
        .list_projects(None, &PageRequest::default())
        .await
        .unwrap()
        .items
        .is_empty());
}

#[tokio::test]
async fn a_second_token_with_the_same_hash_is_refused_and_the_first_kept() {
    let t = open().await;
    let first = t
        .store
        .create_token(&alice(), "one", false, "same", None)
        .await
        .unwrap();
    let err = t
        .store
        .create_token(&alice(), "two", false, "same", None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)));
    assert_eq!(t.store.count_tokens().await.unwrap(), 1);
    assert_eq!(t.store.token_by_hash("same").await.unwrap(), Some(first));
}

#[tokio::test]
async fn roles_can_be_changed_and_removed() {
    let t = open().await;
    let p = project(&t.store, "acme").await;
    let tok = t
        .store
        .create_token(&alice(), "ci", false, "h", Some((p, Role::Viewer)))
        .await
        .unwrap();
    let m = Membership {
        project_id: p,
        token_id: tok.id,
        role: Role::Operator,
    };
    t.store.set_membership(&alice(), &m).await.unwrap();
    assert_eq!(t.store.memberships_of(tok.id).await.unwrap(), vec![m]);
    t.store
        .remove_membership(&alice(), p, tok.id)
        .await
        .unwrap();
    assert!(t.store.memberships_of(tok.id).await.unwrap().is_empty());
    let err = t
        .store
        .remove_membership(&alice(), p, tok.id)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Core(CoreError::NotFound { .. })));
    let actions: Vec<String> = t
        .store
        .list_events(p, &PageRequest::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "project.create",
            "token.create",
            "membership.set",
            "membership.set",
            "membership.remove"
        ]
    );
}
