//! The one reconcile loop every kind runs: load the object and its owner, wait while the
//! owner is not ready, run the kind's `apply`, save the status if it changed, wake what
//! waits on it; on deletion, the finalizer waits for the objects it owns (of any kind),
//! runs the kind's `cleanup` and only then marks it `deleted`. Failed reconciles are
//! recorded here too. A kind writes only [`Reconcile::apply`] and [`Reconcile::cleanup`].

use async_trait::async_trait;
use isthmus_core::conditions::ConditionStatus;
use isthmus_core::object::{Object, StatusMachine};
use isthmus_core::{CoreError, Id};
use isthmus_store::api::Admit;
use isthmus_store::ObjectKey;

use super::context::{condition, reconciled, Action, Context, ReconcileError, Result, Retry};
use super::objects;
use crate::kinds::KINDS;

/// A kind the controller reconciles.
#[async_trait]
pub trait Reconcile: Admit {
    /// The object this one lives in, handed to its steps: an owner kind, or `()` for a
    /// kind that lives in a project only.
    type Owner: Owner;
    /// The status in which this kind is ready: what its owned objects wait for.
    const READY: Self::Status;

    /// One idempotent step toward the spec of a live object whose owner is ready: the
    /// object as it should be stored now, and when to look again.
    async fn apply(ctx: &Context, obj: &Self, owner: &Self::Owner) -> Result<(Self, Action)>;

    /// Tears down what the object has at its provider, once nothing it owns is left.
    async fn cleanup(ctx: &Context, obj: &Self, owner: &Self::Owner) -> Result<Cleanup<Self>>;
}

/// What a kind's cleanup found.
pub enum Cleanup<K> {
    /// The provider is still tearing down: store this (its message says what goes) and
    /// look again after the poll interval.
    InProgress(K),
    /// Nothing remains at the provider: this, as stored now with the kind's last words
    /// (its message), is marked `deleted`.
    Gone(K),
}

/// The same object with another status message.
pub(crate) fn with_message<K: Object>(obj: &K, message: &str) -> K {
    let mut next = obj.clone();
    *next.status_mut().message = message.to_string();
    next
}

/// What the runner needs of an object's owner.
#[async_trait]
pub trait Owner: Sized + Send + Sync {
    /// Loads the owner of `child`.
    async fn of<C: Object>(ctx: &Context, child: &C) -> Result<Self>;
    /// Why an owned object must wait (reason, message), while the owner is not ready.
    fn waiting(&self) -> Option<(String, String)>;
    /// The owner's key while it is being deleted: its finalizer waits for what it owns.
    fn deleting(&self) -> Option<ObjectKey>;
}

/// Kinds that live in a project only.
#[async_trait]
impl Owner for () {
    async fn of<C: Object>(_: &Context, _: &C) -> Result<()> {
        Ok(())
    }
    fn waiting(&self) -> Option<(String, String)> {
        None
    }
    fn deleting(&self) -> Option<ObjectKey> {
        None
    }
}

#[async_trait]
impl<O: Reconcile> Owner for O {
    async fn of<C: Object>(ctx: &Context, child: &C) -> Result<O> {
        let context = format!("load {} of {} {}", O::INFO.name, C::INFO.name, child.id());
        let missing = |id: Option<Id>| ReconcileError::Store {
            context: context.clone(),
            source: CoreError::not_found(
                O::INFO.name,
                id.map_or(String::new(), |id| id.to_string()),
            )
            .into(),
        };
        let id = child.owner_id().ok_or_else(|| missing(None))?;
        objects::load::<O>(&*ctx.store, id)
            .await
            .map_err(ReconcileError::store(context.clone()))?
            .ok_or_else(|| missing(Some(id)))
    }
    fn waiting(&self) -> Option<(String, String)> {
        (self.status() != O::READY).then(|| {
            let message = format!(
                "waiting for {} {} to become {} (it is {})",
                O::INFO.name,
                self.id(),
                O::READY,
                self.status()
            );
            (format!("WaitingFor{}", camel_case(O::INFO.name)), message)
        })
    }
    fn deleting(&self) -> Option<ObjectKey> {
        (self.status() == O::Status::DELETING).then(|| ObjectKey::of::<O>(self.id()))
    }
}

/// `endpoint_service` → `EndpointService`.
fn camel_case(name: &str) -> String {
    name.split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect()
}

