//! ID documents: upload, verification, deletion, and the go-live gate.
//!
//! The promise to models: nobody on the server can read her document. Each upload is encrypted
//! while it streams to its own fresh age identity (the document key); that key is wrapped to
//! every current verifier's age recipient and kept in `id_document_keys`, apart from the bulk
//! ciphertext files ([`storage`]). The server never holds a verifier identity. Deleting the key
//! row makes every copy of the ciphertext, backups included, unreadable.
//!
//! Invariants:
//! - A model may go live only while she has an `approved`, `adult`, unexpired document
//!   ([`may_go_live`]); every path that starts a show calls it inside its transaction.
//! - At most one document per model is not `deleted`: a new upload supersedes the old one.
//! - A `deleted` document is hidden from everyone; its key is shredded at once (`purge`) or when
//!   its retention period ends (`retain`), by [`sweep`].
//! - The audit trail records who did what and when, never personal data.

pub mod crypto;
pub mod storage;

use chrono::{Datelike, Months, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use livestars_api::{
    AdminIdDocument, AuditEvent, Decision, DecisionKind, IdDocument, Rewrap, VerificationState,
    VerificationStatus, Verifier, WrappedKey,
};
use sha2::{Digest, Sha256};

use crate::accounts::User;
use crate::config::Retention;
use crate::db::schema::{audit_events, id_document_keys, id_documents, rooms, users, verifiers};
use crate::db::{is_unique_violation, now, DbConnection, DbError};
use crate::states::DocumentState;

pub use storage::{Stored, UploadError};

#[derive(Debug, thiserror::Error)]
pub enum IdDocError {
    #[error("no verifier is registered on this instance; an admin must add one first")]
    NoVerifiers,
    #[error("{0}")]
    InvalidRecipient(String),
    #[error("this recipient is already registered")]
    RecipientExists,
    #[error("no such document")]
    NotFound,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("this document is not waiting for a decision")]
    NotPending,
    #[error("the document changed since it was downloaded; download it again")]
    StaleDocument,
    #[error("the key changed since it was downloaded; download it again")]
    StaleKey,
    #[error("the verifiers changed while the document was encrypted; encrypt it again")]
    StaleRecipients,
    #[error("{0}")]
    NotVerifier(&'static str),
    #[error("the key proof does not match this document: decrypt it with your identity first")]
    BadKeyProof,
    #[error("the date of birth shows the person is under 18")]
    UnderAge,
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    VerificationRequired(&'static str),
    #[error("at most {per_day} ID documents a day; try again later")]
    TooManyUploads { per_day: u32, retry_after_secs: u64 },
    #[error(transparent)]
    Upload(#[from] UploadError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for IdDocError {
    fn from(e: diesel::result::Error) -> Self {
        IdDocError::Db(DbError::Query(e))
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> IdDocError {
    IdDocError::Invalid {
        field,
        message: message.into(),
    }
}

/// Append to the audit trail.
pub fn audit(
    conn: &mut DbConnection,
    actor: Option<i64>,
    subject: Option<i64>,
    document: Option<i64>,
    action: &str,
) -> Result<(), IdDocError> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::at.eq(now()),
            audit_events::actor_id.eq(actor),
            audit_events::subject_id.eq(subject),
            audit_events::document_id.eq(document),
            audit_events::action.eq(action),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn audit_trail(conn: &mut DbConnection, limit: i64) -> Result<Vec<AuditEvent>, IdDocError> {
    type Row = (
        i64,
        NaiveDateTime,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        String,
    );
    let rows: Vec<Row> = audit_events::table
        .order(audit_events::id.desc())
        .limit(limit)
        .select((
            audit_events::id,
            audit_events::at,
            audit_events::actor_id,
            audit_events::subject_id,
            audit_events::document_id,
            audit_events::action,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, at, actor_id, subject_id, document_id, action)| AuditEvent {
                id,
                at: at.and_utc(),
                actor_id,
                subject_id,
                document_id,
                action,
            },
        )
        .collect())
}

// ---------------------------------------------------------------- verifiers

pub fn add_verifier(
    conn: &mut DbConnection,
    admin: &User,
    recipient: &str,
) -> Result<Verifier, IdDocError> {
    if recipient.trim().starts_with("AGE-SECRET-KEY") {
        return Err(IdDocError::InvalidRecipient(
            "that is an age identity (private key): keep it on your machine and send its \
             recipient (age1…, from `age-keygen -y`)"
                .into(),
        ));
    }
    let parsed = crypto::parse_recipient(recipient)
        .map_err(|e| IdDocError::InvalidRecipient(e.to_string()))?;
    let text = parsed.to_string();
    let t = now();
    let id: i64 = diesel::insert_into(verifiers::table)
        .values((
            verifiers::user_id.eq(admin.id),
            verifiers::recipient.eq(&text),
            verifiers::created_at.eq(t),
        ))
        .returning(verifiers::id)
        .get_result(conn)
        .map_err(|e| {
            if is_unique_violation(&e) {
                IdDocError::RecipientExists
            } else {
                e.into()
            }
        })?;
    audit(conn, Some(admin.id), Some(admin.id), None, "verifier_added")?;
    Ok(Verifier {
        id,
        username: admin.username.clone(),
        recipient: text,
        created_at: t.and_utc(),
    })
}

pub fn list_verifiers(conn: &mut DbConnection) -> Result<Vec<Verifier>, IdDocError> {
    let rows: Vec<(i64, String, String, NaiveDateTime)> = verifiers::table
        .inner_join(users::table)
        .order(verifiers::id)
        .select((
            verifiers::id,
            users::username,
            verifiers::recipient,
            verifiers::created_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, username, recipient, created_at)| Verifier {
            id,
            username,
            recipient,
            created_at: created_at.and_utc(),
        })
        .collect())
}

pub fn remove_verifier(conn: &mut DbConnection, admin: &User, id: i64) -> Result<(), IdDocError> {
    let n = diesel::delete(verifiers::table.find(id)).execute(conn)?;
    if n == 0 {
        return Err(IdDocError::NotFound);
    }
    audit(conn, Some(admin.id), None, None, "verifier_removed")?;
    Ok(())
}

/// The current verifier recipients, sorted: the set new uploads are wrapped to.
pub fn current_recipients(conn: &mut DbConnection) -> Result<Vec<String>, IdDocError> {
    let mut r: Vec<String> = verifiers::table.select(verifiers::recipient).load(conn)?;
    r.sort();
    Ok(r)
}

/// At most `per_day` uploads by one model in any 24 hours (deleted documents count: every
/// upload costs disk, and under `retain` is kept for days).
pub fn check_daily_uploads(
    conn: &mut DbConnection,
    user_id: i64,
    per_day: u32,
    at: NaiveDateTime,
) -> Result<(), IdDocError> {
    let since = at - chrono::Duration::days(1);
    let recent: Vec<NaiveDateTime> = id_documents::table
        .filter(id_documents::user_id.eq(user_id))
        .filter(id_documents::uploaded_at.gt(since))
        .order(id_documents::uploaded_at.asc())
        .select(id_documents::uploaded_at)
        .load(conn)?;
    if recent.len() < per_day as usize {
        return Ok(());
    }
    // Free again when the oldest upload of the window is a day old.
    let retry = recent
        .first()
        .map(|oldest| (*oldest - since).num_seconds().max(1) as u64)
        .unwrap_or(60);
    Err(IdDocError::TooManyUploads {
        per_day,
        retry_after_secs: retry,
    })
}

/// The current recipients, parsed, for an upload. Refuses when there are none.
pub fn upload_recipients(
    conn: &mut DbConnection,
    user: &User,
    per_day: u32,
) -> Result<(Vec<String>, Vec<crypto::Recipient>), IdDocError> {
    if user.role != "model" {
        return Err(IdDocError::Forbidden("only models upload ID documents"));
    }
    // Checked before the upload streams (and again when it is recorded).
    check_daily_uploads(conn, user.id, per_day, now())?;
    let texts = current_recipients(conn)?;
    if texts.is_empty() {
        return Err(IdDocError::NoVerifiers);
    }
    let parsed = texts
        .iter()
        .map(|t| {
            crypto::parse_recipient(t).map_err(|e| IdDocError::InvalidRecipient(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((texts, parsed))
}

// ---------------------------------------------------------------- documents

/// An ID document as stored (its bytes elsewhere, see [`storage`]).
#[derive(Queryable, Selectable)]
#[diesel(table_name = id_documents)]
struct DocRow {
    id: i64,
    user_id: i64,
    status: String,
    sha256: String,
    size_bytes: i64,
    mime: String,
    uploaded_at: NaiveDateTime,
    decided_at: Option<NaiveDateTime>,
    valid_until: Option<NaiveDate>,
    reject_reason: Option<String>,
    adult: bool,
}

fn state_of(status: &str) -> VerificationState {
    match DocumentState::parse(status) {
        Some(DocumentState::Approved) => VerificationState::Approved,
        Some(DocumentState::Rejected) => VerificationState::Rejected,
        Some(DocumentState::Pending) => VerificationState::Pending,
        Some(DocumentState::Deleted) | None => VerificationState::None,
    }
}

fn to_api(r: &DocRow) -> IdDocument {
    IdDocument {
        id: r.id,
        status: state_of(&r.status),
        mime: r.mime.clone(),
        size_bytes: r.size_bytes,
        sha256: r.sha256.clone(),
        uploaded_at: r.uploaded_at.and_utc(),
        decided_at: r.decided_at.map(|t| t.and_utc()),
        valid_until: r.valid_until,
        reject_reason: r.reject_reason.clone(),
    }
}

/// The model's current (not deleted) document, if any.
fn current_doc(conn: &mut DbConnection, user_id: i64) -> Result<Option<DocRow>, IdDocError> {
    Ok(id_documents::table
        .filter(id_documents::user_id.eq(user_id))
        .filter(id_documents::status.ne(DocumentState::Deleted.as_str()))
        .order(id_documents::id.desc())
        .select(DocRow::as_select())
        .first(conn)
        .optional()?)
}

/// Mark a document deleted under the retention policy: under `purge` its key is deleted now
/// and its ciphertext file removed after commit; under `retain` it is kept, restricted, until the sweep shreds it — and
/// at most one retained copy per model exists: an older one is shredded now.
fn retire(
    conn: &mut DbConnection,
    doc_id: i64,
    retention: Retention,
    at: NaiveDateTime,
) -> Result<(), IdDocError> {
    let owner: i64 = id_documents::table
        .find(doc_id)
        .select(id_documents::user_id)
        .first(conn)?;
    // Nothing of the content stays on the row: the verifier's free-text reason may quote the
    // document, and the expiry date is read from it.
    let scrubbed = (
        id_documents::status.eq(DocumentState::Deleted.as_str()),
        id_documents::deleted_at.eq(Some(at)),
        id_documents::adult.eq(false),
        id_documents::reject_reason.eq(None::<String>),
        id_documents::valid_until.eq(None::<NaiveDate>),
    );
    match retention {
        Retention::Purge => {
            shred(conn, doc_id)?;
            diesel::update(id_documents::table.find(doc_id))
                .set(scrubbed)
                .execute(conn)?;
        }
        Retention::Retain { days } => {
            let older: Vec<i64> = id_documents::table
                .filter(id_documents::user_id.eq(owner))
                .filter(id_documents::status.eq(DocumentState::Deleted.as_str()))
                .filter(id_documents::shred_after.is_not_null())
                .filter(id_documents::id.ne(doc_id))
                .select(id_documents::id)
                .load(conn)?;
            for id in older {
                shred(conn, id)?;
                audit(conn, None, Some(owner), Some(id), "key_shredded")?;
            }
            diesel::update(id_documents::table.find(doc_id))
                .set((
                    scrubbed,
                    id_documents::shred_after.eq(Some(at + chrono::Duration::days(days.into()))),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Delete a document's key and retire its ciphertext file (removed after commit, through the
/// `DocumentRetired` event).
fn shred(conn: &mut DbConnection, doc_id: i64) -> Result<(), IdDocError> {
    let key: Option<String> = id_documents::table
        .find(doc_id)
        .select(id_documents::storage_key)
        .first(conn)?;
    diesel::delete(id_document_keys::table.find(doc_id)).execute(conn)?;
    diesel::update(id_documents::table.find(doc_id))
        .set((
            id_documents::storage_key.eq(None::<String>),
            id_documents::shred_after.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    crate::events::record(crate::events::Event::DocumentRetired {
        files: key.into_iter().collect(),
        keys_shredded: true,
    });
    Ok(())
}

/// End a model's running show: her verification is gone.
fn end_show(conn: &mut DbConnection, user_id: i64) -> Result<bool, IdDocError> {
    Ok(crate::shows::end_show_of(conn, user_id)?)
}

/// What a write did beyond its answer. Its consequences (retired files removed, deleted keys
/// purged from the database files, the directory refreshed) follow from the domain events it
/// recorded ([`crate::events`]), not from this.
#[derive(Debug, Default)]
pub struct Aftermath {
    /// Whether a show was ended.
    pub show_ended: bool,
}

/// Record a stored upload: it supersedes her previous document (which is retired under the
/// retention policy, ending her show: she has no approved document any more).
pub fn record_upload(
    conn: &mut DbConnection,
    user: &User,
    stored: &Stored,
    recipients: &[String],
    retention: Retention,
    per_day: u32,
) -> Result<(IdDocument, Aftermath), IdDocError> {
    let t = now();
    crate::accounts::lock_active(conn, user.id).map_err(|e| match e {
        crate::accounts::AccountError::Db(e) => IdDocError::Db(e),
        _ => IdDocError::Forbidden("this account is suspended"),
    })?;
    check_daily_uploads(conn, user.id, per_day, t)?;
    let mut after = Aftermath::default();
    if let Some(old) = current_doc(conn, user.id)? {
        retire(conn, old.id, retention, t)?;
        audit(
            conn,
            Some(user.id),
            Some(user.id),
            Some(old.id),
            "document_superseded",
        )?;
    }
    after.show_ended = end_show(conn, user.id)?;
    let id: i64 = diesel::insert_into(id_documents::table)
        .values((
            id_documents::user_id.eq(user.id),
            id_documents::status.eq(DocumentState::Pending.as_str()),
            id_documents::storage_key.eq(Some(&stored.storage_key)),
            id_documents::sha256.eq(&stored.sha256),
            id_documents::size_bytes.eq(stored.size_bytes),
            id_documents::mime.eq(stored.mime),
            id_documents::uploaded_at.eq(t),
            id_documents::adult.eq(false),
            id_documents::key_commitment.eq(Some(&stored.key_commitment)),
        ))
        .returning(id_documents::id)
        .get_result(conn)?;
    diesel::insert_into(id_document_keys::table)
        .values((
            id_document_keys::document_id.eq(id),
            id_document_keys::wrapped_key.eq(&stored.wrapped_key),
            id_document_keys::recipients.eq(recipients.join(" ")),
            id_document_keys::updated_at.eq(t),
        ))
        .execute(conn)?;
    audit(
        conn,
        Some(user.id),
        Some(user.id),
        Some(id),
        "document_uploaded",
    )?;
    let row = own_doc(conn, user.id, id)?;
    Ok((to_api(&row), after))
}

/// What a model's browser sends with a document it sealed itself: the document key wrapped to
/// the verifiers it was told of, and the commitment to the key's proof.
pub struct SealedEnvelope {
    /// The document key wrapped to `recipients`, armored age.
    pub wrapped_key: String,
    /// The commitment ([`livestars_api::key_proof`]), 64 hex digits.
    pub key_commitment: String,
    /// The verifier recipients the browser encrypted to.
    pub recipients: Vec<String>,
    /// The type the browser read from the file's first bytes (the console checks it after
    /// decryption).
    pub mime: &'static str,
}

/// Check a sealed envelope against the current verifiers without reading anything: the
/// browser used exactly the current recipients, the wrapped key is well-formed armored age
/// with one X25519 stanza per verifier (and no other kind), the commitment is a SHA-256.
pub fn check_sealed(env: &SealedEnvelope, current: &[String]) -> Result<(), IdDocError> {
    let mut claimed = env
        .recipients
        .iter()
        .map(|r| {
            crypto::parse_recipient(r)
                .map(|p| p.to_string())
                .map_err(|e| invalid("recipients", e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    claimed.sort();
    claimed.dedup();
    if claimed != current {
        return Err(IdDocError::StaleRecipients);
    }
    // An X25519 stanza is about 120 armored bytes; grease and armor add a few hundred.
    let max = 1024 + 256 * current.len();
    if env.wrapped_key.len() > max {
        return Err(invalid("wrapped_key", format!("longer than {max} bytes")));
    }
    let header = crypto::read_armored_header(&env.wrapped_key)
        .map_err(|e| invalid("wrapped_key", e.to_string()))?;
    if header.x25519() != current.len() || !header.only_x25519() {
        return Err(invalid(
            "wrapped_key",
            format!(
                "expected one X25519 stanza for each of the {} verifiers, found {}",
                current.len(),
                header.stanzas.join(", ")
            ),
        ));
    }
    let c = &env.key_commitment;
    if c.len() != 64
        || !c
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(invalid(
            "key_commitment",
            "expected 64 lower-case hex digits",
        ));
    }
    Ok(())
}

/// Record a document sealed in the browser, once its file is stored: the envelope is checked
/// again against the verifiers as they are now, in the recording transaction.
pub fn record_sealed_upload(
    conn: &mut DbConnection,
    user: &User,
    file: storage::SealedFile,
    env: SealedEnvelope,
    retention: Retention,
    per_day: u32,
) -> Result<(IdDocument, Aftermath), IdDocError> {
    let current = current_recipients(conn)?;
    check_sealed(&env, &current)?;
    let stored = Stored {
        storage_key: file.storage_key,
        sha256: file.sha256,
        size_bytes: file.size_bytes,
        mime: env.mime,
        wrapped_key: env.wrapped_key,
        key_commitment: env.key_commitment,
    };
    record_upload(conn, user, &stored, &current, retention, per_day)
}

fn own_doc(conn: &mut DbConnection, user_id: i64, id: i64) -> Result<DocRow, IdDocError> {
    // Another model's document and a deleted one answer the same: not found.
    id_documents::table
        .filter(id_documents::id.eq(id))
        .filter(id_documents::user_id.eq(user_id))
        .filter(id_documents::status.ne(DocumentState::Deleted.as_str()))
        .select(DocRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(IdDocError::NotFound)
}

pub fn get_own(conn: &mut DbConnection, user: &User, id: i64) -> Result<IdDocument, IdDocError> {
    Ok(to_api(&own_doc(conn, user.id, id)?))
}

/// The model deletes her document: verification revoked at once, show ended, ciphertext gone
/// (purge) or hidden until shredded (retain).
pub fn delete_own(
    conn: &mut DbConnection,
    user: &User,
    id: i64,
    retention: Retention,
) -> Result<Aftermath, IdDocError> {
    own_doc(conn, user.id, id)?;
    let mut after = Aftermath::default();
    retire(conn, id, retention, now())?;
    after.show_ended = end_show(conn, user.id)?;
    audit(
        conn,
        Some(user.id),
        Some(user.id),
        Some(id),
        "document_deleted",
    )?;
    Ok(after)
}

fn is_valid_approval(r: &DocRow, today: NaiveDate) -> bool {
    r.status == DocumentState::Approved.as_str()
        && r.adult
        && r.valid_until.is_none_or(|until| until >= today)
}

/// The go-live gate.
pub fn may_go_live(
    conn: &mut DbConnection,
    user_id: i64,
    today: NaiveDate,
) -> Result<(), IdDocError> {
    match current_doc(conn, user_id)? {
        Some(r) if is_valid_approval(&r, today) => Ok(()),
        Some(r) if r.status == DocumentState::Approved.as_str() => Err(
            IdDocError::VerificationRequired("your ID document has expired; upload a current one"),
        ),
        Some(r) if r.status == DocumentState::Pending.as_str() => Err(
            IdDocError::VerificationRequired("your ID document is waiting for verification"),
        ),
        Some(_) => Err(IdDocError::VerificationRequired(
            "your ID document was rejected; upload a new one",
        )),
        None => Err(IdDocError::VerificationRequired(
            "upload an ID document and wait for its approval before going live",
        )),
    }
}

pub fn status(
    conn: &mut DbConnection,
    user: &User,
    today: NaiveDate,
) -> Result<VerificationStatus, IdDocError> {
    Ok(match current_doc(conn, user.id)? {
        None => VerificationStatus {
            status: VerificationState::None,
            document_id: None,
            valid_until: None,
            reason: None,
            may_go_live: false,
        },
        Some(r) => VerificationStatus {
            status: state_of(&r.status),
            document_id: Some(r.id),
            valid_until: r.valid_until,
            reason: r.reject_reason.clone(),
            may_go_live: is_valid_approval(&r, today),
        },
    })
}

// ---------------------------------------------------------------- verifiers' side

pub fn admin_list(
    conn: &mut DbConnection,
    status: VerificationState,
) -> Result<Vec<AdminIdDocument>, IdDocError> {
    let status = match status {
        VerificationState::Pending => DocumentState::Pending.as_str(),
        VerificationState::Approved => DocumentState::Approved.as_str(),
        VerificationState::Rejected => DocumentState::Rejected.as_str(),
        VerificationState::None => return Ok(vec![]),
    };
    let current = current_recipients(conn)?.join(" ");
    type Row = (
        i64,
        String,
        String,
        String,
        i64,
        String,
        NaiveDateTime,
        String,
    );
    let rows: Vec<Row> = id_documents::table
        .inner_join(users::table)
        .inner_join(id_document_keys::table)
        .filter(id_documents::status.eq(status))
        .order(id_documents::uploaded_at)
        .select((
            id_documents::id,
            users::username,
            id_documents::status,
            id_documents::mime,
            id_documents::size_bytes,
            id_documents::sha256,
            id_documents::uploaded_at,
            id_document_keys::recipients,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, model, status, mime, size_bytes, sha256, uploaded_at, recipients)| {
                AdminIdDocument {
                    id,
                    model,
                    status: state_of(&status),
                    mime,
                    size_bytes,
                    sha256,
                    uploaded_at: uploaded_at.and_utc(),
                    needs_rewrap: recipients != current,
                }
            },
        )
        .collect())
}

/// Storage key and hash of a document's ciphertext, for download. Deleted documents (also
/// those retained under `retain`) are hidden from verifiers too.
pub fn ciphertext_ref(conn: &mut DbConnection, id: i64) -> Result<(String, String), IdDocError> {
    let row: Option<(Option<String>, String)> = id_documents::table
        .filter(id_documents::id.eq(id))
        .filter(id_documents::status.ne(DocumentState::Deleted.as_str()))
        .select((id_documents::storage_key, id_documents::sha256))
        .first(conn)
        .optional()?;
    match row {
        Some((Some(key), sha)) => Ok((key, sha)),
        _ => Err(IdDocError::NotFound),
    }
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

pub fn wrapped_key(conn: &mut DbConnection, id: i64) -> Result<WrappedKey, IdDocError> {
    let row: Option<(String, String)> = id_document_keys::table
        .inner_join(id_documents::table)
        .filter(id_documents::id.eq(id))
        .filter(id_documents::status.ne(DocumentState::Deleted.as_str()))
        .select((id_document_keys::wrapped_key, id_document_keys::recipients))
        .first(conn)
        .optional()?;
    let (wrapped, recipients) = row.ok_or(IdDocError::NotFound)?;
    Ok(WrappedKey {
        document_id: id,
        key_sha256: sha256_hex(&wrapped),
        wrapped_key: wrapped,
        recipients: recipients.split_whitespace().map(str::to_string).collect(),
        current_recipients: current_recipients(conn)?,
    })
}

/// Only a registered verifier who could read document `id` acts on it: she is registered (has a
/// recipient), and her `proof` opens the commitment stored at upload (documents uploaded before
/// commitments existed have none: for them being registered is all that can be checked).
fn check_verifier(
    conn: &mut DbConnection,
    admin: &User,
    id: i64,
    proof: Option<&str>,
) -> Result<(), IdDocError> {
    let registered: i64 = verifiers::table
        .filter(verifiers::user_id.eq(admin.id))
        .count()
        .get_result(conn)?;
    if registered == 0 {
        return Err(IdDocError::NotVerifier(
            "only a registered verifier decides about ID documents and re-wraps their keys",
        ));
    }
    let commitment: Option<String> = id_documents::table
        .find(id)
        .select(id_documents::key_commitment)
        .first(conn)
        .optional()?
        .ok_or(IdDocError::NotFound)?;
    match (commitment, proof) {
        (None, _) => Ok(()),
        (Some(c), Some(p)) if livestars_api::key_proof::opens(p, &c) => Ok(()),
        (Some(_), _) => Err(IdDocError::BadKeyProof),
    }
}

/// Replace a document's wrapped key with one re-wrapped (in the console) to the current
/// verifiers. The bulk ciphertext is untouched.
pub fn rewrap(
    conn: &mut DbConnection,
    admin: &User,
    id: i64,
    body: &Rewrap,
) -> Result<WrappedKey, IdDocError> {
    let current = wrapped_key(conn, id)?;
    check_verifier(conn, admin, id, body.key_proof.as_deref())?;
    if !current
        .key_sha256
        .eq_ignore_ascii_case(body.previous_key_sha256.trim())
    {
        return Err(IdDocError::StaleKey);
    }
    crypto::check_wrapped_key(&body.wrapped_key)
        .map_err(|e| invalid("wrapped_key", e.to_string()))?;
    let mut claimed: Vec<String> = body
        .recipients
        .iter()
        .map(|r| {
            crypto::parse_recipient(r)
                .map(|p| p.to_string())
                .map_err(|e| invalid("recipients", e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    claimed.sort();
    claimed.dedup();
    if claimed != current.current_recipients {
        return Err(invalid(
            "recipients",
            "re-wrap to exactly the current verifiers' recipients",
        ));
    }
    diesel::update(id_document_keys::table.find(id))
        .set((
            id_document_keys::wrapped_key.eq(&body.wrapped_key),
            id_document_keys::recipients.eq(claimed.join(" ")),
            id_document_keys::updated_at.eq(now()),
        ))
        .execute(conn)?;
    audit(conn, Some(admin.id), None, Some(id), "key_rewrapped")?;
    wrapped_key(conn, id)
}

/// The date someone born on `dob` turns 18. A 29 February birthday counts from 1 March in
/// common years: the later, conservative reading.
pub fn eighteenth_birthday(dob: NaiveDate) -> Option<NaiveDate> {
    let d = dob.checked_add_months(Months::new(18 * 12))?;
    if dob.month() == 2 && dob.day() == 29 && d.day() == 28 {
        d.succ_opt()
    } else {
        Some(d)
    }
}

/// Record a verifier's decision, bound to the ciphertext hash she downloaded.
pub fn decide(
    conn: &mut DbConnection,
    admin: &User,
    id: i64,
    d: &Decision,
    today: NaiveDate,
) -> Result<IdDocument, IdDocError> {
    let row: DocRow = id_documents::table
        .filter(id_documents::id.eq(id))
        .filter(id_documents::status.ne(DocumentState::Deleted.as_str()))
        .select(DocRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(IdDocError::NotFound)?;
    check_verifier(conn, admin, id, d.key_proof.as_deref())?;
    if row.status != DocumentState::Pending.as_str() {
        return Err(IdDocError::NotPending);
    }
    if !row.sha256.eq_ignore_ascii_case(d.sha256.trim()) {
        return Err(IdDocError::StaleDocument);
    }
    let t = now();
    match d.decision {
        DecisionKind::Approve => {
            if d.reason.is_some() {
                return Err(invalid("reason", "only a rejection has a reason"));
            }
            let dob = d
                .date_of_birth
                .ok_or_else(|| invalid("date_of_birth", "required to approve"))?;
            if dob > today {
                return Err(invalid("date_of_birth", "is in the future"));
            }
            if eighteenth_birthday(dob).is_none_or(|adult_on| adult_on > today) {
                return Err(IdDocError::UnderAge);
            }
            if d.valid_until.is_some_and(|until| until < today) {
                return Err(invalid("valid_until", "the document has expired"));
            }
            diesel::update(id_documents::table.find(id))
                .set((
                    id_documents::status.eq(DocumentState::Approved.as_str()),
                    id_documents::adult.eq(true),
                    id_documents::decided_at.eq(Some(t)),
                    id_documents::decided_by.eq(Some(admin.id)),
                    id_documents::valid_until.eq(d.valid_until),
                ))
                .execute(conn)?;
            audit(
                conn,
                Some(admin.id),
                Some(row.user_id),
                Some(id),
                "document_approved",
            )?;
        }
        DecisionKind::Reject => {
            if d.date_of_birth.is_some() || d.valid_until.is_some() {
                return Err(invalid(
                    "date_of_birth",
                    "a rejection carries only a reason",
                ));
            }
            let reason = d.reason.as_deref().map(str::trim).unwrap_or("");
            let len = reason.chars().count();
            if !(1..=500).contains(&len) || reason.chars().any(|c| c.is_control() && c != '\n') {
                return Err(invalid("reason", "1 to 500 characters, shown to the model"));
            }
            diesel::update(id_documents::table.find(id))
                .set((
                    id_documents::status.eq(DocumentState::Rejected.as_str()),
                    id_documents::decided_at.eq(Some(t)),
                    id_documents::decided_by.eq(Some(admin.id)),
                    id_documents::reject_reason.eq(Some(reason)),
                ))
                .execute(conn)?;
            audit(
                conn,
                Some(admin.id),
                Some(row.user_id),
                Some(id),
                "document_rejected",
            )?;
        }
    }
    let row: DocRow = id_documents::table
        .find(id)
        .select(DocRow::as_select())
        .first(conn)?;
    Ok(to_api(&row))
}

// ---------------------------------------------------------------- housekeeping

/// Periodic housekeeping at time `at`: shred the keys of retained documents whose period has
/// ended, and end the shows of models whose approval has expired.
pub fn sweep(conn: &mut DbConnection, at: NaiveDateTime) -> Result<Aftermath, IdDocError> {
    let mut after = Aftermath::default();
    for (id, user_id) in shreds_due(conn, at)? {
        shred(conn, id)?;
        audit(conn, None, Some(user_id), Some(id), "key_shredded")?;
    }
    for user_id in showing_unverified(conn, at.date())? {
        end_show(conn, user_id)?;
        audit(conn, None, Some(user_id), None, "show_ended_unverified")?;
        after.show_ended = true;
    }
    Ok(after)
}

/// Retained documents whose period is over at `at`: (document, owner).
fn shreds_due(conn: &mut DbConnection, at: NaiveDateTime) -> Result<Vec<(i64, i64)>, IdDocError> {
    Ok(id_documents::table
        .filter(id_documents::status.eq(DocumentState::Deleted.as_str()))
        .filter(id_documents::shred_after.le(at))
        .select((id_documents::id, id_documents::user_id))
        .load(conn)?)
}

/// Models showing on `today` who may not go live any more.
fn showing_unverified(conn: &mut DbConnection, today: NaiveDate) -> Result<Vec<i64>, IdDocError> {
    let showing: Vec<i64> = rooms::table
        .filter(rooms::status.ne("offline"))
        .select(rooms::user_id)
        .load(conn)?;
    let mut out = vec![];
    for user_id in showing {
        if may_go_live(conn, user_id, today).is_err() {
            out.push(user_id);
        }
    }
    Ok(out)
}

/// Whether [`sweep`] has anything to do at `at`. A read: a quiet round takes no write lock.
pub fn sweep_needed(conn: &mut DbConnection, at: NaiveDateTime) -> Result<bool, IdDocError> {
    Ok(!shreds_due(conn, at)?.is_empty() || !showing_unverified(conn, at.date())?.is_empty())
}

/// The subscriber that carries out retired documents' consequences after commit: their
/// ciphertext files removed, and deleted keys purged from the database's files
/// ([`crate::db::Db::shred_deleted_rows`]). A file that cannot be removed now is an orphan that
/// housekeeping removes later; its key is already gone, so it is unreadable either way.
pub fn on_retired(data_dir: std::path::PathBuf) -> crate::events::Subscriber<crate::db::Db> {
    std::sync::Arc::new(move |db, events| {
        let mut shred = false;
        for e in events {
            if let crate::events::Event::DocumentRetired {
                files,
                keys_shredded,
            } = e
            {
                shred |= *keys_shredded;
                let dir = storage::dir(&data_dir);
                for key in files {
                    if let Err(e) = storage::remove(&dir, key) {
                        tracing::warn!(error = %e, "could not remove a retired ciphertext file");
                    }
                }
            }
        }
        if shred {
            if let Err(e) = db.shred_deleted_rows("id_document_keys") {
                // The next housekeeping round tries again (it shreds whenever one is pending).
                tracing::error!(error = %e, "could not purge deleted document keys from the database files");
            }
        }
    })
}

/// Storage keys the database still references (for removing orphaned files).
pub fn referenced_keys(conn: &mut DbConnection) -> Result<Vec<String>, IdDocError> {
    Ok(id_documents::table
        .filter(id_documents::storage_key.is_not_null())
        .select(id_documents::storage_key.assume_not_null())
        .load(conn)?)
}

/// One round of housekeeping: [`sweep`] in a transaction, then remove the shredded files and
/// any ciphertext file no document references (left by a crash between storing a file and
/// committing its row, or by a failed removal). Files younger than ten minutes are left alone:
/// an upload may be between the two steps. Returns whether a show ended.
pub async fn housekeeping(
    db: &crate::db::Db,
    data_dir: &std::path::Path,
    at: NaiveDateTime,
) -> Result<bool, IdDocError> {
    let after = if db.read(move |conn| sweep_needed(conn, at)).await? {
        db.write(move |conn| sweep(conn, at)).await?
    } else {
        Aftermath::default()
    };
    // Shredded keys and files follow from the sweep's events (see `startup`); a purge whose
    // own truncation could not finish (readers kept SQLite's log busy) is completed here.
    if db.shred_pending() {
        let db = db.clone();
        tokio::task::spawn_blocking(move || db.shred_deleted_rows("id_document_keys"))
            .await
            .map_err(|e| DbError::Join(e.to_string()))??;
    }
    let referenced = db.read(referenced_keys).await?;
    let dir = storage::dir(data_dir);
    let removed = tokio::task::spawn_blocking(move || -> std::io::Result<usize> {
        let referenced: std::collections::HashSet<String> = referenced.into_iter().collect();
        let mut removed = 0;
        let young = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
        for (key, modified) in storage::list(&dir)? {
            if !referenced.contains(&key) && modified < young {
                storage::remove(&dir, &key)?;
                removed += 1;
            }
        }
        Ok(removed)
    })
    .await
    .map_err(|e| DbError::Join(e.to_string()))?
    .map_err(|e| IdDocError::Upload(UploadError::Io(e)))?;
    if removed > 0 {
        tracing::info!(removed, "removed orphaned ciphertext files");
    }
    Ok(after.show_ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn adulthood_starts_on_the_eighteenth_birthday() {
        assert_eq!(eighteenth_birthday(d(2008, 11, 26)), Some(d(2026, 11, 26)));
        assert_eq!(eighteenth_birthday(d(2008, 2, 29)), Some(d(2026, 3, 1)));
        assert_eq!(eighteenth_birthday(d(2006, 2, 28)), Some(d(2024, 2, 28)));
    }
}
