//! The OpenAPI 3 document, generated from the handlers' annotations and the API types.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, api};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Live Stars instance API",
        description = "JSON API of a Live Stars instance. Errors are `{\"error\": code, \"message\": text}`; see docs/api.md.",
        license(name = "AGPL-3.0-only")
    ),
    paths(
        api::health,
        api::openapi_json,
        api::accounts::sign_up,
        api::accounts::sign_in,
        api::accounts::sign_out,
        api::accounts::me,
        api::accounts::delete_me,
        api::accounts::become_model,
        api::profiles::get,
        api::profiles::update,
        api::profiles::avatar,
        api::profiles::set_avatar,
        api::profiles::follow,
        api::socket::post_chat,
        api::socket::get_chat,
        api::profiles::unfollow,
        api::rooms::directory,
        api::rooms::get,
        api::rooms::update,
        api::rooms::start,
        api::rooms::stop,
        api::iddocs::upload,
        api::iddocs::recipients,
        api::iddocs::upload_sealed,
        api::iddocs::get,
        api::iddocs::delete,
        api::iddocs::verification,
        admin::list_verifiers,
        admin::add_verifier,
        admin::remove_verifier,
        admin::list_documents,
        admin::ciphertext,
        admin::get_key,
        admin::put_key,
        admin::decide,
        admin::audit,
        admin::moderation::stats,
        admin::moderation::users,
        admin::moderation::suspend,
        admin::moderation::unsuspend,
        admin::moderation::set_role,
        admin::moderation::tokens,
        admin::moderation::revoke_token,
        admin::moderation::end_show,
        admin::moderation::reports,
        admin::moderation::resolve,
        api::reports::file,
        api::ledger::tip,
        api::ledger::wallet,
        api::settlement::info,
        api::settlement::challenge,
        api::settlement::bind,
        api::settlement::wallet_sign_in,
        api::settlement::deposits,
        api::settlement::request_payout,
        api::settlement::list_payouts,
        api::settlement::get_payout,
        api::settlement::room_events,
        api::federation::lookup,
        api::federation::follow,
        api::federation::unfollow,
        admin::ledger::overview,
        admin::federation::get_policy,
        admin::federation::set_mode,
        admin::federation::set_domain,
        admin::federation::instances_list,
    ),
    // Types referenced only from query parameters are not collected from the paths.
    components(schemas(livestars_api::DirectoryScope, livestars_api::RoomStatus)),
    modifiers(&Security),
    tags(
        (name = "instance", description = "Health and this document"),
        (name = "accounts", description = "Sign-up, sessions, roles"),
        (name = "profiles", description = "Model profiles and avatars"),
        (name = "rooms", description = "Rooms, shows and the ranked directory"),
        (name = "iddocs", description = "A model's age-encrypted ID document and verification"),
        (name = "admin", description = "The admin API used by the console"),
        (name = "ledger", description = "LIVE balance, history and tips"),
        (name = "settlement", description = "Wallets, deposits, payouts and the USD rate"),
        (name = "federation", description = "Finding and following models on other instances"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::http::auth::SESSION_COOKIE,
            ))),
        );
    }
}

/// The document as JSON text.
pub fn render() -> String {
    ApiDoc::openapi()
        .to_json()
        .unwrap_or_else(|e| format!("{{\"error\":\"openapi\",\"message\":\"{e}\"}}"))
}
