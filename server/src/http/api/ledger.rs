//! The caller's LIVE wallet and tipping.

use actix_web::{web, HttpResponse};
use livestars_api::{ErrorBody, TipReceipt, TipRequest, Wallet};

use crate::http::auth::CurrentUser;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::ledger::batch::TipJob;
use crate::ledger::{self, LedgerError, Tipped};

/// Tip the model of a room: in one transaction the tipper is debited, the model credited her
/// share (the instance's setting, 70–80%), referrers up to three tiers on both sides credited
/// from the instance's share, the instance the rest. Only a running show (live or private) takes
/// tips. A retry with the same idempotency key returns the first receipt (200) and moves nothing.
/// The room's event stream (`GET /api/rooms/{id}/events`) gets a `tip` event.
#[utoipa::path(post, path = "/api/rooms/{id}/tips", tag = "ledger",
    params(("id" = i64, Path, description = "Room id")),
    request_body = TipRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "Tipped", body = TipReceipt),
        (status = 200, description = "The same tip again (idempotency key): nothing moved", body = TipReceipt),
        (status = 400, description = "Invalid amount, key or JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Tipping one's own room", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody),
        (status = 409, description = "Balance too low, room not showing, or key reused for another tip", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "Too many tips from this account; see Retry-After", body = ErrorBody)))]
pub async fn tip(
    state: web::Data<AppState>,
    current: CurrentUser,
    id: web::Path<i64>,
    body: web::Json<TipRequest>,
) -> Result<HttpResponse, ApiError> {
    let (created, r) = tip_as(
        &state,
        current.user,
        id.into_inner(),
        &body.amount,
        &body.idempotency_key,
    )
    .await?;
    Ok(if created {
        HttpResponse::Created().json(r)
    } else {
        HttpResponse::Ok().json(r)
    })
}

/// `user` tips `amount` LIVE to room `room_id` (API and room page): whether it was made now
/// (not a replay of the same key), and the receipt with its USD value.
pub async fn tip_as(
    state: &AppState,
    user: crate::accounts::User,
    room_id: i64,
    amount: &str,
    key: &str,
) -> Result<(bool, livestars_api::TipReceipt), ApiError> {
    let amount = ledger::parse_amount(amount)?;
    let key = idempotency_key(key)?;
    state.limits.by_account(&state.limits.tips, user.id)?;
    let done = state
        .tips
        .tip(TipJob {
            tipper: user,
            room_id,
            amount,
            key,
        })
        .await?;
    let rate = state.settle.prices.rate().await;
    let (created, mut r) = match done {
        Tipped::Created(r) => (true, r),
        Tipped::Replayed(r) => (false, r),
    };
    r.amount_usd = rate.map(|x| x.usd(r.units));
    Ok((created, r))
}

/// A client's idempotency key: 8 to 64 characters of `A-Z a-z 0-9 - _`.
pub fn idempotency_key(raw: &str) -> Result<String, ApiError> {
    let key = raw.trim();
    if !(8..=64).contains(&key.len())
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(
            LedgerError::Invalid("idempotency_key: 8 to 64 characters of A-Z a-z 0-9 - _").into(),
        );
    }
    Ok(key.to_string())
}

/// The caller's balance, referral code and latest 50 movements.
#[utoipa::path(get, path = "/api/me/wallet", tag = "ledger", security(("bearer" = [])),
    responses(
        (status = 200, description = "Balance and history", body = Wallet),
        (status = 401, description = "Not signed in", body = ErrorBody)))]
pub async fn wallet(
    state: web::Data<AppState>,
    current: CurrentUser,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(wallet_of(&state, current.user).await?))
}

/// `user`'s balance, referral code and latest movements (API and wallet page).
pub async fn wallet_of(state: &AppState, user: crate::accounts::User) -> Result<Wallet, ApiError> {
    let id = user.id;
    let (units, mut history, address) = state
        .db
        .read(move |conn| {
            Ok::<_, crate::settlement::SettlementError>((
                ledger::balance(conn, id)?,
                ledger::history(conn, id, 50)?,
                crate::settlement::wallets::bound_address(conn, id)?,
            ))
        })
        .await?;
    let rate = state.settle.prices.rate().await;
    for e in &mut history {
        e.amount_usd = rate.map(|r| r.usd(e.units));
    }
    Ok(Wallet {
        balance: ledger::format_amount(units),
        units,
        referral_code: user.username,
        history,
        balance_usd: rate.map(|r| r.usd(units)),
        address: address.map(|a| a.to_string()),
    })
}
