//! The one error type at the HTTP boundary. Every failure leaves as a status code and
//! `{"error": "<snake_case code>", "message": "…"}`. Module errors map here once; internal
//! causes are logged and never sent to the client.

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use livestars_api::ErrorBody;

use crate::accounts::AccountError;
use crate::db::DbError;
use crate::iddocs::{IdDocError, UploadError};
use crate::moderation::ModerationError;
use crate::profiles::ProfileError;
use crate::rooms::RoomError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds after which a refused request (429, 503) may be tried again (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The same error, to be tried again after `secs` seconds.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    /// Too many requests of this kind from this client or account.
    pub fn rate_limited(secs: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests; try again in {} s", secs.max(1)),
        )
        .retry_after(secs)
    }

    /// The server is at its limit for this kind of work (password checks): try again shortly.
    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message).retry_after(1)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// An internal failure: the cause goes to the log, the client gets a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; it has been logged",
        )
    }

    /// The error for a status produced outside our handlers (routing, method, payload limits).
    pub fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "no such resource"),
            StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed here"),
            StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ("unsupported_media_type", "unsupported content type")
            }
            s if s.is_server_error() => ("internal", "internal error"),
            _ => ("bad_request", "bad request"),
        };
        Self::new(status, code, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let mut res = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        res.json(ErrorBody {
            error: self.code.to_string(),
            message: self.message.clone(),
        })
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        ApiError::internal(e)
    }
}

impl From<crate::ledger::LedgerError> for ApiError {
    fn from(e: crate::ledger::LedgerError) -> Self {
        use crate::ledger::LedgerError::*;
        let msg = e.to_string();
        match e {
            InvalidAmount(_) => ApiError::bad_request("invalid_amount", msg),
            Invalid(_) => ApiError::bad_request("invalid_field", msg),
            InsufficientBalance => ApiError::new(StatusCode::CONFLICT, "insufficient_balance", msg),
            RoomNotFound => ApiError::new(StatusCode::NOT_FOUND, "not_found", msg),
            RoomOffline => ApiError::new(StatusCode::CONFLICT, "room_offline", msg),
            SelfTip => ApiError::new(StatusCode::FORBIDDEN, "self_tip", msg),
            KeyReused => ApiError::new(StatusCode::CONFLICT, "idempotency_key_reused", msg),
            Overflow => ApiError::bad_request("invalid_amount", msg),
            Db(e) => e.into(),
        }
    }
}

impl From<crate::settlement::SettlementError> for ApiError {
    fn from(e: crate::settlement::SettlementError) -> Self {
        use crate::settlement::SettlementError::*;
        let msg = e.to_string();
        match e {
            Invalid(_) => ApiError::bad_request("invalid_field", msg),
            Disabled => ApiError::new(StatusCode::CONFLICT, "settlement_disabled", msg),
            Halted(_) => ApiError::new(StatusCode::CONFLICT, "settlement_halted", msg),
            UnknownChallenge => ApiError::new(StatusCode::NOT_FOUND, "unknown_challenge", msg),
            ChallengeUsed => ApiError::new(StatusCode::CONFLICT, "challenge_used", msg),
            ChallengeExpired => ApiError::new(StatusCode::GONE, "challenge_expired", msg),
            BadSignature => ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", msg),
            WalletTaken => ApiError::new(StatusCode::CONFLICT, "wallet_taken", msg),
            NoWallet => ApiError::new(StatusCode::CONFLICT, "no_wallet", msg),
            PayoutNotFound => ApiError::new(StatusCode::NOT_FOUND, "not_found", msg),
            KeyReused => ApiError::new(StatusCode::CONFLICT, "idempotency_key_reused", msg),
            Suspended => ApiError::new(StatusCode::FORBIDDEN, "account_suspended", msg),
            Ledger(e) => e.into(),
            Db(e) => e.into(),
            Chain(e) => ApiError::new(StatusCode::BAD_GATEWAY, "chain_unavailable", e.to_string()),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        use AccountError::*;
        let msg = e.to_string();
        match e {
            InvalidUsername(_) => ApiError::bad_request("invalid_username", msg),
            InvalidPassword(_) => ApiError::bad_request("invalid_password", msg),
            UsernameTaken => ApiError::new(StatusCode::CONFLICT, "username_taken", msg),
            BadCredentials => ApiError::new(StatusCode::UNAUTHORIZED, "bad_credentials", msg),
            Unauthenticated => ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", msg),
            NotFound => ApiError::new(StatusCode::NOT_FOUND, "not_found", msg),
            Suspended => ApiError::new(StatusCode::FORBIDDEN, "account_suspended", msg),
            Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", msg),
            RoleConflict(_) => ApiError::new(StatusCode::CONFLICT, "role_conflict", msg),
            MoneyLeft(_) => ApiError::new(StatusCode::CONFLICT, "balance_remaining", msg),
            Busy(_) => ApiError::busy(msg),
            Hashing(_) | Internal(_) | Db(_) => ApiError::internal(msg),
        }
    }
}

impl From<ProfileError> for ApiError {
    fn from(e: ProfileError) -> Self {
        use ProfileError::*;
        let msg = e.to_string();
        match e {
            NotFound | NoAvatar => ApiError::new(StatusCode::NOT_FOUND, "not_found", msg),
            NameTaken => ApiError::new(StatusCode::CONFLICT, "name_taken", msg),
            Forbidden => ApiError::new(StatusCode::FORBIDDEN, "forbidden", msg),
            Invalid { .. } => ApiError::bad_request("invalid_field", msg),
            UnsupportedImage => {
                ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_image", msg)
            }
            TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", msg)
            }
            Db(_) => ApiError::internal(msg),
        }
    }
}

