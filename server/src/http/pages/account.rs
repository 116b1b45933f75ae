//! The account page: delete one's account, confirmed with the password or, for an account
//! without one, a signature of the bound wallet (through `wallet.js`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use livestars_api::DeleteAccountRequest;
use serde::Deserialize;

use super::{render, see_other, PageError, Viewer};
use crate::http::api::accounts::delete_account;
use crate::http::AppState;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    v: &'a Viewer,
    error: Option<String>,
}

/// `/account`.
pub async fn account(v: Viewer) -> HttpResponse {
    if v.user.is_none() {
        return see_other("/signin?next=/account");
    }
    render(&v, StatusCode::OK, &AccountPage { v: &v, error: None })
}

/// `/deleted`: where a deleted account's browser lands.
pub async fn deleted(v: Viewer) -> HttpResponse {
    render(&v, StatusCode::OK, &DeletedPage { v: &v })
}

#[derive(Template)]
#[template(path = "deleted.html")]
struct DeletedPage<'a> {
    v: &'a Viewer,
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

/// Delete the account with the password; the session cookie goes with it.
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    v: Viewer,
    f: web::Form<DeleteForm>,
) -> Result<HttpResponse, PageError> {
    let user = v.form_user(&f.csrf, "/account")?;
    let confirm = DeleteAccountRequest {
        password: Some(f.password.clone()),
        nonce: None,
        signature: None,
    };
    if let Err(e) = delete_account(&state, &req, user, confirm).await {
        let error = Some(super::sentence(&e.message));
        return Ok(render(&v, e.status, &AccountPage { v: &v, error }));
    }
    super::signed_out("/deleted")
}
