//! The admin API under `/api/admin`, used by the console. Every route requires an admin (a
//! signed-in admin account or an admin API token).

pub mod federation;
pub mod ledger;
pub mod moderation;

use actix_web::{web, HttpResponse};
use livestars_api::{
    AdminDocumentQuery, AdminIdDocument, AuditEvent, AuditQuery, Decision, ErrorBody, IdDocument,
    NewVerifier, Rewrap, VerificationState, Verifier, WrappedKey,
};

use super::auth::AdminUser;
use super::error::ApiError;
use super::AppState;
use crate::iddocs::{self, storage};

pub fn scope() -> actix_web::Scope {
    web::scope("/api/admin")
        .service(
            web::resource("/verifiers")
                .route(web::get().to(list_verifiers))
                .route(web::post().to(add_verifier)),
        )
        .service(web::resource("/verifiers/{id}").route(web::delete().to(remove_verifier)))
        .service(web::resource("/iddocs").route(web::get().to(list_documents)))
        .service(web::resource("/iddocs/{id}/ciphertext").route(web::get().to(ciphertext)))
        .service(
            web::resource("/iddocs/{id}/key")
                .route(web::get().to(get_key))
                .route(web::put().to(put_key)),
        )
        .service(web::resource("/iddocs/{id}/decision").route(web::post().to(decide)))
        .service(web::resource("/audit").route(web::get().to(audit)))
        .service(web::resource("/stats").route(web::get().to(moderation::stats)))
        .service(web::resource("/users").route(web::get().to(moderation::users)))
        .service(web::resource("/users/{id}/suspend").route(web::post().to(moderation::suspend)))
        .service(
            web::resource("/users/{id}/unsuspend").route(web::post().to(moderation::unsuspend)),
        )
        .service(web::resource("/users/{id}/role").route(web::put().to(moderation::set_role)))
        .service(web::resource("/tokens").route(web::get().to(moderation::tokens)))
        .service(web::resource("/tokens/{id}").route(web::delete().to(moderation::revoke_token)))
        .service(web::resource("/rooms/{id}/end").route(web::post().to(moderation::end_show)))
        .service(web::resource("/reports").route(web::get().to(moderation::reports)))
        .service(web::resource("/reports/{id}/resolve").route(web::post().to(moderation::resolve)))
        .service(web::resource("/ledger").route(web::get().to(ledger::overview)))
        .service(web::resource("/federation").route(web::get().to(federation::get_policy)))
        .service(web::resource("/federation/mode").route(web::put().to(federation::set_mode)))
        .service(web::resource("/federation/domains").route(web::put().to(federation::set_domain)))
        .service(
            web::resource("/federation/instances").route(web::get().to(federation::instances_list)),
        )
}

/// The registered verifiers.
#[utoipa::path(get, path = "/api/admin/verifiers", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Verifiers", body = Vec<Verifier>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody)))]
pub async fn list_verifiers(
    state: web::Data<AppState>,
    _admin: AdminUser,
) -> Result<HttpResponse, ApiError> {
    let v = state.db.read(iddocs::list_verifiers).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Register the calling admin's age recipient. New uploads are encrypted to it; existing
/// documents need re-wrapping to include it.
#[utoipa::path(post, path = "/api/admin/verifiers", tag = "admin", request_body = NewVerifier,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered", body = Verifier),
        (status = 400, description = "Not an age recipient", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "Already registered", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody)))]
pub async fn add_verifier(
    state: web::Data<AppState>,
    admin: AdminUser,
    body: web::Json<NewVerifier>,
) -> Result<HttpResponse, ApiError> {
    let recipient = body.into_inner().recipient;
    let v = state
        .db
        .write(move |conn| iddocs::add_verifier(conn, &admin.0, &recipient))
        .await?;
    Ok(HttpResponse::Created().json(v))
}

/// Remove a verifier. Documents wrapped to it stay readable by it until re-wrapped.
#[utoipa::path(delete, path = "/api/admin/verifiers/{id}", tag = "admin",
    params(("id" = i64, Path, description = "Verifier id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such verifier", body = ErrorBody)))]
pub async fn remove_verifier(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state
        .db
        .write(move |conn| iddocs::remove_verifier(conn, &admin.0, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Documents by status (pending by default), oldest first.
#[utoipa::path(get, path = "/api/admin/iddocs", tag = "admin", params(AdminDocumentQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Documents", body = Vec<AdminIdDocument>),
        (status = 400, description = "Invalid filter", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody)))]