impl From<RoomError> for ApiError {
    fn from(e: RoomError) -> Self {
        use RoomError::*;
        let msg = e.to_string();
        match e {
            NotFound => ApiError::new(StatusCode::NOT_FOUND, "not_found", msg),
            Forbidden => ApiError::new(StatusCode::FORBIDDEN, "forbidden", msg),
            Invalid { .. } => ApiError::bad_request("invalid_field", msg),
            InvalidCursor => ApiError::bad_request("invalid_cursor", msg),
            VerificationRequired(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "verification_required", msg)
            }
            Suspended => ApiError::new(StatusCode::FORBIDDEN, "account_suspended", msg),
            Internal(_) | Db(_) => ApiError::internal(msg),
        }
    }
}

/// Map the JSON extractor's failures: syntax, shape, size and content type.
pub fn json_error(err: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match &err {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => {
            ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE)
        }
        E::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ),
        E::Deserialize(e) if e.is_data() => ApiError::bad_request("invalid_request", e.to_string()),
        E::Deserialize(e) => ApiError::bad_request("invalid_json", e.to_string()),
        _ => ApiError::bad_request("invalid_json", err.to_string()),
    }
}

/// Middleware hook: an error response that is not JSON yet (routing, 405, payload limits from
/// actix itself) is replaced by our JSON error body with the same status.
pub fn jsonify_error<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if is_json || is_html {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    if !res.request().path().starts_with("/api/") && crate::http::pages::wants_html(res.request()) {
        // A browser on an unknown page: an HTML page, not JSON.
        let (req, _) = res.into_parts();
        let body = crate::http::pages::error_page(status);
        let res: ServiceResponse<EitherBody<B, BoxBody>> =
            ServiceResponse::new(req, body).map_into_right_body();
        return Ok(ErrorHandlerResponse::Response(res));
    }
    let allow = res.headers().get(header::ALLOW).cloned();
    let (req, _) = res.into_parts();
    let mut body = ApiError::from_status(status).error_response();
    if let Some(allow) = allow {
        body.headers_mut().insert(header::ALLOW, allow);
    }
    let res: ServiceResponse<EitherBody<B, BoxBody>> =
        ServiceResponse::new(req, body).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(res))
}

impl From<IdDocError> for ApiError {
    fn from(e: IdDocError) -> Self {
        use IdDocError::*;
        let msg = e.to_string();
        match e {
            NoVerifiers => ApiError::new(StatusCode::CONFLICT, "no_verifiers", msg),
            InvalidRecipient(_) => ApiError::bad_request("invalid_recipient", msg),
            RecipientExists => ApiError::new(StatusCode::CONFLICT, "recipient_exists", msg),
            NotFound => ApiError::new(StatusCode::NOT_FOUND, "not_found", msg),
            Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", msg),
            NotPending => ApiError::new(StatusCode::CONFLICT, "not_pending", msg),
            StaleDocument => ApiError::new(StatusCode::CONFLICT, "stale_document", msg),
            StaleKey => ApiError::new(StatusCode::CONFLICT, "stale_key", msg),
            StaleRecipients => ApiError::new(StatusCode::CONFLICT, "stale_recipients", msg),
            NotVerifier(_) => ApiError::new(StatusCode::FORBIDDEN, "not_a_verifier", msg),
            BadKeyProof => ApiError::new(StatusCode::FORBIDDEN, "bad_key_proof", msg),
            UnderAge => ApiError::bad_request("under_age", msg),
            Invalid { .. } => ApiError::bad_request("invalid_field", msg),
            VerificationRequired(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "verification_required", msg)
            }
            TooManyUploads {
                retry_after_secs, ..
            } => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", msg)
                .retry_after(retry_after_secs),
            Upload(UploadError::Empty) => ApiError::bad_request("empty_body", msg),
            Upload(UploadError::UnsupportedType) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_document",
                msg,
            ),
            Upload(UploadError::NotSealed(_)) => ApiError::bad_request("not_sealed", msg),
            Upload(UploadError::TooLarge { .. }) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", msg)
            }
            Upload(_) | Db(_) => ApiError::internal(msg),
        }
    }
}

impl From<ModerationError> for ApiError {
    fn from(e: ModerationError) -> Self {
        use ModerationError::*;
        let msg = e.to_string();
        match e {
            NoSuchUser | NoSuchRoom | NoSuchReport => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", msg)
            }
            Conflict(_) => ApiError::new(StatusCode::CONFLICT, "conflict", msg),
            Invalid { .. } => ApiError::bad_request("invalid_field", msg),
            Internal(_) | Db(_) => ApiError::internal(msg),
        }
    }
}
