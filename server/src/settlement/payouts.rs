//! Payouts: any amount, at once, to the account's bound address.
//!
//! A request debits the balance in one transaction (`payout`, to the `chain` account) and
//! queues the payout. One signer task owns the hot wallet's nonces (table `signer_nonces`):
//! it signs the ERC-20 `transfer`, **stores the signed raw transaction** (and marks the payout
//! `signed`) in one transaction, and only then broadcasts it (`broadcast`). After a crash the
//! stored bytes are sent again — never a second transaction. It follows the receipt: success
//! with N confirmations → `confirmed`; reverted, or its nonce taken by another transaction →
//! `failed`, the money back on the balance with the reason. A transaction still pending after
//! `bump_after` is replaced with the same nonce and fees raised by at least 12.5%; a signed one
//! the node refuses because the network now asks a higher fee is re-priced the same way.
//!
//! A refund happens only when it is certain that nothing was paid: a reverted receipt counts
//! once it has the confirmations; "dropped" (the nonce taken by a transaction that is not
//! ours) is decided from the nonce at the confirmed depth, read *before* all the payout's
//! attempts are read and their receipts checked, and refunded only if no attempt was added
//! meanwhile (the refund is conditional on the count it checked). One process at a time signs
//! and follows (a lease in the database); the others stand by and take over when it lapses.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{to_base, wallets, Addr, Chain, Fees, SendOutcome, SettlementError, SignedTx};
use crate::accounts::User;
use crate::db::schema::{payout_attempts, payouts, signer_nonces};
use crate::db::{now, Db, DbConnection};
use crate::ledger;
use crate::states::{DepositState, PayoutState};

/// A payout as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = payouts)]
pub struct Payout {
    pub id: i64,
    pub user_id: i64,
    pub to_address: String,
    pub units: i64,
    pub fee_units: i64,
    pub value: String,
    pub status: String,
    pub nonce: Option<i64>,
    pub tx_hash: Option<String>,
    pub block_number: Option<i64>,
    pub reason: Option<String>,
    pub idempotency_key: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub broadcast_at: Option<NaiveDateTime>,
}

pub enum Requested {
    Created(Payout),
    Replayed(Payout),
}

/// Ask for a payout of `units` (plus `fee_units` when the instance deducts the gas fee) to
/// the account's bound address, in the caller's transaction. The same key counts once.
pub fn request(
    conn: &mut DbConnection,
    user: &User,
    units: i64,
    fee_units: i64,
    decimals: u8,
    key: &str,
) -> Result<Requested, SettlementError> {
    if units <= 0 {
        return Err(SettlementError::Invalid("a payout is positive".into()));
    }
    let existing: Option<Payout> = payouts::table
        .filter(payouts::user_id.eq(user.id))
        .filter(payouts::idempotency_key.eq(key))
        .select(Payout::as_select())
        .first(conn)
        .optional()?;
    if let Some(p) = existing {
        if p.units != units {
            return Err(SettlementError::KeyReused);
        }
        return Ok(Requested::Replayed(p));
    }
    let to = wallets::bound_address(conn, user.id)?.ok_or(SettlementError::NoWallet)?;
    let value = to_base(units, decimals)?;
    let t = now();
    // In a savepoint: when a concurrent request with the same key committed first (PostgreSQL),
    // the insert fails alone and that payout is the answer — the same for every repeat.
    let inserted = {
        use diesel::Connection;
        conn.transaction(|c| {
            diesel::insert_into(payouts::table)
                .values((
                    payouts::user_id.eq(user.id),
                    payouts::to_address.eq(to.to_string()),
                    payouts::units.eq(units),
                    payouts::fee_units.eq(fee_units),
                    payouts::value.eq(value.to_string()),
                    payouts::status.eq(PayoutState::Queued.as_str()),
                    payouts::idempotency_key.eq(key),
                    payouts::created_at.eq(t),
                    payouts::updated_at.eq(t),
                ))
                .returning(payouts::id)
                .get_result::<i64>(c)
        })
    };
    let id = match inserted {
        Ok(id) => id,
        Err(e) if crate::db::is_unique_violation(&e) => {
            let p = payouts::table
                .filter(payouts::user_id.eq(user.id))
                .filter(payouts::idempotency_key.eq(key))
                .select(Payout::as_select())
                .first(conn)?;
            if p.units != units {
                return Err(SettlementError::KeyReused);
            }
            return Ok(Requested::Replayed(p));
        }
        Err(e) => return Err(e.into()),
    };
    let reference = format!("payout:{id}");
    let account = ledger::account_of(conn, user.id)?;
    let chain = ledger::system_account(conn, "chain")?;
    let total = units
        .checked_add(fee_units)
        .ok_or(ledger::LedgerError::Overflow)?;
    // One conditional debit decides "enough or not" for amount and fee together.
    let instance = ledger::system_account(conn, "instance")?;
    ledger::transfer(conn, account, chain, total, "payout", &reference, t)?;
    if fee_units > 0 {
        ledger::transfer(
            conn,
            chain,
            instance,
            fee_units,
            "payout_fee",
            &reference,
            t,
        )?;
    }
    let p = payouts::table
        .find(id)
        .select(Payout::as_select())
        .first(conn)?;
    Ok(Requested::Created(p))
}

