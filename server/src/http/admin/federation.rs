//! The operator's federation controls: mode (open / allowlist), domain blocks and allows, and
//! the delivery state of remote instances. Changes apply to the next request and delivery.

use actix_web::{web, HttpResponse};
use livestars_api::{
    DomainPolicyUpdate, ErrorBody, FederationModeUpdate, FederationPolicy, InstanceDelivery,
};

use crate::db::DbError;
use crate::federation as store;
use crate::http::auth::AdminUser;
use crate::http::error::ApiError;
use crate::http::AppState;

async fn policy(state: &AppState) -> Result<FederationPolicy, ApiError> {
    let mode = state.fed.default_mode.clone();
    Ok(state
        .db
        .read(move |c| {
            let (blocked, allowed) = store::domain_lists(c)?;
            Ok::<_, DbError>(FederationPolicy {
                mode: store::mode(c, &mode)?,
                blocked,
                allowed,
            })
        })
        .await?)
}

/// The federation mode and the domain lists.
#[utoipa::path(get, path = "/api/admin/federation", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Policy", body = FederationPolicy),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody)))]
pub async fn get_policy(
    state: web::Data<AppState>,
    _admin: AdminUser,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(policy(&state).await?))
}

/// Switch between `open` and `allowlist`.
#[utoipa::path(put, path = "/api/admin/federation/mode", tag = "admin",
    request_body = FederationModeUpdate, security(("bearer" = [])),
    responses(
        (status = 200, description = "The new policy", body = FederationPolicy),
        (status = 400, description = "Unknown mode", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody)))]
pub async fn set_mode(
    state: web::Data<AppState>,
    _admin: AdminUser,
    body: web::Json<FederationModeUpdate>,
) -> Result<HttpResponse, ApiError> {
    let mode = body.mode.trim().to_string();
    if mode != "open" && mode != "allowlist" {
        return Err(ApiError::bad_request(
            "invalid_mode",
            "mode is open or allowlist",
        ));
    }
    state
        .db
        .write(move |c| store::set_mode(c, &mode).map_err(DbError::from))
        .await?;
    Ok(HttpResponse::Ok().json(policy(&state).await?))
}

/// Block, allow, or clear a domain (`host` or `host:port`). Blocking drops what is queued for it.
#[utoipa::path(put, path = "/api/admin/federation/domains", tag = "admin",
    request_body = DomainPolicyUpdate, security(("bearer" = [])),
    responses(
        (status = 200, description = "The new policy", body = FederationPolicy),
        (status = 400, description = "Invalid domain or policy", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody)))]
pub async fn set_domain(
    state: web::Data<AppState>,
    _admin: AdminUser,
    body: web::Json<DomainPolicyUpdate>,
) -> Result<HttpResponse, ApiError> {
    let domain = body.domain.trim().to_ascii_lowercase();
    let probe = format!("x@{domain}");
    if livestars_federation::Acct::parse(&probe).is_err() || domain.len() > 253 {
        return Err(ApiError::bad_request(
            "invalid_domain",
            "a DNS name with an optional :port",
        ));
    }
    let policy_value = match body.policy.as_str() {
        "block" => Some("block"),
        "allow" => Some("allow"),
        "none" => None,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_policy",
                "policy is block, allow or none",
            ))
        }
    };
    state
        .db
        .write(move |c| store::set_domain_policy(c, &domain, policy_value).map_err(DbError::from))
        .await?;
    Ok(HttpResponse::Ok().json(policy(&state).await?))
}

/// Remote instances we deliver to: dead or alive, last success, last error, queue length.
#[utoipa::path(get, path = "/api/admin/federation/instances", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Instances", body = Vec<InstanceDelivery>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody)))]
pub async fn instances_list(
    state: web::Data<AppState>,
    _admin: AdminUser,
) -> Result<HttpResponse, ApiError> {
    let list = state
        .db
        .read(|c| store::instance_deliveries(c).map_err(DbError::from))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}
