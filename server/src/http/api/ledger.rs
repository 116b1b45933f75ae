//! The caller's LIVE wallet and tipping.

use actix_web::{web, HttpResponse};
use livestars_api::{ErrorBody, TipReceipt, TipRequest, Wallet};

use crate::http::auth::CurrentUser;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::ledger::{self, LedgerError, Split, Tipped};

/// Tip the model of a room: in one transaction the tipper is debited, the model credited her
/// share (the instance's setting, 70–80%), referrers up to three tiers on both sides credited
/// from the instance's share, the instance the rest. Only a running show (live or private) takes
/// tips. A retry with the same idempotency key returns the first receipt (200) and moves nothing.
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
        (status = 415, description = "Body is not JSON", body = ErrorBody)))]
pub async fn tip(
    state: web::Data<AppState>,
    current: CurrentUser,
    id: web::Path<i64>,
    body: web::Json<TipRequest>,
) -> Result<HttpResponse, ApiError> {
    let room = id.into_inner();
    let amount = ledger::parse_amount(&body.amount)?;
    let key = body.idempotency_key.trim().to_string();
    if !(8..=64).contains(&key.len())
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(
            LedgerError::Invalid("idempotency_key: 8 to 64 characters of A-Z a-z 0-9 - _").into(),
        );
    }
    let split = Split {
        model_bps: state.config.tip_model_share_bps,
        referral_bps: state.config.referral_bps.clone(),
    };
    let user = current.user;
    let done = state
        .db
        .write(move |conn| ledger::tip(conn, &split, &user, room, amount, &key))
        .await?;
    Ok(match done {
        Tipped::Created(r) => HttpResponse::Created().json(r),
        Tipped::Replayed(r) => HttpResponse::Ok().json(r),
    })
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
    let user = current.user;
    let id = user.id;
    let (units, history) = state
        .db
        .read(move |conn| {
            Ok::<_, LedgerError>((ledger::balance(conn, id)?, ledger::history(conn, id, 50)?))
        })
        .await?;
    Ok(HttpResponse::Ok().json(Wallet {
        balance: ledger::format_amount(units),
        units,
        referral_code: user.username,
        history,
    }))
}
