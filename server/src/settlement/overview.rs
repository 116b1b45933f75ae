//! The instance's money at a glance, for admins: balances by party, tips, deposits waiting,
//! payouts by state and the latest payouts. Aggregates in the database: no table is loaded
//! whole, however many tips there are.

use diesel::prelude::*;
use livestars_api::{AdminPayout, LedgerOverview};

use super::SettlementError;
use crate::db::schema::{chain_deposits, payouts, users};
use crate::db::DbConnection;
use crate::money::format_amount;
use crate::states::{DepositState, PayoutState};

/// The overview without what lives outside the database (USD rate, chain health: the caller
/// fills them).
pub fn overview(conn: &mut DbConnection) -> Result<LedgerOverview, SettlementError> {
    // Aggregates in the database: no table is loaded whole, however many tips there are.
    let accounts = figures(
        conn,
        "SELECT kind AS label, COUNT(CASE WHEN balance > 0 THEN 1 END) AS n, \
         CAST(SUM(balance) AS TEXT) AS total FROM ledger_accounts GROUP BY kind",
    )?;
    let tips = figures(
        conn,
        "SELECT 'tips' AS label, COUNT(*) AS n, \
         CAST(COALESCE(SUM(amount), 0) AS TEXT) AS total FROM tips",
    )?;
    let deposits = figures(
        conn,
        "SELECT status AS label, COUNT(*) AS n, \
         CAST(COALESCE(SUM(units), 0) AS TEXT) AS total FROM chain_deposits GROUP BY status",
    )?;
    let by_status = figures(
        conn,
        "SELECT status AS label, COUNT(*) AS n, '0' AS total FROM payouts GROUP BY status",
    )?;
    let find = |v: &[Figure], label: &str| -> (i64, i128) {
        v.iter()
            .find(|f| f.label == label)
            .map_or((0, 0), |f| (f.n, f.total.parse().unwrap_or(0)))
    };
    let amount = |v: i128| format_amount(i64::try_from(v).unwrap_or(i64::MAX));
    let (users_with_balance, users_total) = find(&accounts, "user");
    let (tips_count, tips_total) = find(&tips, "tips");
    let (deposits_pending, _) = find(&deposits, DepositState::Pending.as_str());
    let (unattributed, unattributed_total) = find(&deposits, DepositState::Unattributed.as_str());
    let orphaned: i64 = chain_deposits::table
        .filter(chain_deposits::orphaned_at.is_not_null())
        .count()
        .get_result(conn)?;
    let sum: i128 = accounts
        .iter()
        .map(|f| f.total.parse::<i128>().unwrap_or(0))
        .sum();
    let by_state = PayoutState::ALL
        .iter()
        .map(|s| (s.to_string(), find(&by_status, s.as_str()).0))
        .collect();
    type Row = (
        i64,
        String,
        String,
        i64,
        String,
        Option<String>,
        Option<String>,
        chrono::NaiveDateTime,
    );
    let recent: Vec<Row> = payouts::table
        .inner_join(users::table.on(users::id.eq(payouts::user_id)))
        .order(payouts::id.desc())
        .limit(50)
        .select((
            payouts::id,
            users::username,
            payouts::to_address,
            payouts::units,
            payouts::status,
            payouts::tx_hash,
            payouts::reason,
            payouts::created_at,
        ))
        .load(conn)?;
    Ok(LedgerOverview {
        instance_balance: amount(find(&accounts, "instance").1),
        users_total: amount(users_total),
        users_with_balance,
        chain_balance: amount(find(&accounts, "chain").1),
        sum: amount(sum),
        tips: tips_count,
        tips_total: amount(tips_total),
        deposits_pending,
        deposits_unattributed: unattributed,
        deposits_unattributed_amount: amount(unattributed_total),
        payouts: by_state,
        recent_payouts: recent
            .into_iter()
            .map(
                |(id, username, to, units, status, tx_hash, reason, at)| AdminPayout {
                    id,
                    username,
                    to,
                    amount: format_amount(units),
                    status,
                    tx_hash,
                    reason,
                    created_at: at.and_utc(),
                },
            )
            .collect(),
        usd_rate: None,
        chain: None,
        deposits_orphaned: orphaned,
    })
}

/// One row of an aggregate: a label, a count, and a sum as decimal text (SQLite's integer and
/// PostgreSQL's numeric both cast to text).
#[derive(QueryableByName)]
struct Figure {
    #[diesel(sql_type = diesel::sql_types::Text)]
    label: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    total: String,
}

fn figures(conn: &mut DbConnection, sql: &str) -> Result<Vec<Figure>, SettlementError> {
    let q = diesel::sql_query(sql);
    Ok(match conn {
        DbConnection::Postgres(c) => q.load(c)?,
        DbConnection::Sqlite(c) => q.load(c)?,
    })
}
