//! Group commit of object writes. SQLite commits one transaction at a time, and each
//! commit waits for its fsync; with many callers that fsync, not the work, sets the pace.
//! So the object writes waiting for the writer go through one task that runs all the
//! writes waiting at that moment in one transaction, each in a savepoint of its own, and
//! commits them together: one fsync for the group, and never a relaxed one.
//!
//! Each write runs after the ones before it in its group, on the same connection, so its
//! rules see what they wrote (still race-free: the group is one serial transaction). A
//! write that fails is rolled back to its savepoint and fails alone; the others commit.
//! Each answer is sent only once its commit succeeded.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::raw::{Raw, RawConn};
use super::{begin, WriteHealth, WriteTx};
use crate::doc::{CreateKey, WriteOp, Written};
use crate::sql::codec::Ctx;
use crate::sql::query::query;
use crate::sql::write::write_in;
use crate::sql::Commit;
use crate::{Actor, Result, StoreError};

/// At most this many writes share a commit: a bound on how long one group holds the
/// writer (and on what a failed commit takes down with it).
const MAX_GROUP: usize = 64;

/// One object write waiting for the writer.
struct Pending {
    actor: Actor,
    idem: Option<CreateKey>,
    op: Box<dyn WriteOp>,
    answer: oneshot::Sender<Result<Written>>,
}

/// The queue of object writes, and the task that commits them in groups. The task is
/// started with the first write (and again if its runtime went away).
pub(super) struct GroupCommit {
    writer: SqlitePool,
    health: Arc<WriteHealth>,
    queue: Mutex<Option<mpsc::UnboundedSender<Pending>>>,
}

impl GroupCommit {
    pub(super) fn new(writer: SqlitePool, health: Arc<WriteHealth>) -> GroupCommit {
        GroupCommit {
            writer,
            health,
            queue: Mutex::new(None),
        }
    }

    pub(super) async fn write(
        &self,
        actor: Actor,
        idem: Option<CreateKey>,
        op: Box<dyn WriteOp>,
    ) -> Result<Written> {
        let (answer, answered) = oneshot::channel();
        let pending = Pending {
            actor,
            idem,
            op,
            answer,
        };
        {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            let unsent = match queue.as_ref() {
                Some(sender) => sender.send(pending).err().map(|e| e.0),
                None => Some(pending),
            };
            // No task yet, or its runtime went away with it: start one.
            if let Some(pending) = unsent {
                let (sender, receiver) = mpsc::unbounded_channel();
                tokio::spawn(run(self.writer.clone(), self.health.clone(), receiver));
                let _ = sender.send(pending);
                *queue = Some(sender);
            }
        }
        answered.await.map_err(|_| {
            StoreError::Backend(anyhow::anyhow!(
                "the group commit task ended without an answer"
            ))
        })?
    }
}

/// Commits what waits, a group at a time, until every sender is gone.
async fn run(
    writer: SqlitePool,
    health: Arc<WriteHealth>,
    mut queue: mpsc::UnboundedReceiver<Pending>,
) {
    while let Some(first) = queue.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        commit_group(&writer, &health, group).await;
    }
}

