//! The double-entry ledger: accounts, transfers, deposits credited once, tips split at once
//! between the model, up to three referral tiers on each side, and the instance.
//!
//! Money is `i64` of one **unit = 1e-8 LIVE** ([`UNITS_PER_LIVE`]), with checked arithmetic.
//! Every change of a balance is a transfer between two accounts with a kind and a reference,
//! so the sum of all balances is zero at all times: the `chain` account holds the negative of
//! what came in from the blockchain. A user's balance never goes below zero: the debit is a
//! conditional update inside the transaction (and a CHECK constraint backs it).

pub mod batch;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use livestars_api::{LedgerEntry, TipReceipt};

use crate::accounts::User;
use crate::db::schema::{deposits, ledger_accounts, ledger_transfers, users};
use crate::db::{insert_or_skip, now, DbConnection, DbError};

pub use crate::money::{format_amount, UNITS_PER_LIVE};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("{0}")]
    InvalidAmount(String),
    #[error("{0}")]
    Invalid(&'static str),
    #[error("the balance is too low for this amount")]
    InsufficientBalance,
    #[error("no such room")]
    RoomNotFound,
    #[error("the room is not showing: tips go to a running show")]
    RoomOffline,
    #[error("a model cannot tip herself")]
    SelfTip,
    #[error("this idempotency key was used for a different tip")]
    KeyReused,
    #[error("an amount overflowed")]
    Overflow,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for LedgerError {
    fn from(e: diesel::result::Error) -> Self {
        LedgerError::Db(DbError::Query(e))
    }
}

/// Parse a decimal LIVE amount ([`crate::money::parse_amount`]) as the ledger refuses it.
pub fn parse_amount(s: &str) -> Result<i64, LedgerError> {
    crate::money::parse_amount(s).map_err(|e| LedgerError::InvalidAmount(e.0))
}

/// How a tip is split, from the instance's settings (validated at start: model 70–80%).
#[derive(Debug, Clone)]
pub struct Split {
    pub model_bps: u32,
    /// Tier 1 to 3, applied to the tipper's and to the model's referrer chains alike.
    pub referral_bps: Vec<u32>,
}

/// `amount × bps / 10000`, rounded down; the instance takes every remainder.
fn share(amount: i64, bps: u32) -> Result<i64, LedgerError> {
    let v = i128::from(amount) * i128::from(bps) / 10_000;
    i64::try_from(v).map_err(|_| LedgerError::Overflow)
}

/// The ledger account of a system party.
pub fn system_account(conn: &mut DbConnection, kind: &str) -> Result<i64, LedgerError> {
    Ok(ledger_accounts::table
        .filter(ledger_accounts::kind.eq(kind))
        .filter(ledger_accounts::user_id.is_null())
        .select(ledger_accounts::id)
        .first(conn)?)
}

/// A user's ledger account, opened on first use.
pub fn account_of(conn: &mut DbConnection, user_id: i64) -> Result<i64, LedgerError> {
    let find = |conn: &mut DbConnection| {
        ledger_accounts::table
            .filter(ledger_accounts::user_id.eq(user_id))
            .select(ledger_accounts::id)
            .first::<i64>(conn)
            .optional()
    };
    if let Some(id) = find(conn)? {
        return Ok(id);
    }
    insert_or_skip(conn, |c| {
        diesel::insert_into(ledger_accounts::table)
            .values((
                ledger_accounts::user_id.eq(Some(user_id)),
                ledger_accounts::kind.eq("user"),
                ledger_accounts::balance.eq(0i64),
                ledger_accounts::created_at.eq(now()),
            ))
            .execute(c)
    })?;
    find(conn)?.ok_or(LedgerError::Invalid("the account could not be opened"))
}

/// Lock ledger accounts' rows in id order (PostgreSQL; on SQLite writers are serialised
/// anyway). Every writer that changes more than one balance takes its locks through here first,
/// so two transactions never wait for each other's rows in opposite orders (no deadlocks).
pub fn lock_accounts(conn: &mut DbConnection, ids: &[i64]) -> Result<(), LedgerError> {
    if let DbConnection::Postgres(c) = conn {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        diesel::sql_query(
            "SELECT id FROM ledger_accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        )
        .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(ids)
        .execute(c)?;
    }
    Ok(())
}

/// Move `amount` from `debit` to `credit`. A user account is never taken below zero: the
/// debit only happens when the balance covers it, else [`LedgerError::InsufficientBalance`].
pub fn transfer(
    conn: &mut DbConnection,
    debit: i64,
    credit: i64,
    amount: i64,
    kind: &str,
    reference: &str,
    at: NaiveDateTime,
) -> Result<(), LedgerError> {
    if amount <= 0 {
        return Err(LedgerError::InvalidAmount(
            "a transfer moves a positive amount".into(),
        ));
    }
    lock_accounts(conn, &[debit, credit])?;
    let debited = diesel::update(
        ledger_accounts::table.find(debit).filter(
            ledger_accounts::kind
                .ne("user")
                .or(ledger_accounts::balance.ge(amount)),
        ),
    )
    .set(ledger_accounts::balance.eq(ledger_accounts::balance - amount))
    .execute(conn)?;
    if debited == 0 {
        return Err(LedgerError::InsufficientBalance);
    }
    diesel::update(ledger_accounts::table.find(credit))
        .set(ledger_accounts::balance.eq(ledger_accounts::balance + amount))
        .execute(conn)?;
    diesel::insert_into(ledger_transfers::table)
        .values((
            ledger_transfers::debit_account.eq(debit),
            ledger_transfers::credit_account.eq(credit),
            ledger_transfers::amount.eq(amount),
            ledger_transfers::kind.eq(kind),
            ledger_transfers::reference.eq(reference),
            ledger_transfers::created_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Credit a confirmed deposit to `user_id`, exactly once per transfer: (transaction hash,
/// `position`). For chain deposits the position is the transfer's place among its transaction's
/// Transfer logs to the treasury — it stays the same when a reorganisation re-mines the
/// transaction elsewhere (the block's log index would not; rows credited before 2026-12-07 hold
/// the block's log index: their chain deposits cannot be credited again either).
/// Returns whether it was credited now (false: it already was).
pub fn credit_deposit(
    conn: &mut DbConnection,
    user_id: i64,
    tx_hash: &str,
    position: i64,
    amount: i64,
) -> Result<bool, LedgerError> {
    if amount <= 0 {
        return Err(LedgerError::InvalidAmount("a deposit is positive".into()));
    }
    let t = now();
    let fresh = insert_or_skip(conn, |c| {
        diesel::insert_into(deposits::table)
            .values((
                deposits::tx_hash.eq(tx_hash),
                deposits::log_index.eq(position),
                deposits::user_id.eq(user_id),
                deposits::amount.eq(amount),
                deposits::created_at.eq(t),
            ))
            .execute(c)
    })?;
    if !fresh {
        return Ok(false);
    }
    let chain = system_account(conn, "chain")?;
    let account = account_of(conn, user_id)?;
    transfer(
        conn,
        chain,
        account,
        amount,
        "deposit",
        &format!("{tx_hash}:{position}"),
        t,
    )?;
    Ok(true)
}

/// Referrers of `user_id`, nearest first, at most `depth` (no loops: a chain stops at a repeat).
pub fn referral_chain(
    conn: &mut DbConnection,
    user_id: i64,
    depth: usize,
) -> Result<Vec<i64>, LedgerError> {
    let mut chain = Vec::new();
    let mut current = user_id;
    while chain.len() < depth {
        let next: Option<i64> = users::table
            .find(current)
            .select(users::referred_by)
            .first::<Option<i64>>(conn)
            .optional()?
            .flatten();
        match next {
            Some(r) if r != user_id && !chain.contains(&r) => {
                chain.push(r);
                current = r;
            }
            _ => break,
        }
    }
    Ok(chain)
}

pub fn balance(conn: &mut DbConnection, user_id: i64) -> Result<i64, LedgerError> {
    Ok(ledger_accounts::table
        .filter(ledger_accounts::user_id.eq(user_id))
        .select(ledger_accounts::balance)
        .first::<i64>(conn)
        .optional()?
        .unwrap_or(0))
}

/// The latest transfers touching `user_id`'s account, newest first.
pub fn history(
    conn: &mut DbConnection,
    user_id: i64,
    limit: i64,
) -> Result<Vec<LedgerEntry>, LedgerError> {
    let Some(account) = ledger_accounts::table
        .filter(ledger_accounts::user_id.eq(user_id))
        .select(ledger_accounts::id)
        .first::<i64>(conn)
        .optional()?
    else {
        return Ok(vec![]);
    };
    let rows: Vec<(i64, i64, i64, i64, String, String, NaiveDateTime)> = ledger_transfers::table
        .filter(
            ledger_transfers::debit_account
                .eq(account)
                .or(ledger_transfers::credit_account.eq(account)),
        )
        .order(ledger_transfers::id.desc())
        .limit(limit)
        .select((
            ledger_transfers::id,
            ledger_transfers::debit_account,
            ledger_transfers::credit_account,
            ledger_transfers::amount,
            ledger_transfers::kind,
            ledger_transfers::reference,
            ledger_transfers::created_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, debit, _, amount, kind, reference, at)| {
            let signed = if debit == account { -amount } else { amount };
            LedgerEntry {
                id,
                kind,
                reference,
                units: signed,
                amount: format_amount(signed),
                at: at.and_utc(),
                amount_usd: None,
            }
        })
        .collect())
}

/// One day of a model's earnings, in units: tips received and referral income.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayEarnings {
    pub day: chrono::NaiveDate,
    pub tips: i64,
    pub referrals: i64,
}

/// `user_id`'s earnings on each of the `days` days up to `today` (oldest first, days without
/// any included as zero).
pub fn earnings_by_day(
    conn: &mut DbConnection,
    user_id: i64,
    today: chrono::NaiveDate,
    days: u32,
) -> Result<Vec<DayEarnings>, LedgerError> {
    let first = today - chrono::Duration::days(i64::from(days.max(1)) - 1);
    let mut out: Vec<DayEarnings> = (0..days.max(1))
        .map(|i| DayEarnings {
            day: first + chrono::Duration::days(i64::from(i)),
            tips: 0,
            referrals: 0,
        })
        .collect();
    let Some(account) = ledger_accounts::table
        .filter(ledger_accounts::user_id.eq(user_id))
        .select(ledger_accounts::id)
        .first::<i64>(conn)
        .optional()?
    else {
        return Ok(out);
    };
    let start = first.and_hms_opt(0, 0, 0).unwrap_or_default();
    let rows: Vec<(i64, String, NaiveDateTime)> = ledger_transfers::table
        .filter(ledger_transfers::credit_account.eq(account))
        .filter(ledger_transfers::kind.eq_any(["tip_model", "tip_referral"]))
        .filter(ledger_transfers::created_at.ge(start))
        .select((
            ledger_transfers::amount,
            ledger_transfers::kind,
            ledger_transfers::created_at,
        ))
        .load(conn)?;
    for (amount, kind, at) in rows {
        let Some(d) = out.iter_mut().find(|d| d.day == at.date()) else {
            continue;
        };
        let slot = if kind == "tip_model" {
            &mut d.tips
        } else {
            &mut d.referrals
        };
        *slot = slot.saturating_add(amount);
    }
    Ok(out)
}

type TipRow = (i64, i64, i64, i64, i64, i64, i64, NaiveDateTime);

/// Whether a tip request was new or a retry of one already made.
pub enum Tipped {
    Created(TipReceipt),
    Replayed(TipReceipt),
}

/// Credits owed to accounts by the tips of one batch, applied once per account at the end (in
/// account order, so concurrent writers take row locks in one order). Debits are not credits:
/// each tipper's is one conditional update that only happens if her balance covers it.
#[derive(Debug, Default)]
pub struct Credits(pub(crate) std::collections::BTreeMap<i64, i64>);

impl Credits {
    fn add(&mut self, account: i64, amount: i64) -> Result<(), LedgerError> {
        let e = self.0.entry(account).or_default();
        *e = e.checked_add(amount).ok_or(LedgerError::Overflow)?;
        Ok(())
    }
}

/// Facts a tip looks up that do not change once they exist (an account's ledger account id,
/// its referral chain, a username), remembered by the tip batcher between transactions. New
/// ledger accounts stay `pending` until their transaction commits.
#[derive(Debug, Default)]
pub struct TipCache {
    accounts: std::collections::HashMap<i64, i64>,
    pending: std::collections::HashMap<i64, i64>,
    chains: std::collections::HashMap<i64, Vec<i64>>,
    names: std::collections::HashMap<i64, String>,
    instance: Option<i64>,
}

impl TipCache {
    pub fn committed(&mut self) {
        self.accounts.extend(self.pending.drain());
    }

    pub fn rolled_back(&mut self) {
        self.pending.clear();
    }

    fn account(&mut self, conn: &mut DbConnection, user: i64) -> Result<i64, LedgerError> {
        if let Some(a) = self.accounts.get(&user).or(self.pending.get(&user)) {
            return Ok(*a);
        }
        let a = account_of(conn, user)?;
        self.pending.insert(user, a);
        Ok(a)
    }

    fn chain(
        &mut self,
        conn: &mut DbConnection,
        user: i64,
        depth: usize,
    ) -> Result<Vec<i64>, LedgerError> {
        if let Some(c) = self.chains.get(&user) {
            return Ok(c.clone());
        }
        let c = referral_chain(conn, user, depth)?;
        self.chains.insert(user, c.clone());
        Ok(c)
    }

    fn name(&mut self, conn: &mut DbConnection, user: i64) -> Result<String, LedgerError> {
        if let Some(n) = self.names.get(&user) {
            return Ok(n.clone());
        }
        let n: String = users::table
            .find(user)
            .select(users::username)
            .first(conn)?;
        self.names.insert(user, n.clone());
        Ok(n)
    }

    fn instance(&mut self, conn: &mut DbConnection) -> Result<i64, LedgerError> {
        if let Some(i) = self.instance {
            return Ok(i);
        }
        let i = system_account(conn, "instance")?;
        self.instance = Some(i);
        Ok(i)
    }
}

/// Tip the model of `room_id`, in ONE transaction (the caller's): the tipper is debited; the
/// model credited her share; each referrer up to three tiers up the tipper's and the model's
/// chains credited its tier's share (from the instance's part, never the model's); the
/// instance credited the rest. The same `key` from the same tipper counts once: a retry gets
/// the first receipt; the key with another amount or room is refused.
pub fn tip(
    conn: &mut DbConnection,
    split: &Split,
    tipper: &User,
    room_id: i64,
    amount: i64,
    key: &str,
) -> Result<Tipped, LedgerError> {
    let job = batch::TipJob {
        tipper: tipper.clone(),
        room_id,
        amount,
        key: key.to_string(),
    };
    batch::tip_batch(conn, split, &[&job], &mut TipCache::default())?
        .pop()
        .ok_or(LedgerError::Invalid("no answer for the tip"))?
}

/// What `livestars ledger check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub accounts: i64,
    pub transfers: i64,
    pub sum_of_balances: i128,
    pub negative_user_balances: Vec<i64>,
    /// Accounts whose balance differs from the sum of their transfers: (account, balance, sum).
    pub mismatched: Vec<(i64, i64, i128)>,
    /// The `chain` account must hold minus (credited deposits − payouts not failed):
    /// (its balance, that figure) when they differ.
    pub chain_mismatch: Option<(i64, i128)>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.sum_of_balances == 0
            && self.negative_user_balances.is_empty()
            && self.mismatched.is_empty()
            && self.chain_mismatch.is_none()
    }
}

/// Verify the ledger's invariants: balances sum to zero, no user balance below zero, and every
/// balance equals the transfers into it minus the transfers out of it.
pub fn check(conn: &mut DbConnection) -> Result<CheckReport, LedgerError> {
    // One snapshot for both reads while tips keep coming (the caller's transaction).
    if matches!(conn, DbConnection::Postgres(_)) {
        diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(conn)?;
    }
    let accounts: Vec<(i64, String, i64)> = ledger_accounts::table
        .select((
            ledger_accounts::id,
            ledger_accounts::kind,
            ledger_accounts::balance,
        ))
        .load(conn)?;
    let transfers: Vec<(i64, i64, i64)> = ledger_transfers::table
        .select((
            ledger_transfers::debit_account,
            ledger_transfers::credit_account,
            ledger_transfers::amount,
        ))
        .load(conn)?;
    let mut sums: std::collections::HashMap<i64, i128> = std::collections::HashMap::new();
    for (debit, credit, amount) in &transfers {
        *sums.entry(*debit).or_default() -= i128::from(*amount);
        *sums.entry(*credit).or_default() += i128::from(*amount);
    }
    let mut report = CheckReport {
        accounts: accounts.len() as i64,
        transfers: transfers.len() as i64,
        ..CheckReport::default()
    };
    let deposited: Vec<i64> = deposits::table.select(deposits::amount).load(conn)?;
    let paid: Vec<i64> = crate::db::schema::payouts::table
        .filter(crate::db::schema::payouts::status.ne(crate::states::PayoutState::Failed.as_str()))
        .select(crate::db::schema::payouts::units)
        .load(conn)?;
    let expected_chain = paid.iter().map(|v| i128::from(*v)).sum::<i128>()
        - deposited.iter().map(|v| i128::from(*v)).sum::<i128>();
    for (id, kind, balance) in accounts {
        if kind == "chain" && i128::from(balance) != expected_chain {
            report.chain_mismatch = Some((balance, expected_chain));
        }
        report.sum_of_balances += i128::from(balance);
        if kind == "user" && balance < 0 {
            report.negative_user_balances.push(id);
        }
        let sum = sums.get(&id).copied().unwrap_or(0);
        if sum != i128::from(balance) {
            report.mismatched.push((id, balance, sum));
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_exactly_and_refuse_the_rest() {
        assert_eq!(parse_amount("1").unwrap(), 100_000_000);
        assert_eq!(parse_amount("0.5").unwrap(), 50_000_000);
        assert_eq!(parse_amount(".25").unwrap(), 25_000_000);
        assert_eq!(parse_amount("0.00000001").unwrap(), 1);
        assert_eq!(parse_amount("92233720368.54775807").unwrap(), i64::MAX);
        for bad in [
            "",
            ".",
            "0",
            "0.0",
            "-1",
            "+1",
            "1e3",
            "0.000000001",
            "1,5",
            "1.",
            "12.",
            "abc",
            " ",
            "92233720368.54775808",
            "99999999999999999999",
        ] {
            assert!(parse_amount(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn amounts_format_without_trailing_zeros() {
        assert_eq!(format_amount(150_000_000), "1.5");
        assert_eq!(format_amount(1), "0.00000001");
        assert_eq!(format_amount(-250_000_000), "-2.5");
        assert_eq!(format_amount(0), "0");
        for u in [1, 7, 99_999_999, 100_000_000, 123_456_789_012, i64::MAX] {
            assert_eq!(parse_amount(&format_amount(u)).unwrap(), u);
        }
    }

    #[test]
    fn shares_round_down_and_never_overflow() {
        assert_eq!(share(3, 7500).unwrap(), 2);
        assert_eq!(share(i64::MAX, 10_000).unwrap(), i64::MAX);
        assert_eq!(share(1, 200).unwrap(), 0);
    }
}
