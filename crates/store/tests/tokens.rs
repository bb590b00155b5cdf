//! Tokens and roles: only hashes are stored; memberships are written with the token or
//! the project that grants them.

#[macro_use]
mod common;

use common::*;
use isthmus_core::resources::{Membership, ProjectCreate, Role};
use isthmus_core::{CoreError, TokenId};
use isthmus_store::{PageRequest, StoreError};

on_both_backends!(a_token_is_found_by_the_hash_of_its_secret_only);
async fn a_token_is_found_by_the_hash_of_its_secret_only(backend: Backend) {
    let t = open(backend).await;
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

on_both_backends!(the_owner_of_a_new_project_becomes_its_admin);
async fn the_owner_of_a_new_project_becomes_its_admin(backend: Backend) {
    let t = open(backend).await;
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

on_both_backends!(a_project_with_an_unknown_owner_is_not_created);
async fn a_project_with_an_unknown_owner_is_not_created(backend: Backend) {
    let t = open(backend).await;
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

on_both_backends!(a_second_token_with_the_same_hash_is_refused_and_the_first_kept);
async fn a_second_token_with_the_same_hash_is_refused_and_the_first_kept(backend: Backend) {
    let t = open(backend).await;
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

on_both_backends!(roles_can_be_changed_and_removed);
async fn roles_can_be_changed_and_removed(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
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
            "membership.remove",
            // Its only role gone, the token is revoked with it.
            "token.revoke"
        ]
    );
}

on_both_backends!(a_revoked_token_is_kept_marked_and_loses_every_role);
async fn a_revoked_token_is_kept_marked_and_loses_every_role(backend: Backend) {
    let t = open(backend).await;
    let a = project(&*t.store, "a").await;
    let b = project(&*t.store, "b").await;
    let tok = t
        .store
        .create_token(&alice(), "ci", false, "h", Some((a, Role::Viewer)))
        .await
        .unwrap();
    let m = Membership {
        project_id: b,
        token_id: tok.id,
        role: Role::Admin,
    };
    t.store.set_membership(&alice(), &m).await.unwrap();
    assert_eq!(t.store.project_tokens(b).await.unwrap().len(), 1);

    let revoked = t.store.revoke_token(&alice(), tok.id).await.unwrap();
    let at = revoked.revoked_at.expect("marked revoked");
    assert_eq!(
        t.store.token_by_hash("h").await.unwrap(),
        Some(revoked.clone())
    );
    assert!(t.store.memberships_of(tok.id).await.unwrap().is_empty());
    assert!(t.store.project_tokens(a).await.unwrap().is_empty());
    // Revoking again changes nothing.
    let again = t.store.revoke_token(&alice(), tok.id).await.unwrap();
    assert_eq!(again.revoked_at, Some(at));
    // Each project it served records the revocation.
    for p in [a, b] {
        let last = t
            .store
            .list_events(p, &PageRequest::default())
            .await
            .unwrap()
            .items
            .pop()
            .unwrap();
        assert_eq!(last.action, "token.revoke");
    }
    // No role can be given to it again.
    let err = t.store.set_membership(&alice(), &m).await.unwrap_err();
    assert!(matches!(
        err,
        StoreError::Core(CoreError::Conflict { ref rule, .. }) if rule == "token-revoked"
    ));
}

on_both_backends!(removing_the_last_role_revokes_the_token_but_not_while_another_remains);
async fn removing_the_last_role_revokes_the_token_but_not_while_another_remains(backend: Backend) {
    let t = open(backend).await;
    let a = project(&*t.store, "a").await;
    let b = project(&*t.store, "b").await;
    let one = t
        .store
        .create_token(&alice(), "one", false, "h1", Some((a, Role::Viewer)))
        .await
        .unwrap();
    let two = t
        .store
        .create_token(&alice(), "two", false, "h2", Some((a, Role::Viewer)))
        .await
        .unwrap();
    t.store
        .set_membership(
            &alice(),
            &Membership {
                project_id: b,
                token_id: two.id,
                role: Role::Viewer,
            },
        )
        .await
        .unwrap();
    t.store
        .remove_membership(&alice(), a, one.id)
        .await
        .unwrap();
    t.store
        .remove_membership(&alice(), a, two.id)
        .await
        .unwrap();
    assert!(t
        .store
        .get_token(one.id)
        .await
        .unwrap()
        .revoked_at
        .is_some());
    assert!(t
        .store
        .get_token(two.id)
        .await
        .unwrap()
        .revoked_at
        .is_none());
}

on_both_backends!(a_rotation_replaces_the_secret_hash_in_one_write);
async fn a_rotation_replaces_the_secret_hash_in_one_write(backend: Backend) {
    let t = open(backend).await;
    let root = t
        .store
        .create_token(&alice(), "admin", true, "old", None)
        .await
        .unwrap();
    let rotated = t
        .store
        .rotate_token(&alice(), root.id, "new")
        .await
        .unwrap();
    assert_eq!(rotated.id, root.id);
    assert_eq!(t.store.token_by_hash("old").await.unwrap(), None);
    assert_eq!(t.store.token_by_hash("new").await.unwrap(), Some(root));
    assert_eq!(t.store.count_tokens().await.unwrap(), 1);

    let p = project(&*t.store, "p").await;
    let gone = t
        .store
        .create_token(&alice(), "gone", false, "g", Some((p, Role::Viewer)))
        .await
        .unwrap();
    t.store.revoke_token(&alice(), gone.id).await.unwrap();
    let err = t
        .store
        .rotate_token(&alice(), gone.id, "g2")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Core(CoreError::Conflict { .. })));
    assert!(t.store.token_by_hash("g2").await.unwrap().is_none());
}

on_both_backends!(an_expiry_is_stored_with_the_token);
async fn an_expiry_is_stored_with_the_token(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "p").await;
    let at: chrono::DateTime<chrono::Utc> = "2030-01-02T03:04:05Z".parse().unwrap();
    let tok = t
        .store
        .create_expiring_token(&alice(), "ci", "h", (p, Role::Viewer), at)
        .await
        .unwrap();
    assert_eq!(tok.expires_at, Some(at));
    let found = t.store.token_by_hash("h").await.unwrap().unwrap();
    assert_eq!(found.expires_at, Some(at));
    assert!(found.is_usable("2030-01-02T03:04:04Z".parse().unwrap()));
    assert!(!found.is_usable(at));
    let listed = t.store.list_tokens().await.unwrap();
    assert_eq!(listed, vec![found]);
}