/// Runs `group` in one transaction and answers each write.
async fn commit_group(writer: &SqlitePool, health: &Arc<WriteHealth>, group: Vec<Pending>) {
    // Boxed as `Send` here, where the lifetimes are known (the compiler cannot prove the
    // pool's future `Send` for every lifetime inside the spawned task).
    let begun: Pin<Box<dyn Future<Output = Result<WriteTx>> + Send + '_>> =
        Box::pin(begin(writer, health));
    let started = std::time::Instant::now();
    let writes = group.len();
    let mut tx = match begun.await {
        Ok(tx) => tx,
        Err(e) => return fail_all(group.into_iter().map(|p| p.answer), &e),
    };
    let mut done: Vec<(oneshot::Sender<Result<Written>>, Written)> = Vec::new();
    let mut what = None;
    {
        // The group's statements run on the handle itself (see `raw.rs`); the worker
        // thread gets it back before the commit.
        let mut handle = match tx.lock_handle().await.ctx("lend the writer's handle") {
            Ok(handle) => handle,
            Err(e) => return fail_all(group.into_iter().map(|p| p.answer), &e),
        };
        // SAFETY: the handle is ours until `handle` drops, after `raw` (declared later).
        let mut raw = unsafe { RawConn::new(handle.as_raw_handle().as_ptr()) };
        let mut pending = group.into_iter();
        while let Some(p) = pending.next() {
            match one(&mut raw, p.actor, p.idem, p.op).await {
                Ok(Ok((written, named))) => {
                    what = named.or(what);
                    done.push((p.answer, written));
                }
                Ok(Err(refused)) => {
                    let _ = p.answer.send(Err(refused));
                }
                Err((refused, broken)) => {
                    // The transaction cannot go on: nothing of the group is committed.
                    let _ = p.answer.send(Err(refused));
                    let rest = pending.map(|p| p.answer);
                    return fail_all(done.into_iter().map(|(a, _)| a).chain(rest), &broken);
                }
            }
        }
    }
    let ran = started.elapsed();
    // A group of which nothing wrote commits nothing (a rollback, as a lone write does).
    if let Some(what) = what {
        if let Err(e) = tx
            .commit()
            .await
            .with_ctx(|| format!("{what} (group commit)"))
        {
            return fail_all(done.into_iter().map(|(a, _)| a), &e);
        }
    }
    // What a group costs (RUST_LOG=isthmus_store=debug): its writes' work, then the commit
    // with its fsync.
    tracing::debug!(
        writes,
        run_ms = ran.as_secs_f64() * 1e3,
        commit_ms = (started.elapsed() - ran).as_secs_f64() * 1e3,
        "group committed"
    );
    for (answer, written) in done {
        let _ = answer.send(Ok(written));
    }
}

/// One write of a group, in its savepoint: `Ok(Ok(..))` written, `Ok(Err(..))` refused
/// and rolled back alone, `Err((its error, why))` when the savepoint could not be undone
/// (the transaction is lost, e.g. SQLite rolled it back on a full disk).
async fn one(
    tx: &mut RawConn,
    actor: Actor,
    idem: Option<CreateKey>,
    op: Box<dyn WriteOp>,
) -> std::result::Result<Result<(Written, Option<String>)>, (StoreError, StoreError)> {
    let savepoint = query("SAVEPOINT one_write")
        .execute(tx)
        .await
        .ctx("set a write's savepoint");
    if let Err(e) = savepoint {
        let again = copy(&e);
        return Err((e, again));
    }
    let outcome = write_in::<Raw>(tx, &actor, idem.as_ref(), op).await;
    let ended = end_savepoint(tx, outcome.is_ok())
        .await
        .ctx("end a write's savepoint");
    match (outcome, ended) {
        (outcome, Ok(_)) => Ok(outcome),
        (Ok(_), Err(e)) => {
            let again = copy(&e);
            Err((e, again))
        }
        (Err(refused), Err(e)) => Err((refused, e)),
    }
}

/// Releases the savepoint, after rolling back to it when the write failed.
async fn end_savepoint(tx: &mut RawConn, succeeded: bool) -> std::result::Result<(), sqlx::Error> {
    if !succeeded {
        query("ROLLBACK TO SAVEPOINT one_write").execute(tx).await?;
    }
    query("RELEASE SAVEPOINT one_write").execute(tx).await?;
    Ok(())
}

fn fail_all(answers: impl Iterator<Item = oneshot::Sender<Result<Written>>>, e: &StoreError) {
    for answer in answers {
        let _ = answer.send(Err(copy(e)));
    }
}

/// The same failure for another write of the group (errors are not `Clone`).
fn copy(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable {
            kind,
            reason,
            context,
        } => StoreError::Unavailable {
            kind: *kind,
            reason: reason.clone(),
            context: context.clone(),
        },
        other => StoreError::Backend(anyhow::anyhow!("{other:#}")),
    }
}
