//! The chain watcher: scans the token's `Transfer` logs into the treasury in bounded block
//! ranges from a persisted cursor, stores each scanned block's hash and parent hash, notices a
//! reorganisation (a stored hash no longer canonical) and rescans from the fork, and credits a
//! deposit once it has N confirmations — exactly once per transfer: (transaction hash, the
//! transfer's position among that transaction's Transfer logs to the treasury), which a
//! reorganisation that re-mines the transaction elsewhere does not change.
//!
//! Before scanning, the node's chain id and genesis block are compared with the ones the
//! database recorded on first contact: a node reset to a new genesis, or pointed at another
//! chain, halts settlement with an operator error (once, not every poll) instead of rescanning.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::health::Health;
use super::{to_units, BlockRef, Chain, SettlementError};
use crate::db::schema::{chain_blocks, chain_deposits, chain_identity, wallets};
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
    /// A reorganisation reached block 0 and found it changed: the node is on another chain.
    pub genesis_changed: bool,
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
/// counted there vanish with their blocks; counted ones (a reorg deeper than the confirmations)
/// are kept, marked orphaned until the same transfer is seen again, and reported.
fn rewind(conn: &mut DbConnection, fork: u64) -> Result<usize, SettlementError> {
    let above = fork as i64;
    diesel::delete(chain_blocks::table.filter(chain_blocks::number.gt(above))).execute(conn)?;
    let dropped = diesel::delete(
        chain_deposits::table
            .filter(chain_deposits::block_number.gt(above))
            .filter(chain_deposits::status.eq(crate::states::DepositState::Pending.as_str())),
    )
    .execute(conn)?;
    let deep = diesel::update(
        chain_deposits::table
            .filter(chain_deposits::block_number.gt(above))
            .filter(chain_deposits::orphaned_at.is_null()),
    )
    .set(chain_deposits::orphaned_at.eq(Some(now())))
    .execute(conn)?;
    if deep > 0 {
        tracing::error!(
            fork,
            deep,
            "a reorganisation removed blocks with counted deposits: they are marked orphaned until seen again; `livestars ledger check` lists them (raise `chain_confirmations`)"
        );
    }
    Ok(dropped)
}

/// Where a reorganisation leads.
enum Reorg {
    /// The last block both chains share: rescan after it.
    Fork(u64),
    /// Block 0 itself differs: the node is on another chain.
    GenesisChanged,
}