pub fn list(conn: &mut DbConnection, user_id: i64) -> Result<Vec<Payout>, SettlementError> {
    Ok(payouts::table
        .filter(payouts::user_id.eq(user_id))
        .order(payouts::id.desc())
        .limit(50)
        .select(Payout::as_select())
        .load(conn)?)
}

pub fn get(conn: &mut DbConnection, id: i64) -> Result<Payout, SettlementError> {
    payouts::table
        .find(id)
        .select(Payout::as_select())
        .first(conn)
        .optional()?
        .ok_or(SettlementError::PayoutNotFound)
}

/// How the signer behaves.
#[derive(Debug, Clone)]
pub struct PayoutConfig {
    pub decimals: u8,
    pub confirmations: u64,
    pub gas_limit: u64,
    /// A transaction pending this long gets a replacement with higher fees.
    pub bump_after: Duration,
    pub poll: Duration,
    /// Test hook: stop (hang) right after a payout is signed and stored, before broadcasting,
    /// so a test can kill the process there. Off in production.
    pub pause_after_sign: bool,
    /// How long one process holds the signer's lease; zero: no lease, every process signs and
    /// follows (the refund rules still hold; for tests of those rules).
    pub lease: Duration,
}

/// The lease that makes one process the payout signer.
pub const SIGNER_LEASE: &str = "payout_signer";

/// The signer task: owns the nonces, signs, stores, broadcasts, follows, bumps, refunds.
pub struct Signer<C: Chain> {
    chain: Arc<C>,
    db: Db,
    cfg: PayoutConfig,
    wake: Arc<tokio::sync::Notify>,
    health: Arc<super::health::Health>,
    /// This process's name in the lease table.
    holder: String,
}

fn fail(conn: &mut DbConnection, p: &Payout, reason: &str) -> Result<(), SettlementError> {
    let t = now();
    let done = diesel::update(
        payouts::table
            .find(p.id)
            .filter(payouts::status.ne(PayoutState::Failed.as_str()))
            .filter(payouts::status.ne(PayoutState::Confirmed.as_str())),
    )
    .set((
        payouts::status.eq(PayoutState::Failed.as_str()),
        payouts::reason.eq(Some(reason)),
        payouts::updated_at.eq(t),
    ))
    .execute(conn)?;
    if done == 0 {
        return Ok(());
    }
    let reference = format!("payout:{}", p.id);
    let account = ledger::account_of(conn, p.user_id)?;
    let chain = ledger::system_account(conn, "chain")?;
    ledger::transfer(
        conn,
        chain,
        account,
        p.units,
        "payout_refund",
        &reference,
        t,
    )?;
    if p.fee_units > 0 {
        let instance = ledger::system_account(conn, "instance")?;
        ledger::transfer(
            conn,
            instance,
            account,
            p.fee_units,
            "payout_fee_refund",
            &reference,
            t,
        )?;
    }
    tracing::warn!(payout = p.id, reason, "payout failed; refunded");
    Ok(())
}

