//! Who is calling: the bearer token (`Authorization: Bearer …`) or the `livestars_session`
//! cookie, looked up in the sessions table.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{web, FromRequest, HttpRequest};
use chrono::Duration;

use super::error::ApiError;
use super::AppState;
use crate::accounts::hashing::HashError;
use crate::accounts::{self, AccountError, Password, TokenKind, User, Username};

pub const SESSION_COOKIE: &str = "livestars_session";

/// The signed-in account of a request, and the token it used.
pub struct CurrentUser {
    pub user: User,
    pub token: String,
}

fn token_of(req: &HttpRequest) -> Option<String> {
    if let Some(value) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(token.trim().to_string());
        }
        return None;
    }
    req.cookie(SESSION_COOKIE).map(|c| c.value().to_string())
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<CurrentUser, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = token_of(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            // A well-formed token is 64 hex characters; anything else cannot match.
            let token = token
                .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or(AccountError::Unauthenticated)?;
            let t = token.clone();
            let user = state
                .db
                .read(move |conn| accounts::authenticate(conn, &t))
                .await?;
            Ok(CurrentUser { user, token })
        })
    }
}

/// A signed-in admin (by session or admin API token). Anyone else gets 401 or 403.
pub struct AdminUser(pub User);

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<AdminUser, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let current = CurrentUser::from_request(req, payload);
        Box::pin(async move {
            let current = current.await?;
            if current.user.role() != livestars_api::Role::Admin {
                return Err(AccountError::Forbidden("only admins may do this").into());
            }
            Ok(AdminUser(current.user))
        })
    }
}

/// Create a viewer account (API and sign-up page): checked input, the address's sign-up limit,
/// the hash on the bounded hasher outside the transaction, then one write.
pub async fn create_account(
    state: &AppState,
    req: &HttpRequest,
    username: &str,
    password: &str,
    referrer: Option<String>,
) -> Result<accounts::User, ApiError> {
    let username = Username::parse(username).map_err(AccountError::InvalidUsername)?;
    let password = Password::parse(password).map_err(AccountError::InvalidPassword)?;
    state.limits.by_ip(&state.limits.sign_up_ip, req)?;
    let hash = state.hasher.hash(password).await.map_err(|e| match e {
        HashError::Busy(b) => AccountError::Busy(b),
        HashError::Failed(m) => AccountError::Hashing(m),
    })?;
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
    Ok(user)
}

/// A new session for `user`, issued only if the account is still active at this commit.
pub async fn open_session(
    state: &AppState,
    user: &accounts::User,
) -> Result<(String, Option<chrono::NaiveDateTime>), ApiError> {
    let days = state.config.session_days;
    let user_id = user.id;
    Ok(state
        .db
        .write(move |conn| {
            accounts::issue_token(
                conn,
                user_id,
                TokenKind::Session,
                Some(Duration::days(i64::from(days))),
            )
        })
        .await?)
}

/// The session cookie for `token`: HttpOnly, SameSite=Lax, Secure on https.
pub fn session_cookie(state: &AppState, token: String) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.public_base().starts_with("https://"))
        .max_age(actix_web::cookie::time::Duration::days(i64::from(
            state.config.session_days,
        )))
        .finish()
}

/// Check `username`'s password under the sign-in limits: a token of the caller's address, and
/// an account whose recent failures are spent is refused before any hashing. A failure takes a
/// token of the account's failure bucket; a success clears it. The check runs on the bounded
/// hasher, outside every transaction.
pub async fn check_password_limited(
    state: &AppState,
    req: &HttpRequest,
    username: &str,
    password: String,
) -> Result<accounts::User, ApiError> {
    let limits = &state.limits;
    limits.by_ip(&limits.sign_in_ip, req)?;
    let account_key = format!("name:{}", username.to_lowercase());
    limits
        .sign_in_failures
        .check(&account_key)
        .map_err(ApiError::rate_limited)?;
    if password.len() > 1024 {
        return Err(AccountError::BadCredentials.into());
    }
    let name = username.to_string();
    let found = state
        .db
        .read(move |conn| accounts::credentials(conn, &name))
        .await?;
    match accounts::check_password(&state.hasher, found, password).await {
        Err(AccountError::BadCredentials) => {
            let _ = limits.sign_in_failures.take(&account_key);
            Err(AccountError::BadCredentials.into())
        }
        Err(e) => Err(e.into()),
        Ok(user) => {
            limits.sign_in_failures.clear(&account_key);
            Ok(user)
        }
    }
}
