//! The chain watcher: scans the token's `Transfer` logs into the treasury in bounded block
//! ranges from a persisted cursor, stores each scanned block's hash and parent hash, notices a
//! reorganisation (a stored hash no longer canonical) and rescans from the fork, and credits a
//! deposit once it has N confirmations — exactly once per (transaction hash, log index).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{to_units, BlockRef, Chain, SettlementError};
use crate::db::schema::{chain_blocks, chain_deposits, wallets};
use crate::db::{insert_or_skip, now, Db, DbConnection};
use crate::ledger;

#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// A deposit is credited when its block has this many confirmations (1 = mined).
    pub confirmations: u64,
    /// Most blocks scanned per step.
    pub batch_blocks: u64,
    /// Where the first scan starts; `None`: at the head when the watcher first runs.
    pub start_block: Option<u64>,
    /// The token's decimals (read from the contract at start).
    pub decimals: u8,
}

/// What one step did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Step {
    pub head: u64,
    pub scanned_to: Option<u64>,
    /// The block the chain forked at, when a reorganisation was found.
    pub reorg_from: Option<u64>,
    pub seen: usize,
    pub credited: usize,
    pub unattributed: usize,
}

fn last_scanned(conn: &mut DbConnection) -> Result<Option<BlockRef>, SettlementError> {
    let row: Option<(i64, String, String)> = chain_blocks::table
        .order(chain_blocks::number.desc())
        .select((
            chain_blocks::number,
            chain_blocks::hash,
            chain_blocks::parent_hash,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(n, hash, parent)| BlockRef {
        number: n as u64,
        hash,
        parent,
    }))
}

/// The last block the watcher scanned.
pub fn scanned_to(conn: &mut DbConnection) -> Result<Option<u64>, SettlementError> {
    Ok(last_scanned(conn)?.map(|b| b.number))
}

fn stored_hash(conn: &mut DbConnection, n: u64) -> Result<Option<String>, SettlementError> {
    Ok(chain_blocks::table
        .find(n as i64)
        .select(chain_blocks::hash)
        .first(conn)
        .optional()?)
}

/// Forget everything scanned above `fork` (the last block both chains share). Deposits not yet
/// credited there vanish with their blocks; credited ones (a reorg deeper than the
/// confirmations) are kept and reported.
fn rewind(conn: &mut DbConnection, fork: u64) -> Result<usize, SettlementError> {
    let above = fork as i64;
    diesel::delete(chain_blocks::table.filter(chain_blocks::number.gt(above))).execute(conn)?;
    let dropped = diesel::delete(
        chain_deposits::table
            .filter(chain_deposits::block_number.gt(above))
            .filter(chain_deposits::status.eq("pending")),
    )
    .execute(conn)?;
    let deep: i64 = chain_deposits::table
        .filter(chain_deposits::block_number.gt(above))
        .count()
        .get_result(conn)?;
    if deep > 0 {
        tracing::error!(
            fork,
            deep,
            "a reorganisation removed blocks with credited deposits: raise `chain_confirmations`; `livestars ledger check` shows the difference"
        );
    }
    Ok(dropped)
}

/// Find the fork point below a mismatching stored block and rewind to it.
async fn handle_reorg<C: Chain>(chain: &C, db: &Db, mismatch: u64) -> Result<u64, SettlementError> {
    let mut n = mismatch;
    loop {
        if n == 0 {
            break;
        }
        n -= 1;
        let stored = {
            let n2 = n;
            db.read(move |c| stored_hash(c, n2)).await?
        };
        let Some(stored) = stored else {
            // Older than what we keep: start again right after it.
            break;
        };
        let on_chain = chain.block(n).await?.map(|b| b.hash);
        if on_chain.as_deref() == Some(stored.as_str()) {
            break;
        }
    }
    let fork = n;
    let dropped = db.write(move |c| rewind(c, fork)).await?;
    tracing::warn!(fork, dropped, "chain reorganisation: rescanning");
    Ok(fork)
}