impl Payout {
    /// Where it goes and how many token base units.
    fn transfer(&self) -> Result<(Addr, u128), SettlementError> {
        let value = self
            .value
            .parse()
            .map_err(|_| SettlementError::Invalid(format!("payout {}: stored value", self.id)))?;
        Ok((self.to_address.parse()?, value))
    }
}

/// Keep a signed transaction of a payout (before it is ever sent) and make it the payout's
/// current one.
fn store_attempt(
    conn: &mut DbConnection,
    payout: i64,
    nonce: i64,
    tx: &SignedTx,
    fees: Fees,
    t: NaiveDateTime,
) -> Result<(), SettlementError> {
    let fee = |v: u128| {
        i64::try_from(v).map_err(|_| SettlementError::Invalid(format!("a fee of {v} wei per gas")))
    };
    diesel::insert_into(payout_attempts::table)
        .values((
            payout_attempts::tx_hash.eq(&tx.hash),
            payout_attempts::payout_id.eq(payout),
            payout_attempts::nonce.eq(nonce),
            payout_attempts::raw_tx.eq(hex::encode(&tx.raw)),
            payout_attempts::max_fee_per_gas.eq(fee(fees.max_fee_per_gas)?),
            payout_attempts::max_priority_fee_per_gas.eq(fee(fees.max_priority_fee_per_gas)?),
            payout_attempts::signed_at.eq(t),
        ))
        .execute(conn)?;
    diesel::update(payouts::table.find(payout))
        .set((
            payouts::nonce.eq(Some(nonce)),
            payouts::tx_hash.eq(Some(&tx.hash)),
            payouts::updated_at.eq(t),
        ))
        .execute(conn)?;
    Ok(())
}

type Attempt = (String, i64, String, i64, i64, NaiveDateTime);

fn attempts(conn: &mut DbConnection, payout: i64) -> Result<Vec<Attempt>, SettlementError> {
    Ok(payout_attempts::table
        .filter(payout_attempts::payout_id.eq(payout))
        .order(payout_attempts::signed_at.asc())
        .select((
            payout_attempts::tx_hash,
            payout_attempts::nonce,
            payout_attempts::raw_tx,
            payout_attempts::max_fee_per_gas,
            payout_attempts::max_priority_fee_per_gas,
            payout_attempts::signed_at,
        ))
        .load(conn)?)
}

fn by_status(conn: &mut DbConnection, status: PayoutState) -> Result<Vec<Payout>, SettlementError> {
    Ok(payouts::table
        .filter(payouts::status.eq(status.as_str()))
        .order(payouts::id.asc())
        .limit(200)
        .select(Payout::as_select())
        .load(conn)?)
}

impl<C: Chain> Signer<C> {
    pub fn new(
        chain: Arc<C>,
        db: Db,
        cfg: PayoutConfig,
        wake: Arc<tokio::sync::Notify>,
        health: Arc<super::health::Health>,
    ) -> Self {
        let mut b = [0u8; 8];
        let _ = getrandom::fill(&mut b);
        Signer {
            chain,
            db,
            cfg,
            wake,
            health,
            holder: format!("{}-{}", std::process::id(), hex::encode(b)),
        }
    }

    /// Take or renew the signer's lease: whether this process signs now.
    async fn lease(&self) -> Result<bool, SettlementError> {
        if self.cfg.lease.is_zero() {
            return Ok(true);
        }
        let holder = self.holder.clone();
        let ttl = chrono::Duration::from_std(self.cfg.lease)
            .unwrap_or_else(|_| chrono::Duration::seconds(30));
        self.db
            .write(move |c| {
                crate::db::take_lease(c, SIGNER_LEASE, &holder, ttl).map_err(SettlementError::from)
            })
            .await
    }

