//! The public JSON API under `/api`. Each handler is annotated for the OpenAPI document.

pub mod accounts;
pub mod federation;
pub mod iddocs;
pub mod ledger;
pub mod profiles;
pub mod reports;
pub mod rooms;
pub mod settlement;
pub mod socket;

use actix_web::{web, HttpResponse};
use livestars_api::Health;

use super::AppState;

pub fn scope() -> actix_web::Scope {
    // One resource per path, so a wrong method gets 405 (with `Allow`) rather than 404.
    web::scope("/api")
        .service(web::resource("/health").route(web::get().to(health)))
        .service(web::resource("/openapi.json").route(web::get().to(openapi_json)))
        .service(web::resource("/accounts").route(web::post().to(accounts::sign_up)))
        .service(web::resource("/sessions").route(web::post().to(accounts::sign_in)))
        .service(web::resource("/sessions/current").route(web::delete().to(accounts::sign_out)))
        .service(
            web::resource("/me")
                .route(web::get().to(accounts::me))
                .route(web::delete().to(accounts::delete_me)),
        )
        .service(web::resource("/me/model").route(web::post().to(accounts::become_model)))
        .service(web::resource("/me/verification").route(web::get().to(iddocs::verification)))
        .service(web::resource("/iddocs").route(web::post().to(iddocs::upload)))
        .service(web::resource("/iddocs/recipients").route(web::get().to(iddocs::recipients)))
        .service(web::resource("/iddocs/sealed").route(web::post().to(iddocs::upload_sealed)))
        .service(
            web::resource("/iddocs/{id}")
                .route(web::get().to(iddocs::get))
                .route(web::delete().to(iddocs::delete)),
        )
        .service(
            web::resource("/profiles/{username}")
                .route(web::get().to(profiles::get))
                .route(web::patch().to(profiles::update)),
        )
        .service(
            web::resource("/profiles/{username}/follow")
                .route(web::put().to(profiles::follow))
                .route(web::delete().to(profiles::unfollow)),
        )
        .service(
            web::resource("/profiles/{username}/avatar")
                .route(web::get().to(profiles::avatar))
                .route(web::put().to(profiles::set_avatar)),
        )
        .service(web::resource("/rooms").route(web::get().to(rooms::directory)))
        .service(web::resource("/reports").route(web::post().to(reports::file)))
        .service(
            web::resource("/rooms/{id}")
                .route(web::get().to(rooms::get))
                .route(web::patch().to(rooms::update)),
        )
        .service(web::resource("/rooms/{id}/start").route(web::post().to(rooms::start)))
        .service(web::resource("/rooms/{id}/stop").route(web::post().to(rooms::stop)))
        .service(web::resource("/rooms/{id}/tips").route(web::post().to(ledger::tip)))
        .service(web::resource("/rooms/{id}/events").route(web::get().to(settlement::room_events)))
        .service(web::resource("/rooms/{id}/socket").route(web::get().to(socket::socket)))
        .service(
            web::resource("/rooms/{id}/chat")
                .route(web::get().to(socket::get_chat))
                .route(web::post().to(socket::post_chat)),
        )
        .service(web::resource("/me/wallet").route(web::get().to(ledger::wallet)))
        .service(web::resource("/me/wallet/address").route(web::put().to(settlement::bind)))
        .service(web::resource("/settlement").route(web::get().to(settlement::info)))
        .service(web::resource("/wallet/challenges").route(web::post().to(settlement::challenge)))
        .service(
            web::resource("/wallet/sessions").route(web::post().to(settlement::wallet_sign_in)),
        )
        .service(web::resource("/me/deposits").route(web::get().to(settlement::deposits)))
        .service(
            web::resource("/me/payouts")
                .route(web::get().to(settlement::list_payouts))
                .route(web::post().to(settlement::request_payout)),
        )
        .service(web::resource("/me/payouts/{id}").route(web::get().to(settlement::get_payout)))
        .service(web::resource("/federation/lookup").route(web::get().to(federation::lookup)))
        .service(web::resource("/federation/follows").route(web::post().to(federation::follow)))
        .service(
            web::resource("/federation/follows/{handle}")
                .route(web::delete().to(federation::unfollow)),
        )
}

/// Liveness and the database backend in use.
#[utoipa::path(get, path = "/api/health", tag = "instance",
    responses((status = 200, description = "The instance is up", body = Health)))]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        database: state.db.backend().as_str().into(),
    })
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "instance",
    responses((status = 200, description = "The OpenAPI 3 document of this API", content_type = "application/json")))]
pub async fn openapi_json(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi_json.to_string())
}
