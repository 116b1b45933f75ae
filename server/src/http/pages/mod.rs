//! The web app: server-rendered pages for viewers and models (askama templates in
//! `server/web/templates`, checked at compile time; assets in `server/web/static`, embedded in
//! the binary). Pages work without JavaScript; forms post back to the page that shows them.
//!
//! Every page answer carries a strict Content-Security-Policy (no inline script or style, no
//! other origin), and every form carries the CSRF token of the `livestars_csrf` cookie
//! (random, HttpOnly, SameSite=Strict): a post without the matching token changes nothing.
//! The cross-site checks of [`crate::http::csrf`] apply too.

mod account;
mod accounts;
mod assets;
mod directory;
mod following;
mod models;
mod studio;
mod wallet;

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use askama::Template;

use super::auth::SESSION_COOKIE;
use super::error::ApiError;
use super::AppState;
use crate::accounts::User;

/// The CSRF cookie of the pages' forms.
pub const CSRF_COOKIE: &str = "livestars_csrf";

/// The page routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(directory::home)))
        .service(web::resource("/tags/{tag}").route(web::get().to(directory::tag)))
        .service(
            web::resource("/signup")
                .route(web::get().to(accounts::sign_up_page))
                .route(web::post().to(accounts::sign_up)),
        )
        .service(
            web::resource("/signin")
                .route(web::get().to(accounts::sign_in_page))
                .route(web::post().to(accounts::sign_in)),
        )
        .service(web::resource("/signout").route(web::post().to(accounts::sign_out)))
        .service(web::resource("/@{handle}").route(web::get().to(models::model)))
        .service(web::resource("/@{handle}/follow").route(web::post().to(models::follow)))
        .service(web::resource("/following").route(web::get().to(following::following)))
        .service(
            web::resource("/@{name}/live")
                .route(web::get().to(models::room))
                .route(web::post().to(models::tip)),
        )
        .service(web::resource("/account").route(web::get().to(account::account)))
        .service(web::resource("/account/delete").route(web::post().to(account::delete)))
        .service(web::resource("/deleted").route(web::get().to(account::deleted)))
        .service(web::resource("/@{name}/live/report").route(web::post().to(models::report)))
        .service(web::resource("/studio").route(web::get().to(studio::studio)))
        .service(web::resource("/studio/{form}").route(web::post().to(studio::post)))
        .service(web::resource("/wallet").route(web::get().to(wallet::wallet)))
        .service(web::resource("/wallet/payouts").route(web::post().to(wallet::withdraw_form)))
        .service(web::resource("/static/{file}").route(web::get().to(assets::asset)));
}

/// The Content-Security-Policy of every page: our own scripts, styles and images only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// Who is looking at a page, and the CSRF token its forms carry.
pub struct Viewer {
    pub user: Option<User>,
    pub csrf: String,
    /// The token was made for this answer: set its cookie.
    new_csrf: bool,
    /// The instance's name for the header.
    pub instance: String,
}

impl Viewer {
    /// Nobody signed in, no forms (error pages outside a handler).
    fn anonymous() -> Viewer {
        Viewer {
            user: None,
            csrf: String::new(),
            new_csrf: false,
            instance: "Live Stars".into(),
        }
    }

    pub fn username(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.username.as_str())
    }

    /// Whether a posted form's token is this browser's (constant time).
    /// The signed-in user of a posted form whose CSRF token is right; a visitor who is not
    /// signed in is sent to sign in, then back to `next`.
    pub fn form_user(&self, csrf: &str, next: &str) -> Result<User, PageError> {
        self.check_csrf(csrf)?;
        self.user.clone().ok_or_else(|| PageError::sign_in(next))
    }

    pub fn check_csrf(&self, posted: &str) -> Result<(), PageError> {
        let (a, b) = (self.csrf.as_bytes(), posted.as_bytes());
        let same = !self.new_csrf
            && a.len() == b.len()
            && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
        if same {
            Ok(())
        } else {
            Err(PageError::new(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this site. Reload the page and try again.",
            ))
        }
    }
}

fn fresh_token() -> String {
    let mut b = [0u8; 32];
    // getrandom fails only without an OS random source; then forms are refused, never weak.
    if getrandom::fill(&mut b).is_err() {
        return String::new();
    }
    hex::encode(b)
}

impl FromRequest for Viewer {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Viewer, PageError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let session = req
            .cookie(SESSION_COOKIE)
            .map(|c| c.value().to_string())
            .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()));
        let csrf = req
            .cookie(CSRF_COOKIE)
            .map(|c| c.value().to_string())
            .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()));
        Box::pin(async move {
            let state =
                state.ok_or_else(|| PageError::from(ApiError::internal("state missing")))?;
            let user = match session {
                // A suspended account or an expired session reads as signed out.
                Some(token) => state
                    .db
                    .read(move |c| crate::accounts::authenticate(c, &token))
                    .await
                    .ok(),
                None => None,
            };
            let (csrf, new_csrf) = match csrf {
                Some(t) => (t, false),
                None => (fresh_token(), true),
            };
            Ok(Viewer {
                user,
                csrf,
                new_csrf,
                instance: state.fed.domain.clone(),
            })
        })
    }
}

