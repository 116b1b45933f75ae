//! Rooms and the directory.

use actix_web::{web, HttpResponse};
use livestars_api::{
    DirectoryPage, DirectoryQuery, ErrorBody, Room, RoomStatus, RoomUpdate, StartShow,
};

use crate::http::auth::CurrentUser;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::rooms;

/// The directory: rooms of one status ranked by the published formula (docs/ranking.md), with
/// each room's score and every term of it.
#[utoipa::path(get, path = "/api/rooms", tag = "rooms", params(DirectoryQuery),
    responses(
        (status = 200, description = "One page of ranked rooms", body = DirectoryPage),
        (status = 400, description = "Invalid filter, limit or cursor", body = ErrorBody)))]
pub async fn directory(
    state: web::Data<AppState>,
    query: web::Query<DirectoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let body = state.directory.page(&state.db, &query).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(actix_web::web::Bytes::copy_from_slice(&body)))
}

/// One room.
#[utoipa::path(get, path = "/api/rooms/{id}", tag = "rooms",
    params(("id" = i64, Path, description = "Room id")),
    responses(
        (status = 200, description = "The room", body = Room),
        (status = 404, description = "No such room", body = ErrorBody)))]
pub async fn get(state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let room = state.db.read(move |conn| rooms::get(conn, id)).await?;
    Ok(HttpResponse::Ok().json(room))
}

/// Change one's room title and tags.
#[utoipa::path(patch, path = "/api/rooms/{id}", tag = "rooms",
    params(("id" = i64, Path, description = "Room id")),
    request_body = RoomUpdate, security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated room", body = Room),
        (status = 400, description = "Invalid field or JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not this room's model", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    current: CurrentUser,
    id: web::Path<i64>,
    body: web::Json<RoomUpdate>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let upd = body.into_inner();
    let user = current.user;
    let room = state
        .db
        .write(move |conn| rooms::update(conn, id, &user, &upd))
        .await?;
    Ok(HttpResponse::Ok().json(room))
}

/// Start the show, public (`live`, the default when the body is empty) or `private`. Switching
/// between the two keeps the start time.
#[utoipa::path(post, path = "/api/rooms/{id}/start", tag = "rooms",
    params(("id" = i64, Path, description = "Room id")),
    request_body(content = Option<StartShow>, description = "Optional; empty means live"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The room, now showing", body = Room),
        (status = 400, description = "Invalid status or JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not this room's model", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody)))]
pub async fn start(
    state: web::Data<AppState>,
    current: CurrentUser,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let req: StartShow = if body.iter().all(u8::is_ascii_whitespace) {
        StartShow::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            if e.is_data() {
                ApiError::bad_request("invalid_request", e.to_string())
            } else {
                ApiError::bad_request("invalid_json", e.to_string())
            }
        })?
    };
    let status = req.status.unwrap_or(RoomStatus::Live);
    let id = id.into_inner();
    let user = current.user;
    let room = state
        .db
        .write(move |conn| rooms::start(conn, id, &user, status))
        .await?;
    Ok(HttpResponse::Ok().json(room))
}

/// End the show.
#[utoipa::path(post, path = "/api/rooms/{id}/stop", tag = "rooms",
    params(("id" = i64, Path, description = "Room id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The room, now offline", body = Room),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not this room's model", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody)))]
pub async fn stop(
    state: web::Data<AppState>,
    current: CurrentUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let user = current.user;
    let room = state
        .db
        .write(move |conn| rooms::stop(conn, id, &user))
        .await?;
    Ok(HttpResponse::Ok().json(room))
}
