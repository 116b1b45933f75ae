//! Who is calling: the bearer token (`Authorization: Bearer …`) or the `livestars_session`
//! cookie, looked up in the sessions table.

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};

use super::error::ApiError;
use super::AppState;
use crate::accounts::{self, AccountError, User};

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
