//! Sign up, sign in and sign out in the browser: username and password, nothing personal.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{render, see_other, PageError, Viewer};
use crate::http::auth::{check_password_limited, create_account, open_session, session_cookie};
use crate::http::AppState;

#[derive(Deserialize)]
pub struct AccountForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    /// Sign-up only: the referral code of the link she came by.
    #[serde(default)]
    referrer: String,
    /// Where to go after signing in (a local path only).
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
    /// A referral code from a shared link (`/signup?ref=…`).
    #[serde(default, rename = "ref")]
    referrer: String,
}

#[derive(Template)]
#[template(path = "account_form.html")]
struct AccountPage<'a> {
    v: &'a Viewer,
    signup: bool,
    error: Option<String>,
    username: &'a str,
    referrer: &'a str,
    next: &'a str,
}

/// A path on this site to return to, or the home page: never another origin.
fn local_path(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if ok {
        next
    } else {
        "/"
    }
}

fn form_page(
    v: &Viewer,
    signup: bool,
    status: StatusCode,
    error: Option<String>,
    f: &AccountForm,
) -> HttpResponse {
    render(
        v,
        status,
        &AccountPage {
            v,
            signup,
            error,
            username: &f.username,
            referrer: &f.referrer,
            next: local_path(&f.next),
        },
    )
}

fn blank(referrer: String, next: String) -> AccountForm {
    AccountForm {
        csrf: String::new(),
        username: String::new(),
        password: String::new(),
        referrer,
        next,
    }
}

pub async fn sign_up_page(v: Viewer, q: web::Query<NextQuery>) -> HttpResponse {
    let q = q.into_inner();
    form_page(&v, true, StatusCode::OK, None, &blank(q.referrer, q.next))
}

pub async fn sign_in_page(v: Viewer, q: web::Query<NextQuery>) -> HttpResponse {
    let q = q.into_inner();
    form_page(
        &v,
        false,
        StatusCode::OK,
        None,
        &blank(String::new(), q.next),
    )
}

/// End the session this browser's cookie carries, if any (the token stops working at once).
async fn end_cookie_session(state: &AppState, req: &HttpRequest) -> Result<(), PageError> {
    if let Some(token) = req.cookie(crate::http::auth::SESSION_COOKIE) {
        let token = token.value().to_string();
        state
            .db
            .write(move |conn| crate::accounts::revoke_token(conn, &token))
            .await
            .map_err(crate::http::error::ApiError::from)?;
    }
    Ok(())
}

/// A new session for `user`, its cookie, and on to `next` (a path on this site). A session
/// the browser already had ends: signing in again leaves no second token behind.
async fn signed_in(
    state: &AppState,
    req: &HttpRequest,
    user: &crate::accounts::User,
    next: &str,
) -> Result<HttpResponse, PageError> {
    end_cookie_session(state, req).await?;
    let (token, _) = open_session(state, user).await?;
    let mut res = see_other(local_path(next));
    res.add_cookie(&session_cookie(state, token))
        .map_err(|e| PageError::from(crate::http::error::ApiError::internal(e)))?;
    Ok(res)
}

/// Create the account and sign her in at once.
pub async fn sign_up(
    state: web::Data<AppState>,
    req: HttpRequest,
    v: Viewer,
    f: web::Form<AccountForm>,
) -> Result<HttpResponse, PageError> {
    let f = f.into_inner();
    v.check_csrf(&f.csrf)?;
    let referrer = Some(f.referrer.clone()).filter(|r| !r.trim().is_empty());
    let user = match create_account(&state, &req, &f.username, &f.password, referrer).await {
        Ok(u) => u,
        Err(e) => {
            let status = e.status;
            return Ok(form_page(
                &v,
                true,
                status,
                Some(super::sentence(&e.message)),
                &f,
            ));
        }
    };
    signed_in(&state, &req, &user, &f.next).await
}

pub async fn sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    v: Viewer,
    f: web::Form<AccountForm>,
) -> Result<HttpResponse, PageError> {
    let f = f.into_inner();
    v.check_csrf(&f.csrf)?;
    let user = match check_password_limited(&state, &req, &f.username, f.password.clone()).await {
        Ok(u) => u,
        Err(e) => {
            let status = e.status;
            return Ok(form_page(
                &v,
                false,
                status,
                Some(super::sentence(&e.message)),
                &f,
            ));
        }
    };
    signed_in(&state, &req, &user, &f.next).await
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// End this browser's session (the token stops working at once).
pub async fn sign_out(
    state: web::Data<AppState>,
    req: HttpRequest,
    v: Viewer,
    f: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    v.check_csrf(&f.csrf)?;
    end_cookie_session(&state, &req).await?;
    super::signed_out("/")
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local_path("/@anna/live"), "/@anna/live");
        for bad in ["//evil.example", "https://evil.example", "/\\evil", "", "x"] {
            assert_eq!(local_path(bad), "/", "{bad}");
        }
    }
}
