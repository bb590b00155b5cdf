//! The typed facade over the document store, one per kind, like kube-rs's `Api<K>`:
//! reads decode docs into `K`; writes run the kind's [`Admit`] rules inside the write
//! transaction. Delete is the same for every kind: what it does to the objects an
//! object owns comes from their owner declarations, not from code per kind.

mod delete;
mod names;

pub use names::NAME_INDEX;

use std::marker::PhantomData;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use isthmus_core::object::{Object, StatusMachine};
use isthmus_core::{CoreError, Id, ProjectId};

use crate::doc::{CreateKey, Doc, DocStore, Plan, Put, Tx, WriteOp, Written};
use crate::{Actor, Created, IdempotencyKey, Page, PageRequest, Result, StoreError};

/// What admission rules need that is not in the store: the installation's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    /// The platform DNS zone clusters get their names in.
    pub dns_zone: String,
}

/// A kind's admission rules, run inside the write transaction: each loads through the
/// [`Tx`] only the context its (pure) core rules need.
#[async_trait]
pub trait Admit: Object {
    /// The create request body.
    type Create: Clone + Send + Sync + 'static;
    /// The update request body.
    type Update: Clone + Send + Sync + 'static;

    /// The new object `id` in `project`, or why it may not exist.
    async fn admit_create(
        tx: &mut dyn Tx,
        project: ProjectId,
        id: Id,
        req: &Self::Create,
        env: &Env,
        now: DateTime<Utc>,
    ) -> Result<Self>;

    /// `current` changed as `req` asks, or why it may not.
    async fn admit_update(
        tx: &mut dyn Tx,
        current: &Self,
        req: &Self::Update,
        now: DateTime<Utc>,
    ) -> Result<Self>;

    /// Copies onto `next` what the controller observed beyond the status block (provider
    /// ids, node statuses) and recomputes what derives from it. `next` already has the
    /// observed status block.
    async fn admit_status(_tx: &mut dyn Tx, _next: &mut Self, _observed: &Self) -> Result<()> {
        Ok(())
    }
}

/// The objects of kind `K` in a document store.
pub struct Api<'a, K> {
    docs: &'a dyn DocStore,
    kind: PhantomData<fn() -> K>,
}

impl<'a, K: Object> Api<'a, K> {
    pub fn new(docs: &'a dyn DocStore) -> Self {
        Api {
            docs,
            kind: PhantomData,
        }
    }

    /// The object `id` of `project`; anything else (missing, another kind, another
    /// project) is the same `NotFound`, so ids never leak across projects.
    pub async fn get(&self, project: ProjectId, id: Id) -> Result<K> {
        match self.docs.get_doc(K::INFO.name, id).await? {
            Some(doc) if doc.project_id == project => doc.decode(),
            _ => Err(CoreError::not_found(K::INFO.name, id).into()),
        }
    }

    /// The object `id` in any project (for the controller).
    pub async fn load(&self, id: Id) -> Result<Option<K>> {
        self.docs
            .get_doc(K::INFO.name, id)
            .await?
            .map(|d| d.decode())
            .transpose()
    }

    /// One page of `project`'s objects, in creation order.
    pub async fn list(&self, project: ProjectId, page: &PageRequest) -> Result<Page<K>> {
        let docs = self.docs.list_docs(K::INFO.name, project, page).await?;
        Ok(Page {
            items: docs.items.iter().map(Doc::decode).collect::<Result<_>>()?,
            next_cursor: docs.next_cursor,
        })
    }

    /// The live objects owned by `owner`, in creation order.
    pub async fn owned_by(&self, owner: Id) -> Result<Vec<K>> {
        let docs = self.docs.owned_docs(owner, Some(K::INFO.name)).await?;
        docs.iter().map(Doc::decode).collect()
    }

    /// Marks the object `deleting` (the controller finishes the job), with what its
    /// deletion does to the objects it owns: a live one that blocks it refuses the
    /// delete (409 naming them); one that cascades goes `deleting` in the same write.
    /// An object already going away is returned unchanged.
    pub async fn delete(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: Id,
        if_match: Option<u64>,
    ) -> Result<K> {
        let op = delete::DeleteOp::<K>::new(project, id, if_match);
        answer(self.docs.write(actor, None, Box::new(op)).await?)
    }