/// One pass: check the last scanned block is still canonical (else rewind), scan the next
/// range up to the head, then credit what has enough confirmations.
pub async fn step<C: Chain>(
    chain: &C,
    db: &Db,
    cfg: &WatchConfig,
) -> Result<Step, SettlementError> {
    let head = chain.head().await?;
    let mut report = Step {
        head,
        ..Step::default()
    };
    let last = db.read(last_scanned).await?;
    if let Some(last) = &last {
        let now_hash = chain.block(last.number).await?.map(|b| b.hash);
        if now_hash.as_deref() != Some(last.hash.as_str()) {
            report.reorg_from = Some(handle_reorg(chain, db, last.number).await?);
            return Ok(report);
        }
    }
    let from = match &last {
        Some(l) => l.number + 1,
        None => cfg.start_block.unwrap_or(head),
    };
    if from <= head {
        let to = head.min(from + cfg.batch_blocks.max(1) - 1);
        let mut blocks = Vec::with_capacity((to - from + 1) as usize);
        for n in from..=to {
            match chain.block(n).await? {
                Some(b) => blocks.push(b),
                None => return Ok(report), // the node is behind its own head: next step
            }
        }
        // The range must hang off what we scanned, and link up within itself.
        let mut parent = last.as_ref().map(|l| l.hash.clone());
        for b in &blocks {
            if let Some(p) = &parent {
                if &b.parent != p {
                    if b.number == from {
                        if let Some(l) = &last {
                            report.reorg_from = Some(handle_reorg(chain, db, l.number + 1).await?);
                        }
                    }
                    return Ok(report);
                }
            }
            parent = Some(b.hash.clone());
        }
        let logs = chain.transfers_to_treasury(from, to).await?;
        for log in &logs {
            let i = (log.block_number - from) as usize;
            if blocks.get(i).map(|b| &b.hash) != Some(&log.block_hash) {
                // The chain moved between the two reads: try again.
                return Ok(report);
            }
        }
        let decimals = cfg.decimals;
        let t = now();
        report.seen = db
            .write(move |c| record(c, &blocks, &logs, decimals, t))
            .await?;
        report.scanned_to = Some(to);
    }
    let scanned = report.scanned_to.or(last.map(|l| l.number)).unwrap_or(0);
    let confirmed_to = (head + 1)
        .saturating_sub(cfg.confirmations.max(1))
        .min(scanned);
    let (credited, unattributed) = db.write(move |c| confirm(c, confirmed_to)).await?;
    report.credited = credited;
    report.unattributed = unattributed;
    Ok(report)
}

fn record(
    conn: &mut DbConnection,
    blocks: &[BlockRef],
    logs: &[super::TokenTransfer],
    decimals: u8,
    t: NaiveDateTime,
) -> Result<usize, SettlementError> {
    for b in blocks {
        diesel::insert_into(chain_blocks::table)
            .values((
                chain_blocks::number.eq(b.number as i64),
                chain_blocks::hash.eq(&b.hash),
                chain_blocks::parent_hash.eq(&b.parent),
                chain_blocks::scanned_at.eq(t),
            ))
            .execute(conn)?;
    }
    let mut seen = 0;
    for log in logs {
        let (units, dust) = to_units(log.value, decimals)?;
        let fresh = insert_or_skip(conn, |c| {
            diesel::insert_into(chain_deposits::table)
                .values((
                    chain_deposits::tx_hash.eq(&log.tx_hash),
                    chain_deposits::log_index.eq(log.log_index as i64),
                    chain_deposits::block_number.eq(log.block_number as i64),
                    chain_deposits::block_hash.eq(&log.block_hash),
                    chain_deposits::from_address.eq(log.from.to_string()),
                    chain_deposits::value.eq(log.value.to_string()),
                    chain_deposits::units.eq(units),
                    chain_deposits::dust.eq(dust.to_string()),
                    chain_deposits::status.eq("pending"),
                    chain_deposits::seen_at.eq(t),
                ))
                .execute(c)
        })?;
        seen += usize::from(fresh);
    }
    // Keep a window of recent blocks for reorg detection; older ones are settled history.
    if let Some(last) = blocks.last() {
        let keep_from = last.number.saturating_sub(10_000) as i64;
        diesel::delete(chain_blocks::table.filter(chain_blocks::number.lt(keep_from)))
            .execute(conn)?;
    }
    Ok(seen)
}

/// Credit every pending deposit in a block at or below `confirmed_to`: to the account that bound
/// the sending address, else held as unattributed until someone binds it.
fn confirm(conn: &mut DbConnection, confirmed_to: u64) -> Result<(usize, usize), SettlementError> {
    let pending: Vec<(String, i64, String, i64)> = chain_deposits::table
        .filter(chain_deposits::status.eq("pending"))
        .filter(chain_deposits::block_number.le(confirmed_to as i64))
        .order((chain_deposits::block_number, chain_deposits::log_index))
        .select((
            chain_deposits::tx_hash,
            chain_deposits::log_index,
            chain_deposits::from_address,
            chain_deposits::units,
        ))
        .load(conn)?;
    let (mut credited, mut held) = (0, 0);
    let t = now();
    for (tx, li, from, units) in pending {
        let owner: Option<i64> = wallets::table
            .filter(wallets::address.eq(&from))
            .select(wallets::user_id)
            .first(conn)
            .optional()?;
        let (status, user) = if units == 0 {
            ("dust", None)
        } else if let Some(user) = owner {
            ledger::credit_deposit(conn, user, &tx, li, units)?;
            credited += 1;
            ("credited", Some(user))
        } else {
            held += 1;
            ("unattributed", None)
        };
        diesel::update(chain_deposits::table.find((&tx, li)))
            .set((
                chain_deposits::status.eq(status),
                chain_deposits::user_id.eq(user),
                chain_deposits::credited_at.eq(Some(t)),
            ))
            .execute(conn)?;
    }
    Ok((credited, held))
}

/// Run the watcher until the process ends: one step every `poll`, errors logged and retried.
pub async fn run<C: Chain>(
    chain: std::sync::Arc<C>,
    db: Db,
    cfg: WatchConfig,
    poll: std::time::Duration,
) {
    loop {
        match step(chain.as_ref(), &db, &cfg).await {
            Ok(s) if s.scanned_to.is_some_and(|to| to < s.head) => continue, // catching up
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "chain watcher step failed; retrying"),
        }
        tokio::time::sleep(poll).await;
    }
}
