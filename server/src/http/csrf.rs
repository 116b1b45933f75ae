//! Cross-site request forgery: a state-changing request must come from our own pages.
//!
//! Two rules for every method but GET, HEAD and OPTIONS:
//! - Under `/api`, a body a browser can send cross-site without asking first — a form
//!   (`application/x-www-form-urlencoded`, `multipart/form-data`) or `text/plain` — is refused
//!   with 415, whatever the credentials: the API takes JSON (and raw uploads as
//!   `application/octet-stream`, which a cross-site page cannot send without a CORS preflight
//!   that we never grant).
//! - A request that rides on the session cookie (no `Authorization` header) whose `Origin`
//!   is not this instance's public origin, or whose `Sec-Fetch-Site` says another site, is
//!   refused with 403 `cross_site`. Browsers send at least one of them on every such request;
//!   a request with neither comes from a program, which holds the cookie itself.
//!
//! Bearer tokens are not sent by browsers on their own, so they need neither rule's second half.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web;

use super::auth::SESSION_COOKIE;
use super::error::ApiError;
use super::AppState;

/// `scheme://host[:port]` of a base URL, lower case, without a default port.
pub fn origin_of(base: &str) -> String {
    let base = base.trim().to_ascii_lowercase();
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base.as_str()));
    let authority = rest.split('/').next().unwrap_or("");
    let authority = match scheme {
        "https" => authority.strip_suffix(":443").unwrap_or(authority),
        "http" => authority.strip_suffix(":80").unwrap_or(authority),
        _ => authority,
    };
    format!("{scheme}://{authority}")
}

fn is_simple_body(req: &ServiceRequest) -> bool {
    let Some(ct) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    matches!(
        essence,
        "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain"
    )
}

/// Why a cookie-authenticated request is refused, if it is.
fn cross_site(req: &ServiceRequest, ours: &str) -> Option<&'static str> {
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if origin_of(origin) != ours || origin.eq_ignore_ascii_case("null") {
            return Some("the request comes from another site");
        }
    }
    if let Some(site) = req.headers().get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("");
        if !matches!(site, "same-origin" | "none") {
            return Some("the request comes from another site");
        }
    }
    None
}

pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        if req.path().starts_with("/api/") && is_simple_body(&req) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            )
            .into());
        }
        let by_cookie = !req.headers().contains_key(header::AUTHORIZATION)
            && req.cookie(SESSION_COOKIE).is_some();
        if by_cookie {
            let ours = req
                .app_data::<web::Data<AppState>>()
                .map(|s| origin_of(&s.config.public_base()))
                .unwrap_or_default();
            if let Some(why) = cross_site(&req, &ours) {
                return Err(ApiError::new(StatusCode::FORBIDDEN, "cross_site", why).into());
            }
        }
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn origins_compare_as_browsers_send_them() {
        assert_eq!(origin_of("https://Stars.Example/"), "https://stars.example");
        assert_eq!(
            origin_of("https://stars.example:443"),
            "https://stars.example"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080/x"),
            "http://127.0.0.1:8080"
        );
        assert_ne!(
            origin_of("https://stars.example.evil"),
            "https://stars.example"
        );
    }
}
