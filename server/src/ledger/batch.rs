//! Tips through HTTP go through one batcher per instance: it takes every tip waiting, runs each
//! through [`super::tip_deferred`] in ONE database transaction, applies the credits once per
//! account and commits once — so a busy room's hot rows (the instance's, the model's, her
//! referrers') are updated once per batch instead of once per tip, and one commit (one fsync)
//! serves the whole batch. Each tip still commits atomically with all its parts; a refused tip
//! writes nothing and does not disturb the others. If the batch's transaction fails as a whole
//! (a database error), each of its tips is retried alone in its own transaction; idempotency
//! keys make that safe.

use tokio::sync::{mpsc, oneshot};

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use livestars_api::TipReceipt;

use super::{format_amount, share, tip, Credits, LedgerError, Split, TipCache, TipRow, Tipped};
use crate::accounts::User;
use crate::db::schema::{ledger_accounts, ledger_transfers, rooms, tips, users};
use crate::db::{now, Db, DbConnection};

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
        let jobs: Vec<&TipJob> = batch.iter().map(|(j, _)| j).collect();
        let done = db.write_blocking(|conn| tip_batch(conn, &split, &jobs, &mut cache));
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

/// A new tip decided in memory, written with the others of its batch.
struct NewTip {
    job: usize,
    model_id: i64,
    model_share: i64,
    referral_total: i64,
    instance_share: i64,
    /// (debit account, credit account, amount, kind) of each transfer.
    parts: Vec<(i64, i64, i64, &'static str)>,
    balance_after: i64,
}

/// Many tips in the caller's transaction with a handful of statements per batch: the keys and
/// rooms of the whole batch read at once, every tipper's balance read once and each tip decided
/// in order against it in memory, the tips inserted, all their transfers in one insert, each
/// tipper debited once (conditionally: if her balance moved meanwhile the batch fails and its
/// tips are retried alone), each credited account updated once. The result per tip is what
/// [`super::tip`] would have answered for it alone.
pub fn tip_batch(
    conn: &mut DbConnection,
    split: &Split,
    jobs: &[&TipJob],
    cache: &mut TipCache,
) -> Result<Vec<Result<Tipped, LedgerError>>, LedgerError> {
    let t = now();
    let keys: Vec<&str> = jobs.iter().map(|j| j.key.as_str()).collect();
    let tippers: Vec<i64> = jobs.iter().map(|j| j.tipper.id).collect();
    let existing: Vec<(i64, String, TipRow)> = tips::table
        .filter(tips::idempotency_key.eq_any(&keys))
        .filter(tips::tipper_id.eq_any(&tippers))
        .select((
            tips::tipper_id,
            tips::idempotency_key,
            (
                tips::id,
                tips::model_id,
                tips::room_id,
                tips::amount,
                tips::model_share,
                tips::referral_total,
                tips::instance_share,
                tips::created_at,
            ),
        ))
        .load(conn)?;
    let mut known: HashMap<(i64, String), TipRow> = existing
        .into_iter()
        .map(|(tipper, key, row)| ((tipper, key), row))
        .collect();
    let room_ids: Vec<i64> = jobs.iter().map(|j| j.room_id).collect();
    let room_rows: Vec<(i64, i64, String)> = rooms::table
        .filter(rooms::id.eq_any(&room_ids))
        .select((rooms::id, rooms::user_id, rooms::status))
        .load(conn)?;
    let room_of: HashMap<i64, (i64, String)> = room_rows
        .into_iter()
        .map(|(id, user, status)| (id, (user, status)))
        .collect();
    let mut accounts: HashMap<i64, i64> = HashMap::new();
    for j in jobs {
        let a = cache.account(conn, j.tipper.id)?;
        accounts.insert(j.tipper.id, a);
    }
    let account_ids: Vec<i64> = accounts.values().copied().collect();
    let mut balance: HashMap<i64, i64> = ledger_accounts::table
        .filter(ledger_accounts::id.eq_any(&account_ids))
        .select((ledger_accounts::id, ledger_accounts::balance))
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .collect();
    let start_balance = balance.clone();
    let instance = cache.instance(conn)?;
    // Referrers whose accounts were deleted earn nothing: their share stays with the instance
    // (the chain goes on through them). Read fresh for every batch: deletion is not cached.
    let mut referrers: Vec<i64> = Vec::new();
    for j in jobs {
        let mut sides = vec![j.tipper.id];
        if let Some((model, _)) = room_of.get(&j.room_id) {
            sides.push(*model);
        }
        for side in sides {
            referrers.extend(cache.chain(conn, side, split.referral_bps.len())?);
        }
    }
    referrers.sort_unstable();
    referrers.dedup();
    let gone: std::collections::HashSet<i64> = if referrers.is_empty() {
        Default::default()
    } else {
        users::table
            .filter(users::id.eq_any(&referrers))
            .filter(users::deleted_at.is_not_null())
            .select(users::id)
            .load::<i64>(conn)?
            .into_iter()
            .collect()
    };
    let mut results: Vec<Option<Result<Tipped, LedgerError>>> =
        (0..jobs.len()).map(|_| None).collect();
    let mut fresh: Vec<NewTip> = Vec::new();
    // Keys new in this batch: (tipper, key) → (room, amount, index in `fresh`).
    let mut in_batch: HashMap<(i64, String), (i64, i64, usize)> = HashMap::new();
    let mut credits = Credits::default();
    for (i, j) in jobs.iter().enumerate() {
        let decided = decide(
            conn, split, j, cache, &room_of, &known, &in_batch, instance, &gone,
        );
        let from = accounts[&j.tipper.id];
        match decided {
            Ok(Decision::Replay(row)) => {
                let r = replay_receipt(conn, cache, row, balance[&from])?;
                results[i] = Some(Ok(Tipped::Replayed(r)));
            }
            Ok(Decision::ReplayOfBatch) => {
                // Answered below, once the first tip of this key has its id.
                results[i] = None;
            }
            Ok(Decision::New(mut tip)) => {
                let b = balance
                    .get_mut(&from)
                    .ok_or(LedgerError::Invalid("no account"))?;
                if *b < j.amount {
                    results[i] = Some(Err(LedgerError::InsufficientBalance));
                    continue;
                }
                *b -= j.amount;
                tip.job = i;
                tip.balance_after = *b;
                for (debit, credit, amount, _) in &tip.parts {
                    if *debit != from {
                        credits.add(*debit, -amount)?;
                    }
                    credits.add(*credit, *amount)?;
                }
                in_batch.insert(
                    (j.tipper.id, j.key.clone()),
                    (j.room_id, j.amount, fresh.len()),
                );
                fresh.push(tip);
            }
            Err(e) => results[i] = Some(Err(e)),
        }
    }
    // Each tipper debited once, on the condition that her balance still covers it. All rows
    // to change are locked first, in one order.
    let mut debits: Vec<(i64, i64)> = start_balance
        .iter()
        .map(|(account, before)| (*account, before - balance[account]))
        .filter(|(_, d)| *d > 0)
        .collect();
    debits.sort_unstable();
    let touched: Vec<i64> = debits
        .iter()
        .map(|(a, _)| *a)
        .chain(credits.0.keys().copied())
        .collect();
    super::lock_accounts(conn, &touched)?;
    let debited = apply_deltas(conn, &debits, true)?;
    if debited != debits.len() {
        // Her balance went down since it was read (a payout, another process's tips). Nothing
        // is written yet for a lone tip: it is short. A batch is retried tip by tip.
        if jobs.len() == 1 {
            return Ok(vec![Err(LedgerError::InsufficientBalance)]);
        }
        return Err(LedgerError::Invalid("a balance moved during the batch"));
    }
    let mut plus: Vec<(i64, i64)> = credits.0.into_iter().filter(|(_, v)| *v != 0).collect();
    plus.sort_unstable();
    apply_deltas(conn, &plus, false)?;
    // The tips, and their ids.
    let tip_rows: Vec<_> = fresh
        .iter()
        .map(|tip| {
            let j = jobs[tip.job];
            (
                tips::tipper_id.eq(j.tipper.id),
                tips::model_id.eq(tip.model_id),
                tips::room_id.eq(j.room_id),
                tips::amount.eq(j.amount),
                tips::model_share.eq(tip.model_share),
                tips::referral_total.eq(tip.referral_total),
                tips::instance_share.eq(tip.instance_share),
                tips::idempotency_key.eq(&j.key),
                tips::created_at.eq(t),
            )
        })
        .collect();
    let ids: Vec<i64> =
        match conn {
            DbConnection::Postgres(c) if !tip_rows.is_empty() => {
                // One insert; the ids are matched back by (tipper, key), not by position.
                let back: HashMap<(i64, String), i64> = diesel::insert_into(tips::table)
                    .values(&tip_rows)
                    .returning((tips::tipper_id, tips::idempotency_key, tips::id))
                    .get_results::<(i64, String, i64)>(c)?
                    .into_iter()
                    .map(|(tipper, key, id)| ((tipper, key), id))
                    .collect();
                fresh
                    .iter()
                    .map(|tip| {
                        let j = jobs[tip.job];
                        back.get(&(j.tipper.id, j.key.clone())).copied().ok_or(
                            LedgerError::Invalid("an inserted tip came back without its id"),
                        )
                    })
                    .collect::<Result<_, _>>()?
            }
            _ => {
                let mut ids = Vec::with_capacity(tip_rows.len());
                for row in &tip_rows {
                    ids.push(
                        diesel::insert_into(tips::table)
                            .values(*row)
                            .returning(tips::id)
                            .get_result(conn)?,
                    );
                }
                ids
            }
        };
    // Every transfer of the batch in one insert per chunk.
    let references: Vec<String> = ids.iter().map(|id| format!("tip:{id}")).collect();
    let mut rows = Vec::new();
    for (k, tip) in fresh.iter().enumerate() {
        for (debit, credit, amount, kind) in &tip.parts {
            rows.push((
                ledger_transfers::debit_account.eq(*debit),
                ledger_transfers::credit_account.eq(*credit),
                ledger_transfers::amount.eq(*amount),
                ledger_transfers::kind.eq(*kind),
                ledger_transfers::reference.eq(&references[k]),
                ledger_transfers::created_at.eq(t),
            ));
        }
    }
    for chunk in rows.chunks(2000) {
        let insert = diesel::insert_into(ledger_transfers::table).values(chunk);
        match conn {
            DbConnection::Postgres(c) => insert.execute(c)?,
            DbConnection::Sqlite(c) => insert.execute(c)?,
        };
    }
    // Answers: new tips, then replays of keys first seen in this batch.
    for (k, tip) in fresh.iter().enumerate() {
        let j = jobs[tip.job];
        let model = cache.name(conn, tip.model_id)?;
        let row = (
            ids[k],
            tip.model_id,
            j.room_id,
            j.amount,
            tip.model_share,
            tip.referral_total,
            tip.instance_share,
            t,
        );
        known.insert((j.tipper.id, j.key.clone()), row);
        crate::events::record(crate::events::Event::Tipped {
            room_id: j.room_id,
            tip_id: ids[k],
            tipper: j.tipper.username.clone(),
            units: j.amount,
            at: t,
        });
        results[tip.job] = Some(Ok(Tipped::Created(new_receipt(
            row,
            model,
            tip.balance_after,
        ))));
    }
    let mut out = Vec::with_capacity(jobs.len());
    for (i, r) in results.into_iter().enumerate() {
        out.push(match r {
            Some(r) => r,
            None => {
                let j = jobs[i];
                match known.get(&(j.tipper.id, j.key.clone())) {
                    Some(row) if row.2 == j.room_id && row.3 == j.amount => {
                        let from = accounts[&j.tipper.id];
                        Ok(Tipped::Replayed(replay_receipt(
                            conn,
                            cache,
                            *row,
                            balance[&from],
                        )?))
                    }
                    _ => Err(LedgerError::KeyReused),
                }
            }
        });
    }
    Ok(out)
}

enum Decision {
    New(NewTip),
    Replay(TipRow),
    /// The same key as an earlier new tip of this batch.
    ReplayOfBatch,
}

#[allow(clippy::too_many_arguments)]
fn decide(
    conn: &mut DbConnection,
    split: &Split,
    j: &TipJob,
    cache: &mut TipCache,
    room_of: &HashMap<i64, (i64, String)>,
    known: &HashMap<(i64, String), TipRow>,
    in_batch: &HashMap<(i64, String), (i64, i64, usize)>,
    instance: i64,
    gone: &std::collections::HashSet<i64>,
) -> Result<Decision, LedgerError> {
    if j.amount <= 0 {
        return Err(LedgerError::InvalidAmount("a tip is positive".into()));
    }
    let k = (j.tipper.id, j.key.clone());
    if let Some(row) = known.get(&k) {
        if row.2 != j.room_id || row.3 != j.amount {
            return Err(LedgerError::KeyReused);
        }
        return Ok(Decision::Replay(*row));
    }
    if let Some((room, amount, _)) = in_batch.get(&k) {
        if *room != j.room_id || *amount != j.amount {
            return Err(LedgerError::KeyReused);
        }
        return Ok(Decision::ReplayOfBatch);
    }
    let (model_id, status) = room_of.get(&j.room_id).ok_or(LedgerError::RoomNotFound)?;
    let model_id = *model_id;
    if model_id == j.tipper.id {
        return Err(LedgerError::SelfTip);
    }
    if status == "offline" {
        return Err(LedgerError::RoomOffline);
    }
    let amount = j.amount;
    let model_share = share(amount, split.model_bps)?;
    let from = cache.account(conn, j.tipper.id)?;
    let mut parts = vec![(from, instance, amount, "tip")];
    if model_share > 0 {
        parts.push((
            instance,
            cache.account(conn, model_id)?,
            model_share,
            "tip_model",
        ));
    }
    let mut referral_total = 0i64;
    for side in [j.tipper.id, model_id] {
        for (tier, referrer) in cache
            .chain(conn, side, split.referral_bps.len())?
            .into_iter()
            .enumerate()
        {
            let s = share(amount, split.referral_bps[tier])?;
            if s > 0 && !gone.contains(&referrer) {
                referral_total = referral_total.checked_add(s).ok_or(LedgerError::Overflow)?;
                parts.push((instance, cache.account(conn, referrer)?, s, "tip_referral"));
            }
        }
    }
    let instance_share = amount
        .checked_sub(model_share)
        .and_then(|r| r.checked_sub(referral_total))
        .filter(|r| *r >= 0)
        .ok_or(LedgerError::Overflow)?;
    Ok(Decision::New(NewTip {
        job: 0,
        model_id,
        model_share,
        referral_total,
        instance_share,
        parts,
        balance_after: 0,
    }))
}

fn new_receipt(row: TipRow, model: String, balance: i64) -> TipReceipt {
    let (id, _, room_id, amount, model_share, referral_total, instance_share, at): (
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        NaiveDateTime,
    ) = row;
    TipReceipt {
        id,
        room_id,
        model,
        amount: format_amount(amount),
        units: amount,
        model_share: format_amount(model_share),
        referral_total: format_amount(referral_total),
        instance_share: format_amount(instance_share),
        balance: format_amount(balance),
        created_at: at.and_utc(),
        amount_usd: None,
    }
}

fn replay_receipt(
    conn: &mut DbConnection,
    cache: &mut TipCache,
    row: TipRow,
    balance: i64,
) -> Result<TipReceipt, LedgerError> {
    let model = cache.name(conn, row.1)?;
    Ok(new_receipt(row, model, balance))
}

/// Subtract (`debit`) or add each amount to its account's balance; a debit only where the
/// balance covers it. Returns how many accounts changed. One statement on PostgreSQL.
fn apply_deltas(
    conn: &mut DbConnection,
    deltas: &[(i64, i64)],
    debit: bool,
) -> Result<usize, LedgerError> {
    if deltas.is_empty() {
        return Ok(0);
    }
    match conn {
        DbConnection::Postgres(c) => {
            use diesel::sql_types::{Array, BigInt};
            let ids: Vec<i64> = deltas.iter().map(|(a, _)| *a).collect();
            let amounts: Vec<i64> = deltas.iter().map(|(_, v)| *v).collect();
            let sql = if debit {
                "UPDATE ledger_accounts AS a SET balance = a.balance - d.amount \
                 FROM unnest($1::bigint[], $2::bigint[]) AS d(id, amount) \
                 WHERE a.id = d.id AND a.balance >= d.amount"
            } else {
                "UPDATE ledger_accounts AS a SET balance = a.balance + d.amount \
                 FROM unnest($1::bigint[], $2::bigint[]) AS d(id, amount) WHERE a.id = d.id"
            };
            Ok(diesel::sql_query(sql)
                .bind::<Array<BigInt>, _>(ids)
                .bind::<Array<BigInt>, _>(amounts)
                .execute(c)?)
        }
        DbConnection::Sqlite(_) => {
            let mut n = 0;
            for (account, amount) in deltas {
                let q = ledger_accounts::table.find(*account);
                n += if debit {
                    diesel::update(q.filter(ledger_accounts::balance.ge(*amount)))
                        .set(ledger_accounts::balance.eq(ledger_accounts::balance - *amount))
                        .execute(conn)?
                } else {
                    diesel::update(q)
                        .set(ledger_accounts::balance.eq(ledger_accounts::balance + *amount))
                        .execute(conn)?
                };
            }
            Ok(n)
        }
    }
}