    /// [`Api::delete`] as a user asks for it: unless `cascade`, live objects that would
    /// go down with this one refuse the delete too (a 409 naming them), so nothing is
    /// deleted that the user did not name.
    pub async fn delete_explicit(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: Id,
        if_match: Option<u64>,
        cascade: bool,
    ) -> Result<K> {
        let op = delete::DeleteOp::<K>::new(project, id, if_match).explicit(cascade);
        answer(self.docs.write(actor, None, Box::new(op)).await?)
    }
}

impl<'a, K: Admit> Api<'a, K> {
    pub async fn create(
        &self,
        actor: &Actor,
        project: ProjectId,
        req: &K::Create,
        env: &Env,
        idem: Option<&IdempotencyKey>,
    ) -> Result<Created<K>> {
        let op = CreateOp::<K> {
            project,
            req: req.clone(),
            env: env.clone(),
        };
        let idem = idem.map(|key| CreateKey {
            key: key.clone(),
            kind: K::INFO.name,
            project,
        });
        let written = self.docs.write(actor, idem.as_ref(), Box::new(op)).await?;
        let replayed = written.replayed;
        Ok(Created {
            resource: answer(written)?,
            replayed,
        })
    }

    pub async fn update(
        &self,
        actor: &Actor,
        project: ProjectId,
        id: Id,
        req: &K::Update,
        if_match: Option<u64>,
    ) -> Result<K> {
        let op = UpdateOp::<K> {
            project,
            id,
            req: req.clone(),
            if_match,
        };
        answer(self.docs.write(actor, None, Box::new(op)).await?)
    }

    /// Writes the controller's view of the object (its status block and what
    /// [`Admit::admit_status`] copies), only if the stored version still equals
    /// `observed`'s (else `VersionMismatch`, and the caller re-reads). Status moves go
    /// through the state machine; an audit event is logged only when status changes.
    pub async fn save_status(&self, actor: &Actor, observed: &K) -> Result<K> {
        let op = StatusOp {
            observed: observed.clone(),
        };
        answer(self.docs.write(actor, None, Box::new(op)).await?)
    }
}

/// The first doc a write stored (or kept, or replayed), as `K`.
pub(crate) fn answer<K: Object>(written: Written) -> Result<K> {
    match written.docs.first() {
        Some(doc) => doc.decode(),
        None => Err(StoreError::Backend(anyhow::anyhow!(
            "the {} write stored nothing",
            K::INFO.name
        ))),
    }
}

/// `obj` as a doc (its version as it stands).
pub(crate) fn to_doc<K: Object>(obj: &K) -> Result<Doc> {
    let body = serde_json::to_string(obj)
        .map_err(|e| StoreError::Backend(anyhow::Error::new(e).context("encode an object")))?;
    Ok(Doc {
        kind: K::INFO.name,
        plural: K::INFO.plural,
        id: obj.id(),
        project_id: obj.project_id(),
        owner: obj.owner_id().zip(K::INFO.owner.map(|o| o.on_delete)),
        status: obj.status().as_str().to_string(),
        version: obj.version(),
        created_at: obj.created_at(),
        body,
    })
}

/// The write of `next` over `current` (or of a new object), at the next version.
pub(crate) fn put_of<K: Object>(
    current: Option<&K>,
    mut next: K,
    action: Option<&'static str>,
    at: DateTime<Utc>,
) -> Result<Put> {
    if let Some(current) = current {
        next.set_version(current.version() + 1);
    }
    // Claims that stay as they were are not rewritten (most updates and status saves).
    let claims = names::claims_of(&next);
    let index = match current {
        Some(current) if names::claims_of(current) == claims => None,
        _ => Some(claims),
    };
    Ok(Put {
        expected_version: current.map(K::version),
        index,
        doc: to_doc(&next)?,
        action,
        // Encoded only for an event (most status saves log none).
        before: match action {
            Some(_) => current.map(to_doc).transpose()?.map(|d| d.body),
            None => None,
        },
        at,
    })
}

