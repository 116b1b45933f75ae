//! A model's ID document: upload (encrypted while it streams), status, deletion.

use actix_web::HttpRequest;
use actix_web::{web, HttpResponse};
use base64::Engine;
use futures_util::StreamExt;
use livestars_api::{ErrorBody, IdDocument, SealingRecipients, VerificationStatus};

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
    let retention = state.config.retention().map_err(ApiError::internal)?;
    store_and_record(
        &state,
        &mut payload,
        move |mut rx| storage::store_encrypted(&dir, &recipients, limit, || rx.blocking_recv()),
        |stored| stored.storage_key.clone(),
        move |conn, stored| iddocs::record_upload(conn, &user, &stored, &texts, retention, per_day),
    )
    .await
}

/// Stream the request body into `store` (blocking: it writes the ciphertext file), then
/// `record` what it stored in a write transaction. A file whose record is refused is removed.
async fn store_and_record<S: Send + 'static>(
    state: &AppState,
    payload: &mut web::Payload,
    store: impl FnOnce(Chunks) -> Result<S, storage::UploadError> + Send + 'static,
    key_of: impl FnOnce(&S) -> String,
    record: impl FnOnce(
            &mut crate::db::DbConnection,
            S,
        ) -> Result<(IdDocument, iddocs::Aftermath), iddocs::IdDocError>
        + Send
        + 'static,
) -> Result<HttpResponse, ApiError> {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<web::Bytes>>(8);
    let writer = tokio::task::spawn_blocking(move || store(rx));
    forward(payload, tx).await;
    let stored = writer
        .await
        .map_err(ApiError::internal)?
        .map_err(iddocs::IdDocError::from)?;
    let key = key_of(&stored);
    match state.db.write(move |conn| record(conn, stored)).await {
        Ok((doc, _)) => Ok(HttpResponse::Created().json(doc)),
        Err(e) => {
            remove_unrecorded(state, key).await;
            Err(e.into())
        }
    }
}

/// The request body's chunks, as a blocking writer receives them.
type Chunks = tokio::sync::mpsc::Receiver<std::io::Result<web::Bytes>>;

/// The recipients a model's browser seals her document to, and the size limit.
#[utoipa::path(get, path = "/api/iddocs/recipients", tag = "iddocs",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Current verifiers' recipients", body = SealingRecipients),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a model", body = ErrorBody),
        (status = 409, description = "No verifier registered", body = ErrorBody),
        (status = 429, description = "Too many uploads today; see Retry-After", body = ErrorBody)))]
pub async fn recipients(
    state: web::Data<AppState>,
    current: CurrentUser,
) -> Result<HttpResponse, ApiError> {
    let user = current.user;
    let per_day = state.config.limits.iddoc_uploads_per_day;
    let (recipients, _) = state
        .db
        .read(move |conn| iddocs::upload_recipients(conn, &user, per_day))
        .await?;
    Ok(HttpResponse::Ok().json(SealingRecipients {
        recipients,
        max_bytes: state.config.iddoc_max_bytes as u64,
    }))
}

/// The envelope headers of a sealed upload.
fn sealed_envelope(req: &HttpRequest) -> Result<iddocs::SealedEnvelope, ApiError> {
    let header = |name: &'static str| -> Result<&str, ApiError> {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                ApiError::bad_request("invalid_field", format!("{name}: missing or not ASCII"))
            })
    };
    let wrapped = base64::engine::general_purpose::STANDARD
        .decode(header("livestars-wrapped-key")?)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_field",
                "livestars-wrapped-key: expected the armored wrapped key in base64",
            )
        })?;
    let mime = match header("livestars-document-type")? {
        "image/jpeg" => "image/jpeg",
        "image/png" => "image/png",
        "application/pdf" => "application/pdf",
        _ => {
            return Err(ApiError::new(
                actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_document",
                "an ID document must be a JPEG, PNG or PDF file",
            ))
        }
    };
    Ok(iddocs::SealedEnvelope {
        wrapped_key: wrapped,
        key_commitment: header("livestars-key-commitment")?.to_string(),
        recipients: header("livestars-recipients")?
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        mime,
    })
}

/// Upload an ID document the model's browser sealed itself: the body is an age file (binary)
/// encrypted to a fresh document key; the headers carry that key wrapped to the current
/// verifiers, the commitment to its proof, the recipients used and the document's type. The
/// server cannot read any of it; it checks the envelope's shape (one X25519 stanza in the
/// document, one per verifier in the wrapped key), the recipients and the size.
#[utoipa::path(post, path = "/api/iddocs/sealed", tag = "iddocs",
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "The document as a binary age file"),
    params(
        ("Livestars-Wrapped-Key" = String, Header, description = "Base64 of the armored wrapped key"),
        ("Livestars-Key-Commitment" = String, Header, description = "The key-proof commitment, hex"),
        ("Livestars-Recipients" = String, Header, description = "The recipients used, space-separated"),
        ("Livestars-Document-Type" = String, Header, description = "image/jpeg, image/png or application/pdf")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored, waiting for verification", body = IdDocument),
        (status = 400, description = "Not a sealed document, or a malformed envelope", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a model", body = ErrorBody),
        (status = 409, description = "No verifier, or the verifiers changed meanwhile", body = ErrorBody),
        (status = 413, description = "Document too large", body = ErrorBody),
        (status = 415, description = "Not a JPEG, PNG or PDF", body = ErrorBody),
        (status = 429, description = "Too many uploads; see Retry-After", body = ErrorBody)))]
pub async fn upload_sealed(
    state: web::Data<AppState>,
    current: CurrentUser,
    req: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let user = current.user;
    state.limits.by_account(&state.limits.uploads, user.id)?;
    let envelope = sealed_envelope(&req)?;
    let per_day = state.config.limits.iddoc_uploads_per_day;
    let u = user.clone();
    let (current, _) = state
        .db
        .read(move |conn| iddocs::upload_recipients(conn, &u, per_day))
        .await?;
    iddocs::check_sealed(&envelope, &current)?;
    let dir = storage::dir(&state.config.data_dir);
    let limit = state.config.iddoc_max_bytes;
    let retention = state.config.retention().map_err(ApiError::internal)?;
    store_and_record(
        &state,
        &mut payload,
        move |mut rx| storage::store_sealed(&dir, limit, || rx.blocking_recv()),
        |file| file.storage_key.clone(),
        move |conn, file| {
            iddocs::record_sealed_upload(conn, &user, file, envelope, retention, per_day)
        },
    )
    .await
}

/// Pass the request body to a blocking writer, chunk by chunk; a broken body is passed on as an
/// error. Stops early when the writer stopped reading (too large, wrong type: its result says
/// why).
async fn forward(
    payload: &mut web::Payload,
    tx: tokio::sync::mpsc::Sender<std::io::Result<web::Bytes>>,
) {
    while let Some(chunk) = payload.next().await {
        let broken = chunk.is_err();
        let item = chunk.map_err(|e| std::io::Error::other(e.to_string()));
        if tx.send(item).await.is_err() || broken {
            break;
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
