//! Names are unique per kind within a project, for every kind, whatever its rules: a
//! second live network called `web` in a project is refused (409 `name-taken` on
//! `name`), in the write transaction, so two racing creates cannot both win. Each object
//! claims its name in the generic index (index `name`, scope `<project>/<kind>`, the
//! value a 32-bit hash of the name); a claim met is compared by the names themselves,
//! so a hash collision never refuses a name. A `deleted` object holds no claims: its
//! name is free again. Objects stored before names were claimed get their claims from
//! [`claim_names`] at start-up; names they already share stay shared (both stay
//! addressable by id, and a lookup by that name answers 409 `name-ambiguous`) until one
//! is renamed.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use async_trait::async_trait;
use chrono::Utc;
use isthmus_core::object::{IndexEntry, Object};
use isthmus_core::{CoreError, Id, ProjectId};
use serde::Deserialize;

use super::{to_doc, Api};
use crate::doc::{Doc, Plan, Put, Tx, WriteOp};
use crate::{Actor, PageRequest, Result};

/// The generic index that holds names.
pub const NAME_INDEX: &str = "name";

/// FNV-1a, 32 bits: stable across versions and platforms (stored claims depend on it).
fn name_hash(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn scope(project: ProjectId, kind: &str) -> String {
    format!("{project}/{kind}")
}

/// The claim `obj` makes on its name.
fn name_claim<K: Object>(obj: &K) -> IndexEntry {
    let h = name_hash(obj.name());
    IndexEntry {
        index: NAME_INDEX,
        scope: scope(obj.project_id(), K::INFO.name),
        start: h,
        end: h,
    }
}

/// Every claim `obj` holds: its kind's and its name's.
pub(crate) fn claims_of<K: Object>(obj: &K) -> Vec<IndexEntry> {
    let mut claims = obj.index_entries();
    claims.push(name_claim(obj));
    claims
}

/// The one object of `found` (the live objects of `K` named `given`): 404 when none,
/// 409 `name-ambiguous` naming them when several share the name.
fn one_named<K: Object>(found: Vec<Doc>, given: &str) -> Result<K> {
    match found.as_slice() {
        [one] => one.decode(),
        [] => Err(CoreError::not_found(K::INFO.name, given).into()),
        several => {
            let ids: Vec<String> = several.iter().map(|d| d.id.to_string()).collect();
            Err(CoreError::conflict(
                Some("name"),
                "name-ambiguous",
                format!(
                    "{} {} are named '{given}': give an id, or rename all but one",
                    K::INFO.plural,
                    ids.join(", ")
                ),
            )
            .into())
        }
    }
}

/// Just the name of a stored body (every kind's body has one).
#[derive(Deserialize)]
struct Named {
    name: String,
}

fn name_of(doc: &Doc) -> Result<String> {
    Ok(doc.decode::<Named>()?.name)
}

/// The live docs of `K` in `project` called `name`, read in the transaction.
async fn holders<K: Object>(tx: &mut dyn Tx, project: ProjectId, name: &str) -> Result<Vec<Doc>> {
    let h = name_hash(name);
    let met = tx
        .claims_meeting(NAME_INDEX, &scope(project, K::INFO.name), h, h)
        .await?;
    let mut held = Vec::new();
    for claim in met {
        if claim.doc.is_live() && name_of(&claim.doc)? == name {
            held.push(claim.doc);
        }
    }
    Ok(held)
}

/// Refuses `obj`'s name if another live object of its kind in its project has it.
pub(crate) async fn check_name_free<K: Object>(tx: &mut dyn Tx, obj: &K) -> Result<()> {
    let held = holders::<K>(tx, obj.project_id(), obj.name()).await?;
    let Some(other) = held.iter().find(|d| d.id != obj.id()) else {
        return Ok(());
    };
    let kind = K::INFO.name;
    let going = match other.status.as_str() {
        crate::doc::DELETING => " (it is being deleted: its name is free once it is gone)",
        _ => "",
    };
    Err(CoreError::conflict(
        Some("name"),
        "name-taken",
        format!(
            "a {kind} named '{}' already exists in this project ({}){going}; names are \
             unique per kind in a project",
            obj.name(),
            other.id
        ),
    )
    .into())
}

impl<K: Object> Api<'_, K> {
    /// The object of `project` that `given` names: an id (20 characters of 0-9 and
    /// a-v, a form no name may take), else a name. A name no live object has is a 404;
    /// one that several share (stored before names were unique) is a 409 naming them.
    pub async fn find(&self, project: ProjectId, given: &str) -> Result<K> {
        if let Ok(id) = given.parse::<Id>() {
            return self.get(project, id).await;
        }
        // The name's claims first: a handful of rows. Only when none matches (a store
        // whose objects have not claimed their names yet, or no such object) are the
        // kind's objects read one by one.
        let scope = scope(project, K::INFO.name);
        if let Some(claiming) = self
            .docs
            .docs_claiming(NAME_INDEX, &scope, name_hash(given))
            .await?
        {
            let mut found = Vec::new();
            for doc in claiming {
                if doc.kind == K::INFO.name && doc.is_live() && name_of(&doc)? == given {
                    found.push(doc);
                }
            }
            if !found.is_empty() {
                return one_named::<K>(found, given);
            }
        }
        let mut found: Vec<Doc> = Vec::new();
        let mut page = PageRequest::default();
        loop {
            let docs = self.docs.list_docs(K::INFO.name, project, &page).await?;
            for doc in docs.items {
                if doc.is_live() && name_of(&doc)? == given {
                    found.push(doc);
                }
            }
            match docs.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        one_named::<K>(found, given)
    }

    /// Gives a name claim to every live object of `K` that has none (stored before names
    /// were claimed), in one write, without a new version or an audit event (nothing a
    /// user sees changes). Returns what it found shared: one line per name that several
    /// live objects of a project hold, naming them, for the operator.
    pub async fn claim_names(&self) -> Result<Vec<String>> {
        let ids: Vec<Id> = self
            .docs
            .live_docs()
            .await?
            .into_iter()
            .filter(|key| key.kind == K::INFO.name)
            .map(|key| key.id)
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // The report reads outside the write: it informs, it decides nothing.
        let mut groups: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for &id in &ids {
            if let Some(doc) = self.docs.get_doc(K::INFO.name, id).await? {
                let key = (doc.project_id.to_string(), name_of(&doc)?);
                groups.entry(key).or_default().push(id.to_string());
            }
        }
        let op = ClaimNames::<K> {
            ids,
            kind: PhantomData,
        };
        self.docs
            .write(&Actor::controller(), None, Box::new(op))
            .await?;
        Ok(groups
            .into_iter()
            .filter(|(_, ids)| ids.len() > 1)
            .map(|((project, name), ids)| {
                format!(
                    "project {project}: {} {} share the name '{name}'",
                    K::INFO.plural,
                    ids.join(", ")
                )
            })
            .collect())
    }
}

/// The write of [`Api::claim_names`]: a claim for each live object that lacks one.
struct ClaimNames<K> {
    ids: Vec<Id>,
    kind: PhantomData<fn() -> K>,
}

#[async_trait]
impl<K: Object> WriteOp for ClaimNames<K> {
    async fn run(&mut self, tx: &mut dyn Tx) -> Result<Plan> {
        let mut puts = Vec::new();
        for &id in &self.ids {
            let Some(doc) = tx.get(K::INFO.name, id).await? else {
                continue;
            };
            if !doc.is_live() {
                continue;
            }
            let obj: K = doc.decode()?;
            let held = holders::<K>(tx, obj.project_id(), obj.name()).await?;
            if held.iter().all(|d| d.id != id) {
                // The same version: the object is unchanged, only its claims are added.
                puts.push(Put {
                    expected_version: Some(obj.version()),
                    doc: to_doc(&obj)?,
                    index: Some(claims_of(&obj)),
                    action: None,
                    before: None,
                    at: Utc::now(),
                });
            }
        }
        Ok(Plan::Put(puts))
    }
}

#[cfg(test)]
mod tests {
    use super::name_hash;

    #[test]
    fn the_name_hash_is_fnv1a_and_never_changes() {
        // Stored claims depend on these values: a change would orphan every claim.
        assert_eq!(name_hash(""), 0x811c_9dc5);
        assert_eq!(name_hash("a"), 0xe40c_292c);
        assert_eq!(name_hash("foobar"), 0xbf9c_f968);
    }
}
