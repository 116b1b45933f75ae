//! Reports about rooms, by signed-in users. The reporter's identity is kept for abuse handling
//! but not shown in the admins' queue.

use actix_web::{web, HttpResponse};
use livestars_api::{ErrorBody, NewReport, Report};

use crate::http::auth::CurrentUser;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::moderation;

/// Report a room to the instance's admins.
#[utoipa::path(post, path = "/api/reports", tag = "rooms", request_body = NewReport,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Filed", body = Report),
        (status = 400, description = "Invalid reason or JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "Too many reports from this account; see Retry-After", body = ErrorBody)))]
pub async fn file(
    state: web::Data<AppState>,
    current: CurrentUser,
    body: web::Json<NewReport>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let user = current.user;
    state.limits.by_account(&state.limits.reports, user.id)?;
    let r = state
        .db
        .write(move |conn| moderation::file_report(conn, &user, &body))
        .await?;
    Ok(HttpResponse::Created().json(r))
}
