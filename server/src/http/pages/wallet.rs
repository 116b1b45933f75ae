//! The wallet page: balance in LIVE and USD, the chain's health, deposits, history, payouts
//! with their states and reasons, the withdraw form and the referral link.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use livestars_api::{Deposit, Payout, SettlementInfo, Wallet};
use serde::Deserialize;

use super::{render, see_other, PageError, Viewer};
use crate::accounts::User;
use crate::http::api::ledger::wallet_of;
use crate::http::api::settlement::{deposits_of, payouts_of, settlement_info, withdraw};
use crate::http::AppState;

#[derive(Template)]
#[template(path = "wallet.html")]
struct WalletPage<'a> {
    v: &'a Viewer,
    w: Wallet,
    info: SettlementInfo,
    deposits: Vec<Deposit>,
    payouts: Vec<Payout>,
    /// (what, amount in LIVE, USD, when) of each movement.
    history: Vec<(&'static str, String, String, String)>,
    referral_link: String,
    key: String,
    notice: Option<String>,
    error: Option<String>,
}

/// A ledger movement's kind as a person reads it.
fn label(kind: &str) -> &'static str {
    match kind {
        "deposit" => "Deposit",
        "tip" => "Tip sent",
        "tip_model" => "Tip received",
        "tip_referral" => "Referral earnings",
        "payout" => "Withdrawal",
        "payout_fee" => "Withdrawal fee",
        "payout_refund" => "Withdrawal refunded",
        "payout_fee_refund" => "Fee refunded",
        _ => "Other",
    }
}

async fn page(
    state: &AppState,
    v: &Viewer,
    user: User,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Result<HttpResponse, PageError> {
    let uid = user.id;
    let w = wallet_of(state, user).await?;
    let info = settlement_info(state).await;
    let deposits = deposits_of(state, uid).await?;
    let payouts = payouts_of(state, uid).await?;
    let history = w
        .history
        .iter()
        .map(|e| {
            (
                label(&e.kind),
                e.amount.clone(),
                e.amount_usd
                    .as_ref()
                    .map(|u| format!("${u}"))
                    .unwrap_or_default(),
                e.at.format("%Y-%m-%d %H:%M UTC").to_string(),
            )
        })
        .collect();
    let referral_link = format!("{}/signup?ref={}", state.fed.base, w.referral_code);
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.0);
    Ok(render(
        v,
        status,
        &WalletPage {
            v,
            w,
            info,
            deposits,
            payouts,
            history,
            referral_link,
            key: super::fresh_token(),
            notice,
            error: error.map(|e| e.1),
        },
    ))
}

#[derive(Deserialize)]
pub struct WalletQuery {
    /// Set after a withdrawal: its payout id, for the confirmation line.
    #[serde(default)]
    payout: Option<i64>,
}

/// `/wallet`.
pub async fn wallet(
    state: web::Data<AppState>,
    v: Viewer,
    q: web::Query<WalletQuery>,
) -> Result<HttpResponse, PageError> {
    let Some(user) = v.user.clone() else {
        return Ok(see_other("/signin?next=/wallet"));
    };
    let notice = q
        .payout
        .map(|id| format!("Withdrawal #{id} is on its way; its state shows below."));
    page(&state, &v, user, notice, None).await
}

#[derive(Deserialize)]
pub struct WithdrawForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    key: String,
}

/// The withdraw form: the same path as `POST /api/me/payouts`.
pub async fn withdraw_form(
    state: web::Data<AppState>,
    v: Viewer,
    f: web::Form<WithdrawForm>,
) -> Result<HttpResponse, PageError> {
    let user = v.form_user(&f.csrf, "/wallet")?;
    match withdraw(&state, user.clone(), f.amount.trim(), &f.key).await {
        Ok((_, p)) => Ok(see_other(&format!("/wallet?payout={}", p.id))),
        Err(e) => {
            let msg = super::sentence(&e.message);
            page(&state, &v, user, None, Some((e.status, msg))).await
        }
    }
}