    /// Make sure the nonce table has the treasury's row and is not behind the chain.
    async fn init_nonce(&self) -> Result<(), SettlementError> {
        let on_chain = self.chain.chain_nonce().await? as i64;
        let address = self.chain.treasury().to_string();
        self.db
            .write(move |c| {
                let stored: Option<i64> = signer_nonces::table
                    .find(&address)
                    .select(signer_nonces::next_nonce)
                    .first(c)
                    .optional()?;
                match stored {
                    None => {
                        diesel::insert_into(signer_nonces::table)
                            .values((
                                signer_nonces::address.eq(&address),
                                signer_nonces::next_nonce.eq(on_chain),
                            ))
                            .execute(c)?;
                    }
                    Some(n) if n < on_chain => {
                        tracing::warn!(
                            stored = n,
                            on_chain,
                            "the hot wallet was used outside Live Stars; nonces move on"
                        );
                        diesel::update(signer_nonces::table.find(&address))
                            .set(signer_nonces::next_nonce.eq(on_chain))
                            .execute(c)?;
                    }
                    Some(_) => {}
                }
                Ok::<_, SettlementError>(())
            })
            .await
    }

    /// Run until the process ends: while this process holds the lease, a round every `poll`
    /// (or when woken); otherwise stand by. Nothing moves while settlement is halted.
    pub async fn run(self) {
        let mut held_until: Option<std::time::Instant> = None;
        loop {
            let pause = tokio::time::timeout(self.cfg.poll, self.wake.notified());
            if self.health.halted().is_some() {
                let _ = pause.await;
                continue;
            }
            let renew = held_until.is_none_or(|t| {
                t.saturating_duration_since(std::time::Instant::now()) < self.cfg.lease / 2
            });
            if renew {
                match self.lease().await {
                    Ok(true) => {
                        if held_until.is_none() {
                            tracing::info!(holder = %self.holder, "this process signs payouts");
                            // Another process may have signed since: nonces from the database.
                            if let Err(e) = self.init_nonce().await {
                                tracing::warn!(error = %e, "payout signer cannot read the hot wallet's nonce; retrying");
                                self.health.failed(&e.to_string());
                                let _ = pause.await;
                                continue;
                            }
                        }
                        held_until = Some(std::time::Instant::now() + self.cfg.lease);
                    }
                    Ok(false) => {
                        // Another process signs; stand by.
                        held_until = None;
                        let _ = pause.await;
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "payout signer cannot take its lease; retrying");
                        held_until = None;
                        let _ = pause.await;
                        continue;
                    }
                }
            }
            if let Err(e) = self.tick().await {
                if let SettlementError::Chain(c) = &e {
                    self.health.failed(&c.to_string());
                }
                tracing::warn!(error = %e, "payout signer step failed; retrying");
            }
            let _ = pause.await;
        }
    }

    /// One round: send what was signed but not sent, sign and send what is queued, follow
    /// what is out.
    pub async fn tick(&self) -> Result<(), SettlementError> {
        for p in self.db.read(|c| by_status(c, PayoutState::Signed)).await? {
            self.broadcast_latest(&p).await?;
        }
        let queued = self.db.read(|c| by_status(c, PayoutState::Queued)).await?;
        if !queued.is_empty() {
            let fees = self.chain.suggested_fees().await?;
            for p in queued {
                let signed = self.sign(&p, fees).await?;
                if self.cfg.pause_after_sign {
                    tracing::warn!(payout = p.id, "pause_after_sign: stopping before broadcast");
                    std::future::pending::<()>().await;
                }
                if let Some(p) = signed {
                    self.broadcast_latest(&p).await?;
                }
            }
        }
        let out = self
            .db
            .read(|c| by_status(c, PayoutState::Broadcast))
            .await?;
        if out.is_empty() {
            return Ok(());
        }
        // The head, then the hot wallet's nonce at the confirmed depth — read BEFORE any
        // payout's attempts are (see `follow`).
        let head = self.chain.head().await?;
        let settled_block = (head + 1).saturating_sub(self.cfg.confirmations.max(1));
        let settled_nonce = self.chain.nonce_at(settled_block).await?;
        for p in out {
            self.follow(&p, head, settled_nonce).await?;
        }
        Ok(())
    }

    /// Take the next nonce, sign, store the raw transaction and mark the payout signed — one
    /// transaction, so a nonce is never used twice nor lost.
    async fn sign(&self, p: &Payout, fees: Fees) -> Result<Option<Payout>, SettlementError> {
        let chain = self.chain.clone();
        let (to, value) = p.transfer()?;
        let gas = self.cfg.gas_limit;
        let address = chain.treasury().to_string();
        let id = p.id;
        self.db
            .write(move |c| {
                let t = now();
                // Claim it: only one signer (of however many processes) moves it from queued.
                let claimed = diesel::update(
                    payouts::table
                        .find(id)
                        .filter(payouts::status.eq(PayoutState::Queued.as_str())),
                )
                .set((
                    payouts::status.eq(PayoutState::Signed.as_str()),
                    payouts::updated_at.eq(t),
                ))
                .execute(c)?;
                if claimed == 0 {
                    return Ok(None);
                }
                // Take the nonce in one statement: a concurrent signer waits for this row.
                let next: i64 = diesel::update(signer_nonces::table.find(&address))
                    .set(signer_nonces::next_nonce.eq(signer_nonces::next_nonce + 1))
                    .returning(signer_nonces::next_nonce)
                    .get_result(c)?;
                let nonce = next - 1;
                let tx = chain.sign_transfer(to, value, nonce as u64, gas, fees)?;
                store_attempt(c, id, nonce, &tx, fees, t)?;
                Ok::<_, SettlementError>(Some(get(c, id)?))
            })
            .await
    }

    /// Send the payout's latest signed bytes (again) and mark it broadcast when the node has them.
    async fn broadcast_latest(&self, p: &Payout) -> Result<(), SettlementError> {
        let id = p.id;
        let all = self.db.read(move |c| attempts(c, id)).await?;
        let Some((hash, _, raw, ..)) = all.last().cloned() else {
            return Ok(());
        };
        let bytes =
            hex::decode(&raw).map_err(|_| SettlementError::Invalid("stored raw tx".into()))?;
        let outcome = self.chain.send_raw(&bytes).await?;
        let t = now();
        match outcome {
            SendOutcome::Accepted
            | SendOutcome::AlreadyKnown
            | SendOutcome::NonceTooLow
            | SendOutcome::Underpriced => {
                // NonceTooLow: mined already (this or an earlier attempt) or taken by another
                // transaction; following the receipts tells which.
                let h = hash.clone();
                self.db
                    .write(move |c| {
                        diesel::update(
                            payout_attempts::table
                                .find(&h)
                                .filter(payout_attempts::broadcast_at.is_null()),
                        )
                        .set(payout_attempts::broadcast_at.eq(Some(t)))
                        .execute(c)?;
                        diesel::update(
                            payouts::table
                                .find(id)
                                .filter(payouts::status.eq(PayoutState::Signed.as_str())),
                        )
                        .set((
                            payouts::status.eq(PayoutState::Broadcast.as_str()),
                            payouts::broadcast_at.eq(Some(t)),
                            payouts::reason.eq(None::<String>),
                            payouts::updated_at.eq(t),
                        ))
                        .execute(c)?;
                        Ok::<_, SettlementError>(())
                    })
                    .await?;
            }
            SendOutcome::Rejected(why) => {
                // The node refused the bytes. When the network now asks a higher fee than they
                // offer (the base fee rose after signing), they are re-priced: same nonce,
                // stored before sent, broadcast next round.
                let latest = all.last().cloned();
                if let Some(latest) = latest {
                    let asked = self.chain.suggested_fees().await?;
                    if asked.max_fee_per_gas > latest.3 as u128 {
                        return self.bump(p, &latest).await;
                    }
                }
                // Otherwise (no gas money in the hot wallet, say) the nonce is ours and unused:
                // the same bytes are sent again later; the reason is shown.
                let reason = format!("waiting to broadcast: the node said {why:?}");
                tracing::warn!(payout = id, %reason);
                self.db
                    .write(move |c| {
                        diesel::update(payouts::table.find(id))
                            .set((payouts::reason.eq(Some(reason)), payouts::updated_at.eq(t)))
                            .execute(c)?;
                        Ok::<_, SettlementError>(())
                    })
                    .await?;
            }
        }
        Ok(())
    }

    /// Follow a broadcast payout: confirmed, failed (reverted or nonce taken, each only once
    /// it is settled at the confirmation depth), resent when the node forgot it, or replaced
    /// with higher fees when stuck.
    ///
    /// `settled_nonce` is the treasury's nonce at the confirmed depth of `head`, read BEFORE
    /// this payout's attempts are: every attempt of ours that could have used the nonce by then
    /// was stored before it was sent, so the read below sees it (whichever process stored it).
    async fn follow(
        &self,
        p: &Payout,
        head: u64,
        settled_nonce: u64,
    ) -> Result<(), SettlementError> {
        let id = p.id;
        let confirmations = self.cfg.confirmations.max(1);
        let all = self.db.read(move |c| attempts(c, id)).await?;
        let Some(latest) = all.last().cloned() else {
            return Ok(());
        };
        let nonce = latest.1 as u64;
        for (hash, ..) in &all {
            let Some(r) = self.chain.receipt(hash).await? else {
                continue;
            };
            let seen = (head + 1).saturating_sub(r.block_number);
            if seen < confirmations {
                let reason = format!(
                    "mined in block {}: {seen} of {confirmations} confirmations",
                    r.block_number
                );
                self.note(p, reason).await?;
                return Ok(());
            }
            if !r.success {
                let p = p.clone();
                self.db
                    .write(move |c| fail(c, &p, "the transfer reverted on chain"))
                    .await?;
                return Ok(());
            }
            let (h, b, t) = (hash.clone(), r.block_number as i64, now());
            self.db
                .write(move |c| {
                    diesel::update(
                        payouts::table
                            .find(id)
                            .filter(payouts::status.eq(PayoutState::Broadcast.as_str())),
                    )
                    .set((
                        payouts::status.eq(PayoutState::Confirmed.as_str()),
                        payouts::tx_hash.eq(Some(h)),
                        payouts::block_number.eq(Some(b)),
                        payouts::reason.eq(None::<String>),
                        payouts::updated_at.eq(t),
                    ))
                    .execute(c)?;
                    Ok::<_, SettlementError>(())
                })
                .await?;
            return Ok(());
        }
        if settled_nonce > nonce {
            // The nonce is used at the confirmed depth, by none of our transactions: another
            // transaction took it, and this payout can never be mined. Refunded only if no
            // attempt was stored since the ones checked above.
            let (p, checked) = (p.clone(), all.len() as i64);
            self.db
                .write(move |c| {
                    let now_stored: i64 = payout_attempts::table
                        .filter(payout_attempts::payout_id.eq(p.id))
                        .count()
                        .get_result(c)?;
                    if now_stored != checked {
                        return Ok(());
                    }
                    fail(
                        c,
                        &p,
                        "dropped: the hot wallet's nonce was used by another transaction",
                    )
                })
                .await?;
            return Ok(());
        }
        let age = (now() - latest.5).to_std().unwrap_or_default();
        if age >= self.cfg.bump_after {
            self.bump(p, &latest).await?;
        } else if !self.chain.is_pending(&latest.0).await? {
            // The node forgot it (mempool eviction, node restart): the same bytes again.
            let bytes = hex::decode(&latest.2)
                .map_err(|_| SettlementError::Invalid("stored raw tx".into()))?;
            self.chain.send_raw(&bytes).await?;
        }
        Ok(())
    }

    /// Show `reason` on an in-flight payout (written only when it changes).
    async fn note(&self, p: &Payout, reason: String) -> Result<(), SettlementError> {
        if p.reason.as_deref() == Some(reason.as_str()) {
            return Ok(());
        }
        let id = p.id;
        self.db
            .write(move |c| {
                diesel::update(
                    payouts::table
                        .find(id)
                        .filter(payouts::status.ne(PayoutState::Confirmed.as_str()))
                        .filter(payouts::status.ne(PayoutState::Failed.as_str())),
                )
                .set((
                    payouts::reason.eq(Some(reason)),
                    payouts::updated_at.eq(now()),
                ))
                .execute(c)?;
                Ok::<_, SettlementError>(())
            })
            .await
    }

    /// Replace a stuck transaction: same nonce, fees up by at least 12.5%, stored before sent.
    async fn bump(&self, p: &Payout, latest: &Attempt) -> Result<(), SettlementError> {
        let old = Fees {
            max_fee_per_gas: latest.3 as u128,
            max_priority_fee_per_gas: latest.4 as u128,
        };
        let fees = old.bumped(self.chain.suggested_fees().await?);
        let (to, value) = p.transfer()?;
        let tx = self
            .chain
            .sign_transfer(to, value, latest.1 as u64, self.cfg.gas_limit, fees)?;
        let (id, nonce, t) = (p.id, latest.1, now());
        let stored = tx.clone();
        self.db
            .write(move |c| store_attempt(c, id, nonce, &stored, fees, t))
            .await?;
        tracing::info!(
            payout = p.id,
            nonce,
            max_fee = fees.max_fee_per_gas,
            "payout re-priced: replaced with higher fees"
        );
        let gwei = fees.max_fee_per_gas as f64 / 1e9;
        let reason = format!(
            "not mined yet: re-signed at {} UTC with a higher fee (up to {gwei:.2} gwei per gas)",
            t.format("%H:%M:%S")
        );
        let outcome = self.chain.send_raw(&tx.raw).await?;
        let reason = match outcome {
            SendOutcome::Rejected(why) => {
                tracing::warn!(payout = p.id, %why, "replacement refused by the node");
                format!("{reason}; the node refused it for now ({why}), it is sent again")
            }
            _ => reason,
        };
        let mut shown = p.clone();
        shown.reason = None;
        self.note(&shown, reason).await
    }
}

