//! Settlement over HTTP: the instance's settlement facts, wallet challenges, binding and
//! wallet sign-in, deposits, payouts, and a room's live event stream.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Duration;
use livestars_api::{
    ChallengeRequest, Deposit, ErrorBody, Payout, PayoutRequest, Session, SettlementInfo,
    SignedChallenge, WalletBinding, WalletChallenge,
};

use crate::accounts::{self, TokenKind};
use crate::http::auth::CurrentUser;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::ledger::{self, format_amount};
use crate::settlement::payouts::{self, Requested};
use crate::settlement::prices::Rate;
use crate::settlement::wallets::{self as w, Purpose};
use crate::settlement::{Addr, Chain, SettlementError};

/// Where to deposit, what a payout costs, the USD rate.
#[utoipa::path(get, path = "/api/settlement", tag = "settlement",
    responses((status = 200, description = "Settlement facts of this instance", body = SettlementInfo)))]
pub async fn info(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(settlement_info(&state).await)
}

/// The instance's settlement facts now (API and wallet page).
pub async fn settlement_info(state: &AppState) -> SettlementInfo {
    let s = &state.settle;
    let rate = s.prices.rate().await;
    let c = &state.config;
    let connected = s.connected();
    // Available means available now: not while the node is down or on another chain.
    let ok = s.health.is_ok();
    SettlementInfo {
        deposits: connected.is_some() && ok,
        payouts: connected.is_some_and(|x| x.chain.can_sign()) && ok,
        chain_id: c.chain_id,
        token: connected
            .and_then(|_| c.token_address().ok())
            .map(|a| a.to_string()),
        treasury: connected.map(|x| x.chain.treasury().to_string()),
        decimals: connected.map(|x| x.decimals),
        confirmations: c.chain_confirmations,
        unit: format_amount(1),
        payout_gas: c.payout_gas.clone(),
        payout_fee: format_amount(s.fee_units),
        payout_fee_usd: rate.map(|r| r.usd(s.fee_units)),
        usd_rate: rate.map(Rate::to_decimal),
        usd_source: s.prices.source_name().into(),
        chain: s.health.view(connected.is_some(), false),
    }
}

/// A one-time EIP-4361 message for `address` to sign with `personal_sign`: to bind the address
/// to the signed-in account, or to sign in with it.
#[utoipa::path(post, path = "/api/wallet/challenges", tag = "settlement",
    request_body = ChallengeRequest,
    responses(
        (status = 201, description = "The message to sign", body = WalletChallenge),
        (status = 400, description = "Invalid address or purpose", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "Too many challenges from this address; see Retry-After", body = ErrorBody)))]
pub async fn challenge(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<ChallengeRequest>,
) -> Result<HttpResponse, ApiError> {
    let address: Addr = body
        .address
        .parse()
        .map_err(crate::settlement::SettlementError::from)?;
    let purpose = Purpose::parse(&body.purpose)?;
    state.limits.by_ip(&state.limits.challenges_ip, &req)?;
    let origin = state.settle.origin.clone();
    let c = state
        .db
        .write(move |conn| w::issue(conn, &origin, address, purpose))
        .await?;
    Ok(HttpResponse::Created().json(WalletChallenge {
        nonce: c.nonce,
        message: c.message,
        expires_at: c.expires_at.and_utc(),
    }))
}

/// Bind the signed challenge's address to the caller's account (replacing her previous one).
/// Deposits that came from it before it was bound are credited now.
#[utoipa::path(put, path = "/api/me/wallet/address", tag = "settlement",
    request_body = SignedChallenge, security(("bearer" = [])),
    responses(
        (status = 200, description = "Bound", body = WalletBinding),
        (status = 400, description = "Invalid JSON", body = ErrorBody),
        (status = 401, description = "Not signed in, or the signature does not match", body = ErrorBody),
        (status = 404, description = "Unknown challenge", body = ErrorBody),
        (status = 409, description = "Challenge used already, or the address belongs to another account", body = ErrorBody),
        (status = 410, description = "Challenge expired", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody)))]
pub async fn bind(
    state: web::Data<AppState>,
    current: CurrentUser,
    body: web::Json<SignedChallenge>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let user_id = current.user.id;
    // The signature is checked outside the write transaction; the write takes the nonce.
    let nonce = body.nonce.clone();
    let address = state
        .db
        .read(move |conn| w::verify(conn, &body.nonce, &body.signature, Purpose::Bind))
        .await?;
    let (bound, balance) = state
        .db
        .write(move |conn| {
            w::consume(conn, &nonce, Purpose::Bind)?;
            let bound = w::bind(conn, user_id, address)?;
            Ok::<_, SettlementError>((bound, ledger::balance(conn, user_id)?))
        })
        .await?;
    let claimed_units: i64 = bound.claimed.iter().map(|(_, u)| *u).sum();
    Ok(HttpResponse::Ok().json(WalletBinding {
        address: bound.address.to_string(),
        claimed: bound.claimed.into_iter().map(|(tx, _)| tx).collect(),
        claimed_amount: format_amount(claimed_units),
        balance: format_amount(balance),
    }))
}

