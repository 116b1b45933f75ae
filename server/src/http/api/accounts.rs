//! Sign-up, sign-in, sign-out, the current account, and becoming a model.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{web, HttpResponse};
use chrono::Duration;
use livestars_api::{
    Account, DeleteAccountRequest, ErrorBody, Session, SignInRequest, SignUpRequest,
};

use crate::accounts::{self, AccountError, Password, TokenKind, Username};
use crate::http::auth::{CurrentUser, SESSION_COOKIE};
use crate::http::error::ApiError;
use crate::http::AppState;

/// Create a viewer account: username and password only, no personal data.
#[utoipa::path(post, path = "/api/accounts", tag = "accounts", request_body = SignUpRequest,
    responses(
        (status = 201, description = "Account created", body = Account),
        (status = 400, description = "Invalid username, password or JSON", body = ErrorBody),
        (status = 409, description = "Username taken", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody)))]
pub async fn sign_up(
    state: web::Data<AppState>,
    body: web::Json<SignUpRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let username = Username::parse(&body.username).map_err(AccountError::InvalidUsername)?;
    let password = Password::parse(&body.password).map_err(AccountError::InvalidPassword)?;
    let hash = tokio::task::spawn_blocking(move || accounts::hash_password(&password))
        .await
        .map_err(ApiError::internal)??;
    let referrer = body.referrer.clone();
    let user = state
        .db
        .write(move |conn| {
            let user = accounts::create_user(conn, &username, &hash, livestars_api::Role::Viewer)?;
            if let Some(r) = referrer.filter(|r| !r.trim().is_empty()) {
                accounts::set_referrer(conn, user.id, r.trim())?;
            }
            Ok::<_, AccountError>(user)
        })
        .await?;
    Ok(HttpResponse::Created().json(user.to_api()))
}

/// Sign in; the session token comes back in the body and as an HttpOnly cookie.
#[utoipa::path(post, path = "/api/sessions", tag = "accounts", request_body = SignInRequest,
    responses(
        (status = 200, description = "Signed in", body = Session),
        (status = 400, description = "Invalid JSON", body = ErrorBody),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody)))]
pub async fn sign_in(
    state: web::Data<AppState>,
    body: web::Json<SignInRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.password.len() > 1024 {
        return Err(AccountError::BadCredentials.into());
    }
    let days = state.config.session_days;
    // The argon2 check runs outside the write transaction: on SQLite writers queue behind one
    // another, and a slow hash must not hold everyone else's writes.
    let user = state
        .db
        .read(move |conn| accounts::check_credentials(conn, &body.username, &body.password))
        .await?;
    let user_id = user.id;
    let (token, expires_at) = state
        .db
        .write(move |conn| {
            accounts::issue_token(
                conn,
                user_id,
                TokenKind::Session,
                Some(Duration::days(i64::from(days))),
            )
        })
        .await?;
    session_response(&state, HttpResponse::Ok(), &user, token, expires_at)
}

/// The answer to a successful sign-in: the token in the body and as an HttpOnly cookie.
pub fn session_response(
    state: &AppState,
    mut builder: actix_web::HttpResponseBuilder,
    user: &accounts::User,
    token: String,
    expires_at: Option<chrono::NaiveDateTime>,
) -> Result<HttpResponse, ApiError> {
    let expires_at = expires_at
        .ok_or_else(|| ApiError::internal("session without expiry"))?
        .and_utc();
    let cookie = Cookie::build(SESSION_COOKIE, token.clone())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.public_base().starts_with("https://"))
        .max_age(actix_web::cookie::time::Duration::days(i64::from(
            state.config.session_days,
        )))
        .finish();
    Ok(builder.cookie(cookie).json(Session {
        token,
        expires_at,
        account: user.to_api(),
    }))
}

/// End the current session (the token stops working at once) and clear the cookie.
#[utoipa::path(delete, path = "/api/sessions/current", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = ErrorBody)))]
pub async fn sign_out(
    state: web::Data<AppState>,
    current: CurrentUser,
) -> Result<HttpResponse, ApiError> {
    let token = current.token;
    state
        .db
        .write(move |conn| accounts::revoke_token(conn, &token))
        .await?;
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/me", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = Account),
        (status = 401, description = "Not signed in", body = ErrorBody)))]
pub async fn me(current: CurrentUser) -> HttpResponse {
    HttpResponse::Ok().json(current.user.to_api())
}

/// A viewer becomes a model: her profile and room are created.
#[utoipa::path(post, path = "/api/me/model", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 200, description = "The account, now a model", body = Account),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 409, description = "Already a model, or an admin", body = ErrorBody)))]
pub async fn become_model(
    state: web::Data<AppState>,
    current: CurrentUser,
) -> Result<HttpResponse, ApiError> {
    let user = current.user;
    let user = state
        .db
        .write(move |conn| accounts::become_model(conn, &user))
        .await?;
    state.directory.invalidate();
    Ok(HttpResponse::Ok().json(user.to_api()))
}

/// Delete one's account, confirmed with the password. Her ID documents are deleted (under the
/// instance's retention policy), a running show ends, her profile, avatar, room and sessions go,
/// and her followers on other instances are told (`Delete` of her actor). Her username stays
/// reserved so that nobody else can take her address. An account with LIVE left, or a payout
/// on its way, is not deleted (409): she withdraws first — nothing is left behind.
#[utoipa::path(delete, path = "/api/me", tag = "accounts",
    request_body = DeleteAccountRequest, security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Invalid JSON", body = ErrorBody),
        (status = 401, description = "Not signed in, or wrong password", body = ErrorBody),
        (status = 403, description = "The account is suspended", body = ErrorBody),
        (status = 409, description = "LIVE left on the account, or a payout on its way", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody)))]
pub async fn delete_me(
    state: web::Data<AppState>,
    current: CurrentUser,
    body: web::Json<DeleteAccountRequest>,
) -> Result<HttpResponse, ApiError> {
    let user = current.user;
    let password = body.into_inner().password;
    let retention = state.config.retention().map_err(ApiError::internal)?;
    let (base, mode) = (state.fed.base.clone(), state.fed.default_mode.clone());
    let after = state
        .db
        .write(move |conn| {
            accounts::delete_account(conn, &user, &password, retention, (&base, &mode))
        })
        .await?;
    crate::http::api::iddocs::apply(&state, after).await;
    state.fed.notify.notify_one();
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}