/// The treasury's expected LIVE, from the ledger's view of the chain (token base units):
/// everything that came in (credited, unattributed and dust) minus confirmed payouts, and
/// minus the payouts on their way (which may or may not be mined at the moment of reading).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Expected {
    pub deposits_in: u128,
    pub pending_deposits: u128,
    pub paid_out: u128,
    pub in_flight: u128,
}

pub fn expected(conn: &mut DbConnection) -> Result<Expected, SettlementError> {
    use crate::db::schema::chain_deposits;
    let parse = |v: &String| v.parse::<u128>().unwrap_or(0);
    let mut e = Expected::default();
    let deps: Vec<(String, String)> = chain_deposits::table
        .select((chain_deposits::value, chain_deposits::status))
        .load(conn)?;
    for (v, status) in &deps {
        if status == DepositState::Pending.as_str() {
            e.pending_deposits += parse(v);
        } else {
            e.deposits_in += parse(v);
        }
    }
    let outs: Vec<(String, String)> = payouts::table
        .filter(payouts::status.ne(PayoutState::Failed.as_str()))
        .filter(payouts::status.ne(PayoutState::Queued.as_str()))
        .select((payouts::value, payouts::status))
        .load(conn)?;
    for (v, status) in &outs {
        if status == PayoutState::Confirmed.as_str() {
            e.paid_out += parse(v);
        } else {
            e.in_flight += parse(v);
        }
    }
    Ok(e)
}