/// Sign in with a wallet: the signed challenge's address names the account. An address no
/// account has bound gets a new wallet-only account (201), named `w_` and its first hex digits.
#[utoipa::path(post, path = "/api/wallet/sessions", tag = "settlement",
    request_body = SignedChallenge,
    responses(
        (status = 200, description = "Signed in", body = Session),
        (status = 201, description = "Signed in to a new wallet-only account", body = Session),
        (status = 400, description = "Invalid JSON", body = ErrorBody),
        (status = 401, description = "The signature does not match", body = ErrorBody),
        (status = 403, description = "The account is suspended", body = ErrorBody),
        (status = 404, description = "Unknown challenge", body = ErrorBody),
        (status = 409, description = "Challenge used already", body = ErrorBody),
        (status = 410, description = "Challenge expired", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "Too many sign-ins from this address; see Retry-After", body = ErrorBody)))]
pub async fn wallet_sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<SignedChallenge>,
) -> Result<HttpResponse, ApiError> {
    state.limits.by_ip(&state.limits.sign_in_ip, &req)?;
    let body = body.into_inner();
    let days = i64::from(state.config.session_days);
    let nonce = body.nonce.clone();
    let address = state
        .db
        .read(move |conn| w::verify(conn, &body.nonce, &body.signature, Purpose::SignIn))
        .await?;
    let (user, created, token, expires) = state
        .db
        .write(move |conn| {
            w::consume(conn, &nonce, Purpose::SignIn)?;
            let (user, created) = w::sign_in_account(conn, address)?;
            let (token, expires) = accounts::issue_token(
                conn,
                user.id,
                TokenKind::Session,
                Some(Duration::days(days)),
            )?;
            Ok::<_, SettlementError>((user, created, token, expires))
        })
        .await?;
    let builder = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    super::accounts::session_response(&state, builder, &user, token, expires)
}

/// LIVE transfers into the treasury from the caller's bound address (latest 50), with their
/// state: `pending` until the confirmations are reached, then `credited`.
#[utoipa::path(get, path = "/api/me/deposits", tag = "settlement", security(("bearer" = [])),
    responses(
        (status = 200, description = "Deposits", body = [Deposit]),
        (status = 401, description = "Not signed in", body = ErrorBody)))]
pub async fn deposits(
    state: web::Data<AppState>,
    current: CurrentUser,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(deposits_of(&state, current.user.id).await?))
}

/// The deposits credited to `user_id` (API and wallet page).
pub async fn deposits_of(state: &AppState, user_id: i64) -> Result<Vec<Deposit>, ApiError> {
    let rows = state
        .db
        .read(move |conn| crate::settlement::wallets::deposits_of(conn, user_id))
        .await?;
    let rate = state.settle.prices.rate().await;
    let out: Vec<Deposit> = rows
        .into_iter()
        .map(
            |(tx_hash, log_index, block_number, from, units, dust, status)| Deposit {
                tx_hash,
                log_index,
                block_number,
                from,
                amount: format_amount(units),
                amount_usd: rate.map(|r| r.usd(units)),
                dust,
                status,
            },
        )
        .collect();
    Ok(out)
}

/// A payout as its owner sees it. One on its way that waits because of the chain (node down,
/// settlement halted) says so, whatever the signer last noted.
fn payout_api(p: payouts::Payout, rate: Option<Rate>, chain_reason: Option<&str>) -> Payout {
    let in_flight = crate::states::PayoutState::parse(&p.status)
        .is_some_and(|s| crate::states::PayoutState::IN_FLIGHT.contains(&s));
    let reason = match chain_reason {
        Some(r) if in_flight => Some(r.to_string()),
        _ => p.reason,
    };
    Payout {
        id: p.id,
        to: p.to_address,
        amount: format_amount(p.units),
        amount_usd: rate.map(|r| r.usd(p.units)),
        fee: format_amount(p.fee_units),
        status: p.status,
        tx_hash: p.tx_hash,
        nonce: p.nonce,
        block_number: p.block_number,
        reason,
        created_at: p.created_at.and_utc(),
        broadcast_at: p.broadcast_at.map(|t| t.and_utc()),
    }
}

