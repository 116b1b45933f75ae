//! Admin API: dashboard figures, accounts, shows and reports.

use actix_web::{web, HttpResponse};
use livestars_api::{
    AdminUser as AdminUserView, AdminUserQuery, ErrorBody, InstanceStats, Report, ReportQuery,
    ReportResolution, ReportStatus, RoleChange,
};

use crate::http::auth::AdminUser;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::moderation;

/// The instance at a glance.
#[utoipa::path(get, path = "/api/admin/stats", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Figures", body = InstanceStats),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody)))]
pub async fn stats(state: web::Data<AppState>, _a: AdminUser) -> Result<HttpResponse, ApiError> {
    let db = state.db.backend().as_str();
    let name = state.config.instance_name.clone();
    let s = state
        .db
        .read(move |conn| moderation::stats(conn, &name, db))
        .await?;
    Ok(HttpResponse::Ok().json(s))
}

/// Search accounts by part of the username.
#[utoipa::path(get, path = "/api/admin/users", tag = "admin", params(AdminUserQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Accounts", body = Vec<AdminUserView>),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody)))]
pub async fn users(
    state: web::Data<AppState>,
    _a: AdminUser,
    q: web::Query<AdminUserQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_field",
            "limit: between 1 and 200",
        ));
    }
    let query = q.q.clone().unwrap_or_default();
    let list = state
        .db
        .read(move |conn| moderation::search_users(conn, &query, i64::from(limit)))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Suspend an account: its sessions end, its show ends, it cannot sign in.
#[utoipa::path(post, path = "/api/admin/users/{id}/suspend", tag = "admin",
    params(("id" = i64, Path, description = "Account id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Suspended", body = AdminUserView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 409, description = "Already suspended, or oneself", body = ErrorBody)))]
pub async fn suspend(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let u = state
        .db
        .write(move |conn| moderation::suspend(conn, &admin.0, id))
        .await?;
    Ok(HttpResponse::Ok().json(u))
}

/// Lift a suspension.
#[utoipa::path(post, path = "/api/admin/users/{id}/unsuspend", tag = "admin",
    params(("id" = i64, Path, description = "Account id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Active again", body = AdminUserView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 409, description = "Not suspended", body = ErrorBody)))]
pub async fn unsuspend(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let u = state
        .db
        .write(move |conn| moderation::unsuspend(conn, &admin.0, id))
        .await?;
    Ok(HttpResponse::Ok().json(u))
}

/// Change an account's role.
#[utoipa::path(put, path = "/api/admin/users/{id}/role", tag = "admin",
    params(("id" = i64, Path, description = "Account id")), request_body = RoleChange,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = AdminUserView),
        (status = 400, description = "Invalid role or JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 409, description = "One's own role", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody)))]
pub async fn set_role(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i64>,
    body: web::Json<RoleChange>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let role = body.role;
    let u = state
        .db
        .write(move |conn| moderation::set_role(conn, &admin.0, id, role))
        .await?;
    Ok(HttpResponse::Ok().json(u))
}

/// End a room's show now.
#[utoipa::path(post, path = "/api/admin/rooms/{id}/end", tag = "admin",
    params(("id" = i64, Path, description = "Room id")), security(("bearer" = [])),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody),
        (status = 409, description = "Not showing", body = ErrorBody)))]
pub async fn end_show(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state
        .db
        .write(move |conn| moderation::force_end(conn, &admin.0, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The report queue (open by default).
#[utoipa::path(get, path = "/api/admin/reports", tag = "admin", params(ReportQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Reports", body = Vec<Report>),
        (status = 400, description = "Invalid filter", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody)))]
pub async fn reports(
    state: web::Data<AppState>,
    _a: AdminUser,
    q: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let status = q.status.unwrap_or(ReportStatus::Open);
    let list = state
        .db
        .read(move |conn| moderation::list_reports(conn, status))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Resolve a report: dismiss, end the show, or suspend the model.
#[utoipa::path(post, path = "/api/admin/reports/{id}/resolve", tag = "admin",
    params(("id" = i64, Path, description = "Report id")), request_body = ReportResolution,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Resolved", body = Report),
        (status = 400, description = "Invalid action or JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such report", body = ErrorBody),
        (status = 409, description = "Already resolved", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody)))]
pub async fn resolve(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i64>,
    body: web::Json<ReportResolution>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let action = body.action;
    let (report, _ended) = state
        .db
        .write(move |conn| moderation::resolve_report(conn, &admin.0, id, action))
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// Every admin API token: whose, and since when (never the token itself).
#[utoipa::path(get, path = "/api/admin/tokens", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Admin API tokens, newest first", body = Vec<livestars_api::AdminToken>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody)))]
pub async fn tokens(state: web::Data<AppState>, _a: AdminUser) -> Result<HttpResponse, ApiError> {
    let list = state.db.read(crate::accounts::admin_tokens).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Revoke an admin API token at once (it stops working for its next request).
#[utoipa::path(delete, path = "/api/admin/tokens/{id}", tag = "admin",
    params(("id" = String, Path, description = "The token's id (its SHA-256)")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such admin API token", body = ErrorBody)))]
pub async fn revoke_token(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let actor = admin.0.id;
    state
        .db
        .write(move |conn| {
            let owner = crate::accounts::revoke_admin_token(conn, &id)?;
            let owner = owner.ok_or(crate::accounts::AccountError::NotFound)?;
            crate::iddocs::audit(conn, Some(actor), Some(owner), None, "admin_token_revoked")
                .map_err(|e| crate::accounts::AccountError::Internal(e.to_string()))
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