/// [`put_of`] over `current` as read from its `stored` doc: the event's body before is
/// the stored text, not `current` encoded again (a large object costs a copy, not a
/// second encoding).
pub(crate) fn put_over<K: Object>(
    stored: Doc,
    current: &K,
    next: K,
    action: Option<&'static str>,
    at: DateTime<Utc>,
) -> Result<Put> {
    let mut put = put_of(Some(current), next, None, at)?;
    put.action = action;
    put.before = action.map(|_| stored.body);
    Ok(put)
}

/// The object `id` of `project`, read in the transaction, with its stored doc.
pub(crate) async fn get_in<K: Object>(
    tx: &mut dyn Tx,
    project: ProjectId,
    id: Id,
) -> Result<(Doc, K)> {
    match tx.get(K::INFO.name, id).await? {
        Some(doc) if doc.project_id == project => {
            let obj = doc.decode()?;
            Ok((doc, obj))
        }
        _ => Err(CoreError::not_found(K::INFO.name, id).into()),
    }
}

/// `If-Match`: when the caller names a version, it must be the stored one.
fn check_version<K: Object>(stored: &K, expected: Option<u64>) -> Result<()> {
    match expected {
        Some(expected) if expected != stored.version() => Err(CoreError::VersionMismatch {
            kind: K::INFO.name,
            id: stored.id().to_string(),
            expected,
            actual: stored.version(),
        }
        .into()),
        _ => Ok(()),
    }
}

struct CreateOp<K: Admit> {
    project: ProjectId,
    req: K::Create,
    env: Env,
}

#[async_trait]
impl<K: Admit> WriteOp for CreateOp<K> {
    async fn run(&mut self, tx: &mut dyn Tx) -> Result<Plan> {
        let now = Utc::now();
        let id = crate::ids::new_id();
        let obj = K::admit_create(tx, self.project, id, &self.req, &self.env, now).await?;
        names::check_name_free(tx, &obj).await?;
        Ok(Plan::Put(vec![put_of(None, obj, Some("create"), now)?]))
    }
}

struct UpdateOp<K: Admit> {
    project: ProjectId,
    id: Id,
    req: K::Update,
    if_match: Option<u64>,
}

#[async_trait]
impl<K: Admit> WriteOp for UpdateOp<K> {
    async fn run(&mut self, tx: &mut dyn Tx) -> Result<Plan> {
        let (stored, current) = get_in::<K>(tx, self.project, self.id).await?;
        check_version(&current, self.if_match)?;
        let now = Utc::now();
        let next = K::admit_update(tx, &current, &self.req, now).await?;
        if next.name() != current.name() {
            names::check_name_free(tx, &next).await?;
        }
        Ok(Plan::Put(vec![put_over(
            stored,
            &current,
            next,
            Some("update"),
            now,
        )?]))
    }
}

struct StatusOp<K> {
    observed: K,
}

#[async_trait]
impl<K: Admit> WriteOp for StatusOp<K> {
    async fn run(&mut self, tx: &mut dyn Tx) -> Result<Plan> {
        let observed = &self.observed;
        let (doc, stored): (Doc, K) = match tx.get(K::INFO.name, observed.id()).await? {
            Some(doc) => {
                let stored = doc.decode()?;
                (doc, stored)
            }
            None => return Err(CoreError::not_found(K::INFO.name, observed.id()).into()),
        };
        check_version(&stored, Some(observed.version()))?;
        let now = Utc::now();
        let mut next = stored.clone();
        let block = next.status_mut();
        *block.status = stored.status().transition(observed.status())?;
        *block.message = observed.status_message().to_string();
        *block.conditions = observed.conditions().to_vec();
        *block.observed_generation = observed.observed_generation();
        next.set_updated_at(now);
        K::admit_status(tx, &mut next, observed).await?;
        let action = (next.status() != stored.status()).then_some("status");
        Ok(Plan::Put(vec![put_over(doc, &stored, next, action, now)?]))
    }
}
