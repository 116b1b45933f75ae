//! The instance's money for admins: balances by party, deposits waiting, payouts by state.

use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use livestars_api::{AdminPayout, ErrorBody, LedgerOverview};

use crate::db::schema::{chain_deposits, ledger_accounts, payouts, tips, users};
use crate::http::auth::AdminUser;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::ledger::format_amount;
use crate::settlement::SettlementError;

/// Balances by party, tips, deposits waiting, payouts by state and the latest payouts.
#[utoipa::path(get, path = "/api/admin/ledger", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "The ledger at a glance", body = LedgerOverview),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody)))]
pub async fn overview(
    state: web::Data<AppState>,
    _admin: AdminUser,
) -> Result<HttpResponse, ApiError> {
    let mut o = state
        .db
        .read(|conn| {
            let accounts: Vec<(String, i64)> = ledger_accounts::table
                .select((ledger_accounts::kind, ledger_accounts::balance))
                .load(conn)?;
            let sum_of = |kind: &str| -> i128 {
                accounts
                    .iter()
                    .filter(|(k, _)| k == kind)
                    .map(|(_, b)| i128::from(*b))
                    .sum()
            };
            let clamp = |v: i128| i64::try_from(v).unwrap_or(i64::MAX);
            let tip_amounts: Vec<i64> = tips::table.select(tips::amount).load(conn)?;
            let unattributed: Vec<i64> = chain_deposits::table
                .filter(chain_deposits::status.eq("unattributed"))
                .select(chain_deposits::units)
                .load(conn)?;
            let pending: i64 = chain_deposits::table
                .filter(chain_deposits::status.eq("pending"))
                .count()
                .get_result(conn)?;
            let mut by_state = Vec::new();
            for s in ["queued", "signed", "broadcast", "confirmed", "failed"] {
                let n: i64 = payouts::table
                    .filter(payouts::status.eq(s))
                    .count()
                    .get_result(conn)?;
                by_state.push((s.to_string(), n));
            }
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
            Ok::<_, SettlementError>(LedgerOverview {
                instance_balance: format_amount(clamp(sum_of("instance"))),
                users_total: format_amount(clamp(sum_of("user"))),
                users_with_balance: accounts
                    .iter()
                    .filter(|(k, b)| k == "user" && *b > 0)
                    .count() as i64,
                chain_balance: format_amount(clamp(sum_of("chain"))),
                sum: format_amount(clamp(accounts.iter().map(|(_, b)| i128::from(*b)).sum())),
                tips: tip_amounts.len() as i64,
                tips_total: format_amount(clamp(tip_amounts.iter().map(|a| i128::from(*a)).sum())),
                deposits_pending: pending,
                deposits_unattributed: unattributed.len() as i64,
                deposits_unattributed_amount: format_amount(clamp(
                    unattributed.iter().map(|a| i128::from(*a)).sum(),
                )),
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
            })
        })
        .await?;
    o.usd_rate = state.settle.prices.rate().await.map(|r| r.to_decimal());
    Ok(HttpResponse::Ok().json(o))
}