/// An HTML answer with the page headers (and the CSRF cookie when it is new).
pub fn html(viewer: &Viewer, status: StatusCode, body: String) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    page_headers(&mut res);
    if viewer.new_csrf && !viewer.csrf.is_empty() {
        res.cookie(
            Cookie::build(CSRF_COOKIE, viewer.csrf.clone())
                .path("/")
                .http_only(true)
                .same_site(SameSite::Strict)
                .finish(),
        );
    }
    res.content_type("text/html; charset=utf-8").body(body)
}

fn page_headers(res: &mut actix_web::HttpResponseBuilder) {
    // `same-origin`, not the API's `no-referrer`: under `no-referrer` a browser sends
    // `Origin: null` with the page's own forms, which the cross-site check must refuse.
    // Other sites still learn nothing of where a visitor came from.
    res.insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::CACHE_CONTROL, "no-store"));
}

/// Render a template as a page answer.
pub fn render(viewer: &Viewer, status: StatusCode, t: &impl Template) -> HttpResponse {
    match t.render() {
        Ok(body) => html(viewer, status, body),
        Err(e) => PageError::from(ApiError::internal(e)).page(Some(viewer)),
    }
}

/// A redirect after a successful form (303: the browser gets the page).
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_string()))
        .finish()
}

/// A redirect to `to` that also removes the session cookie (signed out, or account deleted).
pub fn signed_out(to: &str) -> Result<HttpResponse, PageError> {
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    let mut res = see_other(to);
    res.add_cookie(&gone)
        .map_err(|e| PageError::from(ApiError::internal(e)))?;
    Ok(res)
}

/// A page that could not be shown: its status and a message for a person.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
    /// Where to send the browser instead of showing an error (to sign in first).
    redirect: Option<String>,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        PageError {
            status,
            message: message.into(),
            redirect: None,
        }
    }

    /// Not signed in: to the sign-in page, then back to `next`.
    pub fn sign_in(next: &str) -> Self {
        PageError {
            status: StatusCode::SEE_OTHER,
            message: "sign in first".into(),
            redirect: Some(format!("/signin?next={next}")),
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} was not found."))
    }

    fn page(&self, viewer: Option<&Viewer>) -> HttpResponse {
        let anonymous = Viewer::anonymous();
        let t = ErrorPage {
            v: viewer.unwrap_or(&anonymous),
            status: self.status.as_u16(),
            message: &self.message,
        };
        let body = t
            .render()
            .unwrap_or_else(|_| "<!doctype html><title>Error</title>".into());
        let mut res = HttpResponse::build(self.status);
        page_headers(&mut res);
        res.content_type("text/html; charset=utf-8").body(body)
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError::new(e.status, sentence(&e.message))
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl actix_web::ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        match &self.redirect {
            Some(to) => see_other(to),
            None => self.page(None),
        }
    }
}

/// A message as a sentence: capital first letter, final full stop.
pub fn sentence(m: &str) -> String {
    let mut c = m.trim().chars();
    let mut s: String = match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => return String::new(),
    };
    if !s.ends_with(['.', '!', '?']) {
        s.push('.');
    }
    s
}

/// The page of an error (unknown address, refused form, server fault).
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    v: &'a Viewer,
    status: u16,
    message: &'a str,
}

/// The HTML page for an error status produced outside the pages (unknown path, method).
pub fn error_page(status: StatusCode) -> HttpResponse {
    let message = match status {
        StatusCode::NOT_FOUND => "There is nothing at this address.",
        StatusCode::METHOD_NOT_ALLOWED => "This address does not take that kind of request.",
        s if s.is_server_error() => "Something went wrong on our side; it has been logged.",
        _ => "The request could not be handled.",
    };
    PageError::new(status, message).page(None)
}

/// Whether a request asks for an HTML page rather than ActivityStreams JSON (a browser's
/// navigation; an ActivityPub client names its media type).
pub fn wants_html(req: &HttpRequest) -> bool {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    accept.contains("text/html")
        && !accept.contains("application/activity+json")
        && !accept.contains("application/ld+json")
}

/// LIVE with its USD value when a price is known: `"12.5 LIVE (≈ $0.63)"`.
pub fn live_and_usd(units: i64, rate: Option<crate::money::Rate>) -> String {
    let live = crate::money::format_amount(units);
    match rate {
        Some(r) => format!("{live} LIVE (≈ ${})", r.usd(units)),
        None => format!("{live} LIVE"),
    }
}
