//! HTTP: actix-web routes. `api/` is the public JSON API, `admin/` the console's, `pages/` the
//! pages people open in a browser, `federation` the ActivityPub endpoints.

pub mod admin;
pub mod api;
pub mod auth;
pub mod csrf;
pub mod error;
pub mod federation;
pub mod limits;
pub mod openapi;
pub mod pages;

use std::sync::Arc;

use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, ErrorHandlers};
use actix_web::web;

use crate::config::Config;
use crate::db::Db;
use crate::rooms::directory::Directory;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub directory: Arc<Directory>,
    pub fed: Arc<federation::Fed>,
    /// The OpenAPI document, rendered once at start.
    pub openapi_json: Arc<str>,
    pub settle: Arc<crate::settlement::Service>,
    pub events: Arc<crate::rooms::events::RoomEvents>,
    pub tips: Arc<crate::ledger::batch::TipBatcher>,
    /// Password hashing: bounded threads, each with its own reused memory.
    pub hasher: crate::accounts::Hasher,
    pub limits: Arc<limits::Limits>,
}

/// Register every route, extractor configuration and middleware on an actix `App`.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let json = web::JsonConfig::default()
            .limit(state.config.max_json_bytes)
            .error_handler(|err, _req| error::json_error(err).into());
        let query = web::QueryConfig::default().error_handler(|err, _req| {
            error::ApiError::bad_request("invalid_query", err.to_string()).into()
        });
        let path = web::PathConfig::default().error_handler(|err, _req| {
            error::ApiError::new(
                actix_web::http::StatusCode::NOT_FOUND,
                "not_found",
                err.to_string(),
            )
            .into()
        });
        let payload = web::PayloadConfig::new(state.config.max_json_bytes);
        let state_max_bytes = state.config.federation_max_bytes;
        cfg.app_data(json)
            .app_data(query)
            .app_data(path)
            .app_data(payload)
            .app_data(web::Data::new(state))
            .service(admin::scope())
            .service(api::scope())
            .configure(|c| federation::configure(c, state_max_bytes))
            .configure(pages::configure);
    }
}

/// Middleware shared by the server and the tests: JSON errors everywhere, safe default headers.
pub fn error_handlers<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(error::jsonify_error)
}

pub fn default_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
}

/// Nothing at this address: an HTML page for a browser, the JSON error for everyone else.
pub async fn not_found(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    use actix_web::ResponseError;
    let status = actix_web::http::StatusCode::NOT_FOUND;
    if !req.path().starts_with("/api/") && pages::wants_html(&req) {
        return pages::error_page(status);
    }
    error::ApiError::from_status(status).error_response()
}
