//! One delete for every kind. An object's delete marks it `deleting`; the objects it owns
//! say, through the owner policy stored with each of them, whether they refuse that
//! delete while live (`block`: a 409 naming them) or go down with it (`cascade`:
//! `deleting` in the same write, each with its own audit event). A cascade goes down
//! the whole tree: what a cascaded object owns is handled the same way, as if it were
//! deleted itself in the same write. The owned objects may
//! be of kinds this code does not know, so they are handled as docs: a cascade rewrites
//! the header fields every kind's body has (`status`, `status_message`, `updated_at`,
//! `version`) and leaves the rest of the body, byte for byte, as it was.
//!
//! Every kind's machine goes from any live state to `deleting` (a store test pins it
//! for the known kinds), so the cascade needs no machine to check the move.

use std::collections::VecDeque;
use std::marker::PhantomData;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use isthmus_core::object::{Object, OnOwnerDelete, StatusMachine};
use isthmus_core::{CoreError, Id, ProjectId};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use super::{check_version, get_in, put_of};
use crate::doc::{Doc, Plan, Put, Tx, WriteOp, DELETING};
use crate::{Result, StoreError};

pub(super) struct DeleteOp<K> {
    project: ProjectId,
    id: Id,
    if_match: Option<u64>,
    /// Refuse while live objects would cascade with it (the user did not ask for that).
    refuse_cascade: bool,
    kind: PhantomData<fn() -> K>,
}

impl<K> DeleteOp<K> {
    pub(super) fn new(project: ProjectId, id: Id, if_match: Option<u64>) -> Self {
        DeleteOp {
            project,
            id,
            if_match,
            refuse_cascade: false,
            kind: PhantomData,
        }
    }

    /// Unless `cascade`, what would go down with the object refuses its delete.
    pub(super) fn explicit(self, cascade: bool) -> Self {
        DeleteOp {
            refuse_cascade: !cascade,
            ..self
        }
    }
}

#[async_trait]
impl<K: Object> WriteOp for DeleteOp<K> {
    async fn run(&mut self, tx: &mut dyn Tx) -> Result<Plan> {
        let (stored, current) = get_in::<K>(tx, self.project, self.id).await?;
        check_version(&current, self.if_match)?;
        if current.status().is_going() {
            return Ok(Plan::Unchanged(stored));
        }
        let owned = tx.owned(self.id, None).await?;
        check_not_blocked(K::INFO.name, self.id, &owned)?;
        crate::kinds::cluster_move::check_no_move_in(tx, K::INFO.name, self.id).await?;
        if self.refuse_cascade {
            check_no_cascade(K::INFO.name, self.id, &owned)?;
        }
        let now = Utc::now();
        let mut next = current.clone();
        let block = next.status_mut();
        *block.status = current.status().transition(K::Status::DELETING)?;
        *block.message = format!("deleting the {}", K::INFO.name);
        next.set_updated_at(now);
        let mut puts = vec![put_of(Some(&current), next, Some("delete"), now)?];
        // Down the tree, level by level: what a cascaded object owns goes down with it
        // too, and what blocks the delete of a cascaded object blocks this one.
        let mut going: VecDeque<(String, Doc)> = cascading(K::INFO.name, self.id, owned);
        while let Some((message, child)) = going.pop_front() {
            let owned = tx.owned(child.id, None).await?;
            check_not_blocked(child.kind, child.id, &owned)?;
            going.extend(cascading(child.kind, child.id, owned));
            if child.status != DELETING {
                puts.push(cascade(child, &message, now)?);
            }
        }
        Ok(Plan::Put(puts))
    }
}

/// The objects of `owned` that go down with their owner (`owner_kind` `owner`), each with
/// the status message it gets.
fn cascading(owner_kind: &str, owner: Id, owned: Vec<Doc>) -> VecDeque<(String, Doc)> {
    let message = format!("deleting with {owner_kind} {owner}");
    owned
        .into_iter()
        .filter(|d| matches!(d.owner, Some((_, OnOwnerDelete::Cascade))))
        .map(|d| (message.clone(), d))
        .collect()
}