/// One reconcile of the object `id` of kind `K`.
pub(crate) async fn run<K: Reconcile>(ctx: &Context, id: Id) -> Result<Action> {
    let started = std::time::Instant::now();
    let loaded = objects::load::<K>(&*ctx.store, id)
        .await
        .map_err(ReconcileError::store(format!("load {} {id}", K::INFO.name)))?;
    // Gone from the store (never created, or purged): nothing to converge.
    let Some(obj) = loaded else {
        return Ok(Action::Done);
    };
    if obj.status() == K::Status::DELETED {
        return Ok(Action::Done);
    }
    let owner = K::Owner::of(ctx, &obj).await?;
    if obj.status() == K::Status::DELETING {
        return finalize(ctx, obj, owner).await;
    }
    if let Some((reason, message)) = owner.waiting() {
        let mut next = obj.clone();
        let status = next.status_mut();
        *status.message = message.clone();
        condition(
            status.conditions,
            "Ready",
            ConditionStatus::False,
            &reason,
            message,
        );
        reconciled(status.conditions);
        save(ctx, &obj, next).await?;
        return Ok(Action::RequeueAfter(ctx.config.poll_interval));
    }
    let loaded_at = started.elapsed();
    let (next, action) = K::apply(ctx, &obj, &owner).await?;
    let applied_at = started.elapsed();
    let saved = save(ctx, &obj, next).await?;
    // Where a reconcile's time goes (RUST_LOG=isthmus_server::controller=debug): what an
    // allow-list change or a create waits for between its request and `observed`.
    tracing::debug!(kind = K::INFO.name, %id, load_ms = ms(loaded_at),
        apply_ms = ms(applied_at - loaded_at), save_ms = ms(started.elapsed() - applied_at),
        "reconciled");
    if obj.status() != K::READY && saved.status() == K::READY {
        // What waits for this object can go on now, not at its next poll.
        let context = format!("list what depends on {} {id}", K::INFO.name);
        for key in children(ctx, id, context).await? {
            ctx.wake(key);
        }
    }
    Ok(action)
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The finalizer: waits until nothing the object owns is left, has the kind clean up at
/// its provider, and only then marks it `deleted`.
async fn finalize<K: Reconcile>(ctx: &Context, obj: K, owner: K::Owner) -> Result<Action> {
    let context = format!("list what remains on {} {}", K::INFO.name, obj.id());
    let remaining = children(ctx, obj.id(), context).await?;
    if !remaining.is_empty() {
        let mut next = obj.clone();
        let status = next.status_mut();
        *status.message = waiting_for_children::<K>(&remaining);
        reconciled(status.conditions);
        save(ctx, &obj, next).await?;
        // Cascaded children are `deleting` already: have them go now.
        for key in remaining {
            ctx.wake(key);
        }
        return Ok(Action::RequeueAfter(ctx.config.poll_interval));
    }
    let stored = match K::cleanup(ctx, &obj, &owner).await? {
        Cleanup::InProgress(next) => {
            save(ctx, &obj, next).await?;
            return Ok(Action::RequeueAfter(ctx.config.poll_interval));
        }
        Cleanup::Gone(stored) => stored,
    };
    let mut done = stored.clone();
    let generation = done.generation();
    let status = done.status_mut();
    *status.status = stored
        .status()
        .transition(K::Status::DELETED)
        .map_err(ReconcileError::Illegal)?;
    *status.observed_generation = generation;
    condition(
        status.conditions,
        "Ready",
        ConditionStatus::False,
        "Deleted",
        "",
    );
    reconciled(status.conditions);
    save(ctx, &obj, done).await?;
    if let Some(owner) = owner.deleting() {
        // The owner's finalizer waits for this object: tell it now.
        ctx.wake(owner);
    }
    Ok(Action::Done)
}

/// The live objects `id` owns, of any kind (registered or not: the store keeps each
/// object's owner id).
async fn children(ctx: &Context, id: Id, context: String) -> Result<Vec<ObjectKey>> {
    objects::children_of(&*ctx.store, id)
        .await
        .map_err(ReconcileError::store(context))
}

/// "waiting for 2 peerings, 0 clusters and 0 vpn-gateways to be deleted": a count for every registered
/// kind `K` owns, in the registry's order, then for any other kind that remains.
fn waiting_for_children<K: Reconcile>(remaining: &[ObjectKey]) -> String {
    let owned: Vec<_> = KINDS
        .iter()
        .map(|k| k.info())
        .filter(|info| info.owner.is_some_and(|o| o.kind == K::INFO.name))
        .collect();
    let count = |kind: &str| remaining.iter().filter(|key| key.kind == kind).count();
    let mut counts: Vec<String> = owned
        .iter()
        .map(|info| format!("{} {}", count(info.name), info.plural))
        .collect();
    let mut others: Vec<&str> = remaining
        .iter()
        .map(|key| key.kind)
        .filter(|kind| owned.iter().all(|info| info.name != *kind))
        .collect();
    others.sort_unstable();
    others.dedup();
    counts.extend(
        others
            .iter()
            .map(|kind| format!("{} {kind} objects", count(kind))),
    );
    let listed = match counts.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    };
    format!("waiting for {listed} to be deleted")
}

