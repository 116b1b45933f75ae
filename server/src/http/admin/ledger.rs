//! The instance's money for admins: balances by party, deposits waiting, payouts by state.

use actix_web::{web, HttpResponse};
use livestars_api::{ErrorBody, LedgerOverview};

use crate::http::auth::AdminUser;
use crate::http::error::ApiError;
use crate::http::AppState;

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
    let mut o = state.db.read(crate::settlement::overview::overview).await?;
    o.usd_rate = state.settle.prices.rate().await.map(|r| r.to_decimal());
    o.chain = Some(
        state
            .settle
            .health
            .view(state.settle.connected().is_some(), true),
    );
    Ok(HttpResponse::Ok().json(o))
}
