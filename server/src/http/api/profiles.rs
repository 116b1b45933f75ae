//! Model profiles and avatars.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use futures_util::StreamExt;
use livestars_api::{ErrorBody, Profile, ProfileUpdate};

use crate::http::auth::CurrentUser;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::profiles::{self, ProfileError};

/// A model's public profile.
#[utoipa::path(get, path = "/api/profiles/{username}", tag = "profiles",
    params(("username" = String, Path, description = "The model's username")),
    responses(
        (status = 200, description = "The profile", body = Profile),
        (status = 404, description = "No such model", body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    username: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let username = username.into_inner();
    let p = state
        .db
        .read(move |conn| profiles::get(conn, &username))
        .await?;
    Ok(HttpResponse::Ok().json(p))
}

/// Change one's own profile; absent fields stay as they are. Invalid input changes nothing.
#[utoipa::path(patch, path = "/api/profiles/{username}", tag = "profiles",
    params(("username" = String, Path, description = "The model's username")),
    request_body = ProfileUpdate, security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated profile", body = Profile),
        (status = 400, description = "Invalid field or JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not the owner", body = ErrorBody),
        (status = 404, description = "No such model", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 409, description = "The display name looks like another model's name", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    current: CurrentUser,
    username: web::Path<String>,
    body: web::Json<ProfileUpdate>,
) -> Result<HttpResponse, ApiError> {
    let username = username.into_inner();
    let upd = body.into_inner();
    let user = current.user;
    let p = state
        .db
        .write(move |conn| profiles::update(conn, &username, &user, &upd))
        .await?;
    Ok(HttpResponse::Ok().json(p))
}

/// The avatar image.
#[utoipa::path(get, path = "/api/profiles/{username}/avatar", tag = "profiles",
    params(("username" = String, Path, description = "The model's username")),
    responses(
        (status = 200, description = "The image", content((Vec<u8> = "image/png"), (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/webp"))),
        (status = 404, description = "No such model or no avatar", body = ErrorBody)))]
pub async fn avatar(
    state: web::Data<AppState>,
    username: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let username = username.into_inner();
    let (mime, bytes) = state
        .db
        .read(move |conn| profiles::avatar(conn, &username))
        .await?;
    let ext = match mime.as_str() {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        _ => "webp",
    };
    Ok(HttpResponse::Ok()
        .content_type(mime)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"avatar.{ext}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "default-src 'none'"))
        .body(bytes))
}

/// Upload one's avatar: the raw image bytes as the body (PNG, JPEG or WebP, recognised from the
/// bytes; at most `max_avatar_bytes`).
#[utoipa::path(put, path = "/api/profiles/{username}/avatar", tag = "profiles",
    params(("username" = String, Path, description = "The model's username")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "The image bytes"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The profile with its new avatar", body = Profile),
        (status = 400, description = "Empty body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not the owner", body = ErrorBody),
        (status = 404, description = "No such model", body = ErrorBody),
        (status = 413, description = "Image too large", body = ErrorBody),
        (status = 415, description = "Not a PNG, JPEG or WebP image", body = ErrorBody),
        (status = 429, description = "Too many uploads from this account; see Retry-After", body = ErrorBody)))]
pub async fn set_avatar(
    state: web::Data<AppState>,
    current: CurrentUser,
    username: web::Path<String>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    state
        .limits
        .by_account(&state.limits.uploads, current.user.id)?;
    let limit = state.config.max_avatar_bytes;
    let mut bytes = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("bad_body", e.to_string()))?;
        if bytes.len() + chunk.len() > limit {
            return Err(ProfileError::TooLarge { limit }.into());
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "empty_body",
            "send the image bytes as the body",
        ));
    }
    let username = username.into_inner();
    let user = current.user;
    // Decoded and re-encoded outside the transaction (slow): only pixels are kept.
    let avatar = tokio::task::spawn_blocking(move || profiles::images::clean(&bytes))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| match e {
            profiles::images::ImageError::Encode(m) => ApiError::internal(m),
            other => ApiError::new(
                actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_image",
                other.to_string(),
            ),
        })?;
    let p = state
        .db
        .write(move |conn| profiles::set_avatar(conn, &username, &user, &avatar))
        .await?;
    Ok(HttpResponse::Ok().json(p))
}

/// `user` follows (`on`) or stops following a model of this instance; following twice is one
/// follow. A model of another instance is followed through `/api/federation/follows`.
pub async fn follow_local(
    state: &AppState,
    user: &crate::accounts::User,
    username: String,
    on: bool,
) -> Result<livestars_api::FollowState, ApiError> {
    state.limits.by_account(&state.limits.follows, user.id)?;
    let user = user.clone();
    let (following, followers) = state
        .db
        .write(move |conn| {
            if on {
                profiles::follows::follow(conn, &user, &username)?;
            } else {
                profiles::follows::unfollow(conn, &user, &username)?;
            }
            profiles::follows::state(conn, Some(user.id), &username)
        })
        .await?;
    Ok(livestars_api::FollowState {
        following,
        followers,
    })
}

#[utoipa::path(put, path = "/api/profiles/{username}/follow", tag = "profiles",
    params(("username" = String, Path, description = "The model's username")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Following her", body = livestars_api::FollowState),
        (status = 400, description = "Oneself", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such model here", body = ErrorBody),
        (status = 429, description = "Too many follows; see Retry-After", body = ErrorBody)))]
pub async fn follow(
    state: web::Data<AppState>,
    current: CurrentUser,
    username: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = follow_local(&state, &current.user, username.into_inner(), true).await?;
    Ok(HttpResponse::Ok().json(s))
}

#[utoipa::path(delete, path = "/api/profiles/{username}/follow", tag = "profiles",
    params(("username" = String, Path, description = "The model's username")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Not following her", body = livestars_api::FollowState),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such model here", body = ErrorBody),
        (status = 429, description = "Too many follows; see Retry-After", body = ErrorBody)))]
pub async fn unfollow(
    state: web::Data<AppState>,
    current: CurrentUser,
    username: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = follow_local(&state, &current.user, username.into_inner(), false).await?;
    Ok(HttpResponse::Ok().json(s))
}