/// A 409 while live objects that block the delete remain, naming them (by kind, the
/// first kind in id order). `owned` are the owner's live objects.
fn check_not_blocked(owner_kind: &str, owner: Id, owned: &[Doc]) -> Result<()> {
    let blocking = |d: &&Doc| matches!(d.owner, Some((_, OnOwnerDelete::Block)));
    let Some(first) = owned.iter().find(blocking) else {
        return Ok(());
    };
    let names = owned
        .iter()
        .filter(blocking)
        .filter(|d| d.kind == first.kind)
        .map(|d| Ok(format!("'{}' ({})", d.decode::<Named>()?.name, d.id)))
        .collect::<Result<Vec<_>>>()?;
    Err(CoreError::conflict(
        None,
        &format!("{owner_kind}-has-{}", first.plural),
        format!(
            "{owner_kind} {owner} still holds {} {}; delete them first",
            first.plural,
            names.join(", ")
        ),
    )
    .into())
}

/// A 409 while live objects would go down with the owner, naming them (by kind, the
/// first kind in id order) and the flag that deletes them too.
fn check_no_cascade(owner_kind: &str, owner: Id, owned: &[Doc]) -> Result<()> {
    let cascading =
        |d: &&Doc| matches!(d.owner, Some((_, OnOwnerDelete::Cascade))) && d.status != DELETING;
    let Some(first) = owned.iter().find(cascading) else {
        return Ok(());
    };
    let names = owned
        .iter()
        .filter(cascading)
        .filter(|d| d.kind == first.kind)
        .map(|d| Ok(format!("'{}' ({})", d.decode::<Named>()?.name, d.id)))
        .collect::<Result<Vec<_>>>()?;
    Err(CoreError::conflict(
        None,
        &format!("{owner_kind}-has-{}", first.plural),
        format!(
            "{owner_kind} {owner} still has {} {}; delete them first, or delete with \
             cascade=true (CLI: --cascade) to delete them with it",
            first.plural,
            names.join(", ")
        ),
    )
    .into())
}

/// The name every kind's body carries.
#[derive(Deserialize)]
struct Named {
    name: String,
}

/// `child` moved to `deleting` with its owner, at its next version.
fn cascade(child: Doc, message: &str, now: DateTime<Utc>) -> Result<Put> {
    let version = child.version + 1;
    let body = patch_header(
        &child.body,
        &[
            ("status", Value::from(DELETING)),
            ("status_message", Value::from(message)),
            (
                "updated_at",
                serde_json::to_value(now).map_err(encode_error)?,
            ),
            ("version", Value::from(version)),
        ],
    )
    .map_err(|e| {
        StoreError::Backend(e.context(format!("take {} {} down", child.kind, child.id)))
    })?;
    Ok(Put {
        expected_version: Some(child.version),
        index: None,
        action: Some("delete"),
        before: Some(child.body.clone()),
        at: now,
        doc: Doc {
            status: DELETING.to_string(),
            version,
            body,
            ..child
        },
    })
}

fn encode_error(e: serde_json::Error) -> StoreError {
    StoreError::Backend(anyhow::Error::new(e).context("encode a header field"))
}

/// `body` (a JSON object) with the values of `fields` replaced, every other member kept
/// as written and in its place.
fn patch_header(body: &str, fields: &[(&str, Value)]) -> anyhow::Result<String> {
    let mut members: Members = serde_json::from_str(body)?;
    for (name, value) in fields {
        let slot = members
            .0
            .iter_mut()
            .find(|(k, _)| k == name)
            .ok_or_else(|| anyhow::anyhow!("the stored body has no '{name}'"))?;
        slot.1 = RawValue::from_string(value.to_string())?;
    }
    Ok(serde_json::to_string(&members)?)
}

/// A JSON object's members in their written order, each value as written.
struct Members(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(InOrder)
    }
}

impl Serialize for Members {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_replaces_only_the_named_members_and_keeps_the_order() {
        let body = r#"{"id":"x","status":"active","peer":{"z":1,"a":[1, 2]},"version":3}"#;
        let patched = patch_header(
            body,
            &[("status", Value::from("deleting")), ("version", 4.into())],
        )
        .unwrap();
        assert_eq!(
            patched,
            r#"{"id":"x","status":"deleting","peer":{"z":1,"a":[1, 2]},"version":4}"#
        );
    }

    #[test]
    fn a_body_without_a_header_field_is_refused() {
        let err = patch_header(r#"{"id":"x"}"#, &[("status", Value::from("deleting"))]);
        assert!(err.is_err());
    }
}