/// Withdraw any amount (no minimum) to the bound address, at once: the balance is debited now
/// (amount plus the fee, on instances that deduct the gas), the transfer is signed and sent
/// within the second. A failed transfer puts the money back, with the reason. The same
/// idempotency key counts once.
#[utoipa::path(post, path = "/api/me/payouts", tag = "settlement",
    request_body = PayoutRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "Payout queued", body = Payout),
        (status = 200, description = "The same payout again (idempotency key)", body = Payout),
        (status = 400, description = "Invalid amount or key", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 409, description = "Balance too low, no bound address, key reused, no chain connected to this instance (`settlement_disabled`), or settlement stopped because the node is on another chain (`settlement_halted`)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody)))]
pub async fn request_payout(
    state: web::Data<AppState>,
    current: CurrentUser,
    body: web::Json<PayoutRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let (created, p) = withdraw(&state, current.user, &body.amount, &body.idempotency_key).await?;
    Ok(if created {
        HttpResponse::Created().json(p)
    } else {
        HttpResponse::Ok().json(p)
    })
}

/// `user` withdraws `amount` LIVE to her bound address (API and wallet page): whether it was
/// created now (not a replay of the same key), and the payout.
pub async fn withdraw(
    state: &AppState,
    user: accounts::User,
    amount: &str,
    key: &str,
) -> Result<(bool, Payout), ApiError> {
    let units = ledger::parse_amount(amount)?;
    let key = super::ledger::idempotency_key(key)?;
    let decimals = state.settle.payout_chain()?.decimals;
    let fee = state.settle.fee_units;
    let done = state
        .db
        .write(move |conn| payouts::request(conn, &user, units, fee, decimals, &key))
        .await?;
    let rate = state.settle.prices.rate().await;
    let why = state.settle.health.payout_reason();
    Ok(match done {
        Requested::Created(p) => {
            state.settle.wake.notify_one();
            (true, payout_api(p, rate, why.as_deref()))
        }
        Requested::Replayed(p) => (false, payout_api(p, rate, why.as_deref())),
    })
}

/// The caller's latest 50 payouts.
#[utoipa::path(get, path = "/api/me/payouts", tag = "settlement", security(("bearer" = [])),
    responses(
        (status = 200, description = "Payouts, newest first", body = [Payout]),
        (status = 401, description = "Not signed in", body = ErrorBody)))]
pub async fn list_payouts(
    state: web::Data<AppState>,
    current: CurrentUser,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(payouts_of(&state, current.user.id).await?))
}

/// `user_id`'s latest payouts, each with why it waits if it does (API and wallet page).
pub async fn payouts_of(state: &AppState, user_id: i64) -> Result<Vec<Payout>, ApiError> {
    let list = state.db.read(move |c| payouts::list(c, user_id)).await?;
    let rate = state.settle.prices.rate().await;
    let why = state.settle.health.payout_reason();
    Ok(list
        .into_iter()
        .map(|p| payout_api(p, rate, why.as_deref()))
        .collect())
}

/// One of the caller's payouts.
#[utoipa::path(get, path = "/api/me/payouts/{id}", tag = "settlement", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Payout id")),
    responses(
        (status = 200, description = "The payout", body = Payout),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such payout of yours", body = ErrorBody)))]
pub async fn get_payout(
    state: web::Data<AppState>,
    current: CurrentUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (id, user_id) = (id.into_inner(), current.user.id);
    let p = state.db.read(move |c| payouts::get(c, id)).await?;
    if p.user_id != user_id {
        return Err(SettlementError::PayoutNotFound.into());
    }
    let rate = state.settle.prices.rate().await;
    let why = state.settle.health.payout_reason();
    Ok(HttpResponse::Ok().json(payout_api(p, rate, why.as_deref())))
}

/// The room's live events as server-sent events: `event: tip` with a `TipEvent` as data, for
/// chat and toy levels. Public, like the room; a comment line every 15 s keeps it open.
#[utoipa::path(get, path = "/api/rooms/{id}/events", tag = "rooms",
    params(("id" = i64, Path, description = "Room id")),
    responses(
        (status = 200, description = "text/event-stream of `tip` events", content_type = "text/event-stream"),
        (status = 404, description = "No such room", body = ErrorBody),
        (status = 429, description = "Too many open streams from this address, or in total; see Retry-After", body = ErrorBody)))]
pub async fn room_events(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    // Each open stream holds a task and a subscription: capped per address and in total.
    let slot = state
        .limits
        .streams
        .open(state.limits.client_key(&req))
        .ok_or_else(|| ApiError::rate_limited(15))?;
    let exists = state
        .db
        .read(move |c| crate::rooms::exists(c, id).map_err(SettlementError::from))
        .await?;
    if !exists {
        return Err(ApiError::new(
            actix_web::http::StatusCode::NOT_FOUND,
            "not_found",
            "no such room",
        ));
    }
    let rx = state.events.subscribe(id);
    let stream = futures_util::stream::unfold((rx, slot), |(mut rx, slot)| async move {
        use tokio::sync::broadcast::error::RecvError;
        let chunk = match tokio::time::timeout(std::time::Duration::from_secs(15), rx.recv()).await
        {
            Err(_) => ": keep-alive\n\n".to_string(),
            Ok(Ok(crate::rooms::events::RoomEvent::Tip(ev))) => format!(
                "event: tip\ndata: {}\n\n",
                serde_json::to_string(&ev).unwrap_or_default()
            ),
            // This stream carries tips only; chat travels over the room socket.
            Ok(Ok(_)) => String::new(),
            Ok(Err(RecvError::Lagged(n))) => format!(": skipped {n} events\n\n"),
            Ok(Err(RecvError::Closed)) => return None,
        };
        Some((
            Ok::<_, actix_web::Error>(web::Bytes::from(chunk)),
            (rx, slot),
        ))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(stream))
}