/// Saves `next` if it differs from `before` (what was read); returns what is stored.
pub(crate) async fn save<K: Admit>(ctx: &Context, before: &K, next: K) -> Result<K> {
    let context = format!("save status of {} {}", K::INFO.name, next.id());
    objects::save(&*ctx.store, before, next)
        .await
        .map_err(ReconcileError::store(context))
}

/// Records a failed reconcile on the object: `Reconciled=False` with the error's reason,
/// the error and when it is retried in `status_message`; a permanent error also moves the
/// object to `error` (where its state machine allows) with `Ready=False` and the reason,
/// and counts its spec as observed.
/// Best effort: if the write loses a race, the retry (or the resync) records it.
pub(crate) async fn record_error<K: Reconcile>(
    ctx: &Context,
    id: Id,
    err: &ReconcileError,
    retry: Retry,
) {
    let Ok(Some(before)) = objects::load::<K>(&*ctx.store, id).await else {
        return;
    };
    let message = match retry {
        Retry::After(delay) => format!("{err} (retrying in {:.1}s)", delay.as_secs_f64()),
        Retry::OnChange => {
            format!("{err} (not retried until the spec changes; checked again at the next resync)")
        }
    };
    let mut next = before.clone();
    let generation = next.generation();
    let status = next.status_mut();
    condition(
        status.conditions,
        "Reconciled",
        ConditionStatus::False,
        err.reason(),
        err.to_string(),
    );
    *status.message = message;
    if retry == Retry::OnChange {
        if let Ok(to) = status.status.transition(K::Status::ERROR) {
            *status.status = to;
            // The controller has acted on this spec and this is its verdict, so `--wait`
            // settles. (A spec written since the failing read was also enqueued by the
            // API: its reconcile, right after, overwrites this.)
            *status.observed_generation = generation;
            condition(
                status.conditions,
                "Ready",
                ConditionStatus::False,
                err.reason(),
                err.to_string(),
            );
        }
    }
    if let Err(e) = save(ctx, &before, next).await {
        tracing::debug!(kind = K::INFO.name, %id, error = %e, "could not record the reconcile error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isthmus_core::resources::{Network, Peering};

    fn keys(kind: &'static str, n: usize) -> Vec<ObjectKey> {
        (0..n)
            .map(|i| ObjectKey {
                kind,
                id: Id::from_parts(1, [i as u8; 8]),
            })
            .collect()
    }

    #[test]
    fn the_finalizer_counts_what_remains_of_every_owned_kind() {
        let mut remaining = keys("peering", 2);
        assert_eq!(
            waiting_for_children::<Network>(&remaining),
            "waiting for 2 peerings, 0 clusters and 0 vpn-gateways to be deleted"
        );
        remaining.extend(keys("cluster", 1));
        assert_eq!(
            waiting_for_children::<Network>(&remaining),
            "waiting for 2 peerings, 1 clusters and 0 vpn-gateways to be deleted"
        );
        remaining.extend(keys("widget", 3));
        assert_eq!(
            waiting_for_children::<Network>(&remaining),
            "waiting for 2 peerings, 1 clusters, 0 vpn-gateways and 3 widget objects to be deleted"
        );
        assert_eq!(camel_case("network"), "Network");
        assert_eq!(camel_case("endpoint_service"), "EndpointService");
        let _ = Peering::INFO;
    }
}
