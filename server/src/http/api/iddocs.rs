//! A model's ID document: upload (encrypted while it streams), status, deletion.

use actix_web::{web, HttpResponse};
use futures_util::StreamExt;
use livestars_api::{ErrorBody, IdDocument, VerificationStatus};

use crate::http::auth::CurrentUser;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::iddocs::{self, storage};

/// Remove a stored file whose record was refused (no transaction committed it).
async fn remove_unrecorded(state: &AppState, key: String) {
    let dir = storage::dir(&state.config.data_dir);
    let _ = tokio::task::spawn_blocking(move || {
        if let Err(e) = storage::remove(&dir, &key) {
            tracing::warn!(error = %e, "could not remove an unrecorded ciphertext file");
        }
    })
    .await;
}

/// Upload an ID document: the raw bytes of a JPEG, PNG or PDF (type sniffed from the bytes; at
/// most `iddoc_max_bytes`). It is encrypted while it streams; only ciphertext is stored. A new
/// upload replaces the previous document and ends a running show until it is approved.
#[utoipa::path(post, path = "/api/iddocs", tag = "iddocs",
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "The document bytes"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored, waiting for verification", body = IdDocument),
        (status = 400, description = "Empty upload", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a model", body = ErrorBody),
        (status = 409, description = "No verifier registered", body = ErrorBody),
        (status = 413, description = "Document too large", body = ErrorBody),
        (status = 415, description = "Not a JPEG, PNG or PDF", body = ErrorBody),
        (status = 429, description = "Too many uploads from this account, or today; see Retry-After", body = ErrorBody)))]
pub async fn upload(
    state: web::Data<AppState>,
    current: CurrentUser,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let user = current.user;
    state.limits.by_account(&state.limits.uploads, user.id)?;
    let per_day = state.config.limits.iddoc_uploads_per_day;
    let u = user.clone();
    let (texts, recipients) = state
        .db
        .read(move |conn| iddocs::upload_recipients(conn, &u, per_day))
        .await?;
    let dir = storage::dir(&state.config.data_dir);
    let limit = state.config.iddoc_max_bytes;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<web::Bytes>>(8);
    let writer = tokio::task::spawn_blocking(move || {
        storage::store_encrypted(&dir, &recipients, limit, || rx.blocking_recv())
    });
    while let Some(chunk) = payload.next().await {
        let broken = chunk.is_err();
        let item = chunk.map_err(|e| std::io::Error::other(e.to_string()));
        // A closed channel means the writer stopped (too large, wrong type): its result says why.
        if tx.send(item).await.is_err() || broken {
            break;
        }
    }
    drop(tx);
    let stored = writer
        .await
        .map_err(ApiError::internal)?
        .map_err(iddocs::IdDocError::from)?;
    let key = stored.storage_key.clone();
    let retention = state.config.retention().map_err(ApiError::internal)?;
    let result = state
        .db
        .write(move |conn| iddocs::record_upload(conn, &user, &stored, &texts, retention, per_day))
        .await;
    match result {
        Ok((doc, _)) => Ok(HttpResponse::Created().json(doc)),
        Err(e) => {
            remove_unrecorded(&state, key).await;
            Err(e.into())
        }
    }
}

/// One of the caller's own documents. Another model's document is "not found".
#[utoipa::path(get, path = "/api/iddocs/{id}", tag = "iddocs",
    params(("id" = i64, Path, description = "Document id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The document's metadata", body = IdDocument),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such document of yours", body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    current: CurrentUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let user = current.user;
    let doc = state
        .db
        .read(move |conn| iddocs::get_own(conn, &user, id))
        .await?;
    Ok(HttpResponse::Ok().json(doc))
}

/// Delete one's document at any time: verification is revoked at once and a running show ends.
/// Under the default policy the ciphertext and its key are destroyed; under `retain` they are
/// hidden from everyone and destroyed when the retention period ends.
#[utoipa::path(delete, path = "/api/iddocs/{id}", tag = "iddocs",
    params(("id" = i64, Path, description = "Document id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such document of yours", body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    current: CurrentUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let user = current.user;
    let retention = state.config.retention().map_err(ApiError::internal)?;
    state
        .db
        .write(move |conn| iddocs::delete_own(conn, &user, id, retention))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's verification status: none, pending, approved (until …) or rejected (why).
#[utoipa::path(get, path = "/api/me/verification", tag = "iddocs",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Verification status", body = VerificationStatus),
        (status = 401, description = "Not signed in", body = ErrorBody)))]
pub async fn verification(
    state: web::Data<AppState>,
    current: CurrentUser,
) -> Result<HttpResponse, ApiError> {
    let user = current.user;
    let today = crate::db::now().date();
    let s = state
        .db
        .read(move |conn| iddocs::status(conn, &user, today))
        .await?;
    Ok(HttpResponse::Ok().json(s))
}
