//! Sign-up, sign-in, sign-out, the current account, and becoming a model.

use actix_web::cookie::Cookie;
use actix_web::{web, HttpRequest, HttpResponse};
use livestars_api::{
    Account, DeleteAccountRequest, ErrorBody, Session, SignInRequest, SignUpRequest,
};

use crate::accounts;
use crate::http::auth::{
    check_password_limited, create_account, open_session, session_cookie, CurrentUser,
    SESSION_COOKIE,
};
use crate::http::error::ApiError;
use crate::http::AppState;

/// Create a viewer account: username and password only, no personal data.
#[utoipa::path(post, path = "/api/accounts", tag = "accounts", request_body = SignUpRequest,
    responses(
        (status = 201, description = "Account created", body = Account),
        (status = 400, description = "Invalid username, password or JSON", body = ErrorBody),
        (status = 409, description = "Username taken", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "Too many sign-ups from this address; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many password hashes at once; see Retry-After", body = ErrorBody)))]
pub async fn sign_up(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<SignUpRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let user = create_account(&state, &req, &body.username, &body.password, body.referrer).await?;
    Ok(HttpResponse::Created().json(user.to_api()))
}

/// Sign in; the session token comes back in the body and as an HttpOnly cookie.
#[utoipa::path(post, path = "/api/sessions", tag = "accounts", request_body = SignInRequest,
    responses(
        (status = 200, description = "Signed in", body = Session),
        (status = 400, description = "Invalid JSON", body = ErrorBody),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 403, description = "The account is suspended", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address or for this account; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many password checks at once; see Retry-After", body = ErrorBody)))]
pub async fn sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<SignInRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let user = check_password_limited(&state, &req, &body.username, body.password).await?;
    let (token, expires_at) = open_session(&state, &user).await?;
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
    let cookie = session_cookie(state, token.clone());
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
    Ok(HttpResponse::Ok().json(user.to_api()))
}

/// Delete one's account, confirmed with the password or a signature of the bound wallet. Her
/// ID documents are deleted (under the instance's retention policy), a running show ends, her
/// profile, avatar, room and sessions go, and her followers on other instances are told
/// (`Delete` of her actor). Her username stays reserved so that nobody else can take her
/// address. An account with LIVE left, or a payout
/// on its way, is not deleted (409): she withdraws first — nothing is left behind.
#[utoipa::path(delete, path = "/api/me", tag = "accounts",
    request_body = DeleteAccountRequest, security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Invalid JSON", body = ErrorBody),
        (status = 401, description = "Not signed in, wrong password, or a signature not by the bound wallet", body = ErrorBody),
        (status = 404, description = "Unknown challenge", body = ErrorBody),
        (status = 410, description = "Challenge expired", body = ErrorBody),
        (status = 403, description = "The account is suspended", body = ErrorBody),
        (status = 409, description = "LIVE left on the account, a payout on its way, or the challenge used already", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many password checks at once; see Retry-After", body = ErrorBody)))]
pub async fn delete_me(
    state: web::Data<AppState>,
    req: HttpRequest,
    current: CurrentUser,
    body: web::Json<DeleteAccountRequest>,
) -> Result<HttpResponse, ApiError> {
    delete_account(&state, &req, current.user, body.into_inner()).await?;
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}

/// Delete `user`'s account once she confirmed it (API and account page): see [`delete_me`].
pub async fn delete_account(
    state: &AppState,
    req: &HttpRequest,
    user: accounts::User,
    body: DeleteAccountRequest,
) -> Result<(), ApiError> {
    match (body.password, body.nonce, body.signature) {
        // The password is checked first, on the hasher, outside the write transaction: a slow
        // hash never holds the database's writer lock.
        (Some(password), None, None) => {
            check_password_limited(state, req, &user.username, password).await?;
        }
        // Or the bound wallet signs a `delete_account` challenge (its nonce is used up even
        // if the deletion is then refused, e.g. with LIVE left: ask for a new one).
        (None, Some(nonce), Some(signature)) => {
            use crate::settlement::wallets as w;
            let uid = user.id;
            let n = nonce.clone();
            let signer = state
                .db
                .read(move |conn| w::verify(conn, &n, &signature, w::Purpose::Delete))
                .await?;
            state
                .db
                .write(move |conn| {
                    if w::bound_address(conn, uid)? != Some(signer) {
                        return Err(crate::settlement::SettlementError::BadSignature);
                    }
                    w::consume(conn, &nonce, w::Purpose::Delete)
                })
                .await?;
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "confirm with either password, or nonce and signature",
            ))
        }
    }
    let retention = state.config.retention().map_err(ApiError::internal)?;
    let (base, mode) = (state.fed.base.clone(), state.fed.default_mode.clone());
    state
        .db
        .write(move |conn| crate::lifecycle::delete_account(conn, &user, retention, (&base, &mode)))
        .await?;
    Ok(())
}
