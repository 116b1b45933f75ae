//! Tips through HTTP go through one batcher per instance: it takes every tip waiting, runs each
//! through [`super::tip_deferred`] in ONE database transaction, applies the credits once per
//! account and commits once — so a busy room's hot rows (the instance's, the model's, her
//! referrers') are updated once per batch instead of once per tip, and one commit (one fsync)
//! serves the whole batch. Each tip still commits atomically with all its parts; a refused tip
//! writes nothing and does not disturb the others. If the batch's transaction fails as a whole
//! (a database error), each of its tips is retried alone in its own transaction; idempotency
//! keys make that safe.

use tokio::sync::{mpsc, oneshot};

use super::{tip, tip_deferred, Credits, LedgerError, Split, TipCache, Tipped};
use crate::accounts::User;
use crate::db::Db;

/// Most tips in one transaction.
const MAX_BATCH: usize = 512;

pub struct TipJob {
    pub tipper: User,
    pub room_id: i64,
    pub amount: i64,
    pub key: String,
}

type Reply = oneshot::Sender<Result<Tipped, LedgerError>>;

pub struct TipBatcher {
    tx: mpsc::UnboundedSender<(TipJob, Reply)>,
}

impl TipBatcher {
    /// Start the batcher's thread (it ends when the batcher is dropped).
    pub fn start(db: Db, split: Split) -> TipBatcher {
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("tip-batcher".into())
            .spawn(move || run(db, split, rx))
            .expect("start the tip batcher thread");
        TipBatcher { tx }
    }

    /// Tip, and wait until the tip's transaction committed (or was refused).
    pub async fn tip(&self, job: TipJob) -> Result<Tipped, LedgerError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((job, reply))
            .map_err(|_| LedgerError::Invalid("the tip batcher has stopped"))?;
        answer
            .await
            .map_err(|_| LedgerError::Invalid("the tip batcher has stopped"))?
    }
}

fn run(db: Db, split: Split, mut rx: mpsc::UnboundedReceiver<(TipJob, Reply)>) {
    let mut cache = TipCache::default();
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let done = db.write_blocking(|conn| {
            let mut credits = Credits::default();
            let results: Vec<_> = batch
                .iter()
                .map(|(j, _)| {
                    tip_deferred(
                        conn,
                        &split,
                        &j.tipper,
                        j.room_id,
                        j.amount,
                        &j.key,
                        &mut credits,
                        &mut cache,
                    )
                })
                .collect();
            // A database error inside (not a refusal) fails the batch: retried one by one.
            if results.iter().any(|r| matches!(r, Err(LedgerError::Db(_)))) {
                return Err(LedgerError::Invalid("a tip in the batch failed"));
            }
            credits.apply(conn)?;
            Ok(results)
        });
        match done {
            Ok(results) => {
                cache.committed();
                for ((_, reply), r) in batch.into_iter().zip(results) {
                    let _ = reply.send(r);
                }
            }
            Err(e) => {
                cache.rolled_back();
                tracing::warn!(error = %e, size = batch.len(), "tip batch failed; retrying its tips one by one");
                for (j, reply) in batch {
                    let r = db.write_blocking(|conn| {
                        tip(conn, &split, &j.tipper, j.room_id, j.amount, &j.key)
                    });
                    let _ = reply.send(r);
                }
            }
        }
    }
}