/// Find the fork point below a mismatching stored block and rewind to it. Block 0 is compared
/// too: when it differs, nothing is rewound and settlement must halt.
async fn handle_reorg<C: Chain>(
    chain: &C,
    db: &Db,
    mismatch: u64,
) -> Result<Reorg, SettlementError> {
    let mut n = mismatch;
    loop {
        if n == 0 {
            return Ok(Reorg::GenesisChanged);
        }
        n -= 1;
        let stored = {
            let n2 = n;
            db.read(move |c| stored_hash(c, n2)).await?
        };
        let Some(stored) = stored else {
            // Older than what we keep (or before the start block): start again right after it.
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
    Ok(Reorg::Fork(fork))
}

/// Compare the node's chain id and genesis block with what this database settles on (recorded
/// on first contact). `Some(reason)`: the node is on another chain.
pub async fn check_identity<C: Chain>(
    chain: &C,
    db: &Db,
) -> Result<Option<String>, SettlementError> {
    let id = chain.node_chain_id().await?;
    let genesis = chain
        .block(0)
        .await?
        .ok_or_else(|| super::ChainError::Node("the node has no block 0".into()))?
        .hash;
    let mut recorded = db.read(recorded_identity).await?;
    if recorded.is_none() {
        // First contact: record it (a write only then; a concurrent first contact wins alike).
        let genesis2 = genesis.clone();
        recorded = db
            .write(move |c| {
                crate::db::insert_or_skip(c, |c| {
                    diesel::insert_into(chain_identity::table)
                        .values((
                            chain_identity::id.eq(1i64),
                            chain_identity::chain_id.eq(id as i64),
                            chain_identity::genesis_hash.eq(&genesis2),
                            chain_identity::recorded_at.eq(now()),
                        ))
                        .execute(c)
                })?;
                recorded_identity(c)
            })
            .await?;
    }
    Ok(recorded.and_then(|(rid, rgen)| identity_mismatch(rid as u64, &rgen, id, &genesis)))
}

/// The chain this database settles on: (chain id, genesis hash), once recorded.
fn recorded_identity(c: &mut DbConnection) -> Result<Option<(i64, String)>, SettlementError> {
    Ok(chain_identity::table
        .find(1i64)
        .select((chain_identity::chain_id, chain_identity::genesis_hash))
        .first(c)
        .optional()?)
}

/// The operator error when the node's chain is not the recorded one.
pub fn identity_mismatch(
    recorded_id: u64,
    recorded_genesis: &str,
    id: u64,
    genesis: &str,
) -> Option<String> {
    if recorded_id != id {
        return Some(format!(
            "the chain node reports chain id {id}, but this database settles on chain id {recorded_id}: deposits and payouts are stopped. Point chain_rpc_url at a node of chain {recorded_id}."
        ));
    }
    if recorded_genesis != genesis {
        return Some(format!(
            "the chain node's genesis block is {genesis}, but this database settles on the chain whose genesis is {recorded_genesis}: the node was reset or serves another chain. Deposits and payouts are stopped. Point chain_rpc_url at a node of the recorded chain."
        ));
    }
    None
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
            match handle_reorg(chain, db, last.number).await? {
                Reorg::Fork(f) => report.reorg_from = Some(f),
                Reorg::GenesisChanged => report.genesis_changed = true,
            }
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
                            match handle_reorg(chain, db, l.number + 1).await? {
                                Reorg::Fork(f) => report.reorg_from = Some(f),
                                Reorg::GenesisChanged => report.genesis_changed = true,
                            }
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
        // Another process's watcher may have stored it a moment ago (several processes on one
        // PostgreSQL each watch): the same block is no conflict, another hash means the chain
        // moved in between and the step is retried.
        let fresh = insert_or_skip(conn, |c| {
            diesel::insert_into(chain_blocks::table)
                .values((
                    chain_blocks::number.eq(b.number as i64),
                    chain_blocks::hash.eq(&b.hash),
                    chain_blocks::parent_hash.eq(&b.parent),
                    chain_blocks::scanned_at.eq(t),
                ))
                .execute(c)
        })?;
        if !fresh && stored_hash(conn, b.number)?.as_deref() != Some(b.hash.as_str()) {
            return Err(SettlementError::Invalid(format!(
                "block {} was stored with another hash meanwhile: rescanning",
                b.number
            )));
        }
    }
    // Each transfer's position among its transaction's Transfer logs to the treasury (a
    // transaction's logs are all in one block, and a scan covers whole blocks).
    let mut positions: Vec<i64> = Vec::with_capacity(logs.len());
    for (i, log) in logs.iter().enumerate() {
        let before = logs[..i]
            .iter()
            .filter(|l| l.tx_hash == log.tx_hash && l.log_index < log.log_index)
            .count();
        positions.push(before as i64);
    }
    let mut seen = 0;
    // Later positions first: moving a re-mined transaction's rows never collides on log index.
    for (log, position) in logs.iter().zip(positions).rev() {
        let (units, dust) = to_units(log.value, decimals)?;
        let fresh = insert_or_skip(conn, |c| {
            diesel::insert_into(chain_deposits::table)
                .values((
                    chain_deposits::tx_hash.eq(&log.tx_hash),
                    chain_deposits::log_index.eq(log.log_index as i64),
                    chain_deposits::transfer_index.eq(position),
                    chain_deposits::block_number.eq(log.block_number as i64),
                    chain_deposits::block_hash.eq(&log.block_hash),
                    chain_deposits::from_address.eq(log.from.to_string()),
                    chain_deposits::value.eq(log.value.to_string()),
                    chain_deposits::units.eq(units),
                    chain_deposits::dust.eq(dust.to_string()),
                    chain_deposits::status.eq(crate::states::DepositState::Pending.as_str()),
                    chain_deposits::seen_at.eq(t),
                ))
                .execute(c)
        })?;
        if fresh {
            seen += 1;
            continue;
        }
        // The same transfer, seen before: after a deep reorganisation it is back on the
        // canonical chain, maybe in another block at another log index. It was counted once;
        // it only moves (and is no longer orphaned).
        let moved = diesel::update(
            chain_deposits::table
                .filter(chain_deposits::tx_hash.eq(&log.tx_hash))
                .filter(chain_deposits::transfer_index.eq(position))
                // Not when another process's watcher just stored this very row.
                .filter(
                    chain_deposits::block_hash
                        .ne(&log.block_hash)
                        .or(chain_deposits::orphaned_at.is_not_null()),
                ),
        )
        .set((
            chain_deposits::log_index.eq(log.log_index as i64),
            chain_deposits::block_number.eq(log.block_number as i64),
            chain_deposits::block_hash.eq(&log.block_hash),
            chain_deposits::orphaned_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
        if moved > 0 {
            tracing::warn!(
                tx = %log.tx_hash,
                block = log.block_number,
                "a deposit removed by a reorganisation is back on the chain: counted once"
            );
        }
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
        .filter(chain_deposits::status.eq(crate::states::DepositState::Pending.as_str()))
        .filter(chain_deposits::block_number.le(confirmed_to as i64))
        .order((chain_deposits::block_number, chain_deposits::log_index))
        .select((
            chain_deposits::tx_hash,
            chain_deposits::transfer_index,
            chain_deposits::from_address,
            chain_deposits::units,
        ))
        .load(conn)?;
    let (mut credited, mut held) = (0, 0);
    let t = now();
    for (tx, position, from, units) in pending {
        let owner: Option<i64> = wallets::table
            .filter(wallets::address.eq(&from))
            .select(wallets::user_id)
            .first(conn)
            .optional()?;
        let (status, user) = if units == 0 {
            (crate::states::DepositState::Dust.as_str(), None)
        } else if let Some(user) = owner {
            ledger::credit_deposit(conn, user, &tx, position, units)?;
            credited += 1;
            (crate::states::DepositState::Credited.as_str(), Some(user))
        } else {
            held += 1;
            (crate::states::DepositState::Unattributed.as_str(), None)
        };
        diesel::update(
            chain_deposits::table
                .filter(chain_deposits::tx_hash.eq(&tx))
                .filter(chain_deposits::transfer_index.eq(position))
                .filter(chain_deposits::status.eq(crate::states::DepositState::Pending.as_str())),
        )
        .set((
            chain_deposits::status.eq(status),
            chain_deposits::user_id.eq(user),
            chain_deposits::credited_at.eq(Some(t)),
        ))
        .execute(conn)?;
    }
    Ok((credited, held))
}

/// How often the node's chain id and genesis block are compared with the recorded ones.
const IDENTITY_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Run the watcher until the process ends: one step every `poll`, errors published (logged
/// once per outage) and retried; a node on another chain halts settlement until it is back on
/// the recorded one.
pub async fn run<C: Chain>(
    chain: std::sync::Arc<C>,
    db: Db,
    cfg: WatchConfig,
    poll: std::time::Duration,
    health: std::sync::Arc<Health>,
) {
    let halted_wait = poll.max(std::time::Duration::from_secs(1));
    let mut identity_checked: Option<std::time::Instant> = None;
    // Set when a reorganisation reached block 0 and found it changed; cleared when the node's
    // block 0 is the scanned one again.
    let mut block0_changed = false;
    loop {
        let due = identity_checked.is_none_or(|t| t.elapsed() >= IDENTITY_EVERY);
        if due || health.halted().is_some() {
            let reason = match check_identity(chain.as_ref(), &db).await {
                Ok(None) if block0_changed => match block0_is_scanned(chain.as_ref(), &db).await {
                    Ok(true) => {
                        block0_changed = false;
                        None
                    }
                    Ok(false) => Some(
                        "the chain's block 0 is not the block 0 this instance scanned: the node was reset or serves another chain. Deposits and payouts are stopped. Point chain_rpc_url at a node of the scanned chain.".to_string(),
                    ),
                    Err(e) => {
                        health.failed(&e.to_string());
                        tokio::time::sleep(halted_wait).await;
                        continue;
                    }
                },
                Ok(other) => other,
                Err(e) => {
                    if health.failed(&e.to_string()) {
                        tracing::warn!(error = %e, "the chain node does not answer; deposits and payouts wait");
                    }
                    tokio::time::sleep(poll).await;
                    continue;
                }
            };
            identity_checked = Some(std::time::Instant::now());
            match reason {
                Some(reason) => {
                    if health.halt(&reason) {
                        tracing::error!(%reason, "settlement halted");
                    }
                    tokio::time::sleep(halted_wait).await;
                    continue;
                }
                None if health.halted().is_some() => {
                    tracing::warn!(
                        "the chain node is back on the recorded chain: settlement resumes"
                    );
                    health.resume();
                }
                None => {}
            }
        }
        match step(chain.as_ref(), &db, &cfg).await {
            Ok(s) => {
                let scanned = match s.scanned_to {
                    Some(n) => Some(n),
                    None => db.read(scanned_to).await.ok().flatten(),
                };
                health.contact(s.head, scanned);
                if s.genesis_changed {
                    // Halted at once by the identity check on the next turn, which names what
                    // changed; nothing was rewound.
                    block0_changed = true;
                    identity_checked = None;
                    continue;
                }
                if s.scanned_to.is_some_and(|to| to < s.head) {
                    continue; // catching up
                }
            }
            Err(e) => {
                if health.failed(&e.to_string()) {
                    tracing::warn!(error = %e, "chain watcher step failed; retrying");
                }
            }
        }
        tokio::time::sleep(poll).await;
    }
}

/// Whether the node's block 0 is the one stored when it was scanned (true when it never was).
async fn block0_is_scanned<C: Chain>(chain: &C, db: &Db) -> Result<bool, SettlementError> {
    let stored = db.read(|c| stored_hash(c, 0)).await?;
    let Some(stored) = stored else {
        return Ok(true);
    };
    Ok(chain.block(0).await?.map(|b| b.hash) == Some(stored))
}