pub async fn list_documents(
    state: web::Data<AppState>,
    _admin: AdminUser,
    q: web::Query<AdminDocumentQuery>,
) -> Result<HttpResponse, ApiError> {
    let status = q.status.unwrap_or(VerificationState::Pending);
    let docs = state
        .db
        .read(move |conn| iddocs::admin_list(conn, status))
        .await?;
    Ok(HttpResponse::Ok().json(docs))
}

/// A document's ciphertext (an age file), to decrypt on the verifier's own machine. The
/// `X-Content-SHA256` header carries the hash to send back with the decision.
#[utoipa::path(get, path = "/api/admin/iddocs/{id}/ciphertext", tag = "admin",
    params(("id" = i64, Path, description = "Document id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The age-encrypted document", content_type = "application/octet-stream"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such document", body = ErrorBody)))]
pub async fn ciphertext(
    state: web::Data<AppState>,
    _admin: AdminUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (key, sha) = state
        .db
        .read(move |conn| iddocs::ciphertext_ref(conn, id))
        .await?;
    let dir = storage::dir(&state.config.data_dir);
    let bytes = tokio::task::spawn_blocking(move || storage::read(&dir, &key))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header(("x-content-sha256", sha))
        .insert_header(("cache-control", "no-store"))
        .body(bytes))
}

/// A document's wrapped key and the recipients it is wrapped to.
#[utoipa::path(get, path = "/api/admin/iddocs/{id}/key", tag = "admin",
    params(("id" = i64, Path, description = "Document id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The wrapped key", body = WrappedKey),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such document", body = ErrorBody)))]
pub async fn get_key(
    state: web::Data<AppState>,
    _admin: AdminUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let k = state
        .db
        .read(move |conn| iddocs::wrapped_key(conn, id))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(k))
}

/// Replace a document's wrapped key with one re-wrapped to the current verifiers, bound to the
/// hash of the key it replaces. The ciphertext is untouched.
#[utoipa::path(put, path = "/api/admin/iddocs/{id}/key", tag = "admin",
    params(("id" = i64, Path, description = "Document id")),
    request_body = Rewrap, security(("bearer" = [])),
    responses(
        (status = 200, description = "The new wrapped key", body = WrappedKey),
        (status = 400, description = "Not an age file, or wrong recipients", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin, not a registered verifier, or the key proof does not match", body = ErrorBody),
        (status = 404, description = "No such document", body = ErrorBody),
        (status = 409, description = "The key changed meanwhile", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody)))]
pub async fn put_key(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i64>,
    body: web::Json<Rewrap>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let body = body.into_inner();
    let k = state
        .db
        .write(move |conn| iddocs::rewrap(conn, &admin.0, id, &body))
        .await?;
    Ok(HttpResponse::Ok().json(k))
}

/// Approve (date of birth checked to be 18+ today, then discarded) or reject (with a reason
/// shown to the model) a pending document, bound to the ciphertext hash the verifier decrypted.
#[utoipa::path(post, path = "/api/admin/iddocs/{id}/decision", tag = "admin",
    params(("id" = i64, Path, description = "Document id")),
    request_body = Decision, security(("bearer" = [])),
    responses(
        (status = 200, description = "Decided", body = IdDocument),
        (status = 400, description = "Under 18, expired or invalid fields", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin, not a registered verifier, or the key proof does not match", body = ErrorBody),
        (status = 404, description = "No such document", body = ErrorBody),
        (status = 409, description = "Not pending, or the document changed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody)))]
pub async fn decide(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i64>,
    body: web::Json<Decision>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let body = body.into_inner();
    let today = crate::db::now().date();
    let doc = state
        .db
        .write(move |conn| iddocs::decide(conn, &admin.0, id, &body, today))
        .await?;
    Ok(HttpResponse::Ok().json(doc))
}

/// The audit trail, newest first: who did what when, without personal data.
#[utoipa::path(get, path = "/api/admin/audit", tag = "admin", params(AuditQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Audit events", body = Vec<AuditEvent>),
        (status = 400, description = "Invalid limit", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody)))]
pub async fn audit(
    state: web::Data<AppState>,
    _admin: AdminUser,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_field",
            "limit: between 1 and 1000",
        ));
    }
    let events = state
        .db
        .read(move |conn| iddocs::audit_trail(conn, i64::from(limit)))
        .await?;
    Ok(HttpResponse::Ok().json(events))
}
