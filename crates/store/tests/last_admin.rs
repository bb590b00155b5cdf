//! A project that has an admin keeps one: its last admin cannot be removed or demoted,
//! checked inside the write, so two concurrent removals cannot both pass.

#[macro_use]
mod common;

use common::*;
use isthmus_core::resources::{Membership, Role};
use isthmus_core::{CoreError, ProjectId, TokenId};
use isthmus_store::{Store, StoreError};

async fn admin(store: &dyn Store, p: ProjectId, name: &str) -> TokenId {
    store
        .create_token(
            &alice(),
            name,
            false,
            &format!("hash-{name}"),
            Some((p, Role::Admin)),
        )
        .await
        .expect("create admin token")
        .id
}

fn assert_last_admin(err: StoreError) {
    match err {
        StoreError::Core(CoreError::Conflict { field, rule, .. }) => {
            assert_eq!(rule, "last-admin");
            assert_eq!(field.as_deref(), Some("token_id"));
        }
        other => panic!("expected a last-admin conflict, got: {other}"),
    }
}

async fn admins(store: &dyn Store, p: ProjectId) -> Vec<TokenId> {
    store
        .members_of(p)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.role == Role::Admin)
        .map(|m| m.token_id)
        .collect()
}

on_both_backends!(the_last_admin_can_be_neither_removed_nor_demoted);
async fn the_last_admin_can_be_neither_removed_nor_demoted(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let only = admin(&*t.store, p, "only").await;

    assert_last_admin(
        t.store
            .remove_membership(&alice(), p, only)
            .await
            .unwrap_err(),
    );
    let demote = Membership {
        project_id: p,
        token_id: only,
        role: Role::Operator,
    };
    assert_last_admin(t.store.set_membership(&alice(), &demote).await.unwrap_err());
    assert_eq!(admins(&*t.store, p).await, vec![only]);

    // With a second admin, either may go.
    let second = admin(&*t.store, p, "second").await;
    t.store.set_membership(&alice(), &demote).await.unwrap();
    assert_eq!(admins(&*t.store, p).await, vec![second]);
    // Members who are not admins come and go freely.
    t.store.remove_membership(&alice(), p, only).await.unwrap();
}

on_both_backends!(two_concurrent_removals_of_the_last_two_admins_leave_one);
async fn two_concurrent_removals_of_the_last_two_admins_leave_one(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let a = admin(&*t.store, p, "a").await;
    let b = admin(&*t.store, p, "b").await;

    let actor = alice();
    let (ra, rb) = tokio::join!(
        t.store.remove_membership(&actor, p, a),
        t.store.remove_membership(&actor, p, b),
    );
    let (ok, refused) = match (ra, rb) {
        (Ok(()), Err(e)) => (a, e),
        (Err(e), Ok(())) => (b, e),
        other => panic!("exactly one removal must pass: {other:?}"),
    };
    assert_last_admin(refused);
    let left = admins(&*t.store, p).await;
    assert_eq!(left.len(), 1);
    assert_ne!(left[0], ok, "the removed admin is gone, the other stays");
}
