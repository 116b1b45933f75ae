//! Finding and following models on other instances.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use livestars_api::{ErrorBody, RemoteHandle, RemoteProfile};
use livestars_federation::apf::fetch::fetch_object_http;
use livestars_federation::apf::fetch::object_id::ObjectId;
use livestars_federation::objects::VideoJson;
use livestars_federation::protocol::{authority, Ctx, FedError, RemoteActor};
use livestars_federation::{Acct, Url};

use crate::db::DbError;
use crate::federation as store;
use crate::http::auth::CurrentUser;
use crate::http::error::ApiError;
use crate::http::AppState;

/// Resolve a handle or URL to a (cached) remote actor, and refresh her room listing.
async fn resolve(state: &AppState, handle: &str) -> Result<RemoteActor, ApiError> {
    let fed = &state.fed;
    let data = fed.config.to_request_data();
    let h = handle.trim();
    if h.len() > 300 {
        return Err(ApiError::bad_request(
            "invalid_handle",
            "at most 300 characters",
        ));
    }
    let actor = if h.starts_with("https://") || h.starts_with("http://") {
        let url =
            Url::parse(h).map_err(|e| ApiError::bad_request("invalid_handle", e.to_string()))?;
        if authority(&url) == fed.domain {
            return Err(ApiError::bad_request(
                "local_account",
                "that is an account on this instance",
            ));
        }
        check_allowed(state, &authority(&url)).await?;
        ObjectId::<RemoteActor>::from(url)
            .dereference(&data)
            .await?
    } else {
        let acct =
            Acct::parse(h).map_err(|e| ApiError::bad_request("invalid_handle", e.to_string()))?;
        if acct.host == fed.domain.to_ascii_lowercase() {
            return Err(ApiError::bad_request(
                "local_account",
                "that is an account on this instance",
            ));
        }
        check_allowed(state, &acct.host).await?;
        let url = webfinger(state, &acct).await?;
        if authority(&url) != acct.host {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "remote_failed",
                format!("{} names an actor on another host: {url}", acct.host),
            ));
        }
        ObjectId::<RemoteActor>::from(url)
            .dereference(&data)
            .await?
    };
    if let Some(room) = actor.room_url.clone() {
        if authority(&room) == actor.domain {
            match fetch_object_http::<Ctx, VideoJson>(&room, &data).await {
                Ok(res) if authority(&res.object.id) == actor.domain => {
                    let a = actor.clone();
                    state
                        .db
                        .write(move |c| {
                            store::save_video(c, &a, &res.object).map_err(DbError::from)
                        })
                        .await?;
                }
                Ok(_) => tracing::debug!(%room, "room listing on a foreign host ignored"),
                Err(e) => tracing::debug!(%room, error = %e, "room listing not fetched"),
            }
        }
    }
    Ok(actor)
}

/// WebFinger: the actor URL of `acct` on its instance (https; http in federation debug mode).
async fn webfinger(state: &AppState, acct: &Acct) -> Result<Url, ApiError> {
    let fed = &state.fed;
    let scheme = if fed.debug { "http" } else { "https" };
    if !fed.debug && acct.host.contains(':') {
        return Err(ApiError::bad_request(
            "invalid_url",
            "federated hosts are names without a port",
        ));
    }
    let url = format!(
        "{scheme}://{}/.well-known/webfinger?resource=acct:{acct}",
        acct.host
    );
    // No requests to loopback or private addresses outside federation debug mode.
    let parsed =
        Url::parse(&url).map_err(|e| ApiError::bad_request("invalid_handle", e.to_string()))?;
    fed.config
        .to_request_data()
        .is_valid_ip(&parsed)
        .await
        .map_err(|e| {
            // The detail names what the host resolved to: the log's, not the client's.
            tracing::info!(error = %e, "WebFinger lookup refused");
            ApiError::bad_request(
                "invalid_url",
                "that address cannot be fetched from this instance",
            )
        })?;
    let gone = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no account {acct}"),
        )
    };
    let failed = |why: String| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "remote_failed",
            format!("WebFinger at {}: {why}", acct.host),
        )
    };
    let r = fed
        .http
        .get(&url)
        .header("accept", "application/jrd+json, application/json")
        .send()
        .await
        .map_err(|e| {
            // Connection and resolution errors name addresses: logged, not answered.
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                why = format!("{why}: {s}");
                source = s.source();
            }
            tracing::info!(host = %acct.host, error = %why, "WebFinger request failed");
            failed("no answer".into())
        })?;
    match r.status().as_u16() {
        200..=299 => {}
        404 | 410 => return Err(gone()),
        s => return Err(failed(format!("status {s}"))),
    }
    let body = r.bytes().await.map_err(|e| failed(e.to_string()))?;
    if body.len() > 64 * 1024 {
        return Err(failed("answer too large".into()));
    }
    let jrd: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| failed(e.to_string()))?;
    jrd["links"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["rel"] == "self")
        .filter(|l| {
            l["type"].as_str().is_some_and(|t| {
                t.starts_with("application/activity+json") || t.starts_with("application/ld+json")
            })
        })
        .find_map(|l| l["href"].as_str().and_then(|h| Url::parse(h).ok()))
        .ok_or_else(|| failed("no ActivityPub link".into()))
}

async fn check_allowed(state: &AppState, domain: &str) -> Result<(), ApiError> {
    let (d, m) = (domain.to_string(), state.fed.default_mode.clone());
    let ok = state
        .db
        .read(move |c| store::allowed(c, &d, &m).map_err(DbError::from))
        .await?;
    if ok {
        Ok(())
    } else {
        Err(FedError::Forbidden(format!("{domain} is not federated with")).into())
    }
}

pub async fn profile_of(
    state: &AppState,
    user_id: i64,
    actor: RemoteActor,
) -> Result<RemoteProfile, ApiError> {
    let a = actor.clone();
    let (room, follow) = state
        .db
        .read(move |c| {
            let room = store::remote_room_of(c, &a)?;
            let follow = store::follow_of(c, user_id, a.id)?;
            Ok::<_, DbError>((room, follow.map(|f| f.1)))
        })
        .await?;
    Ok(RemoteProfile {
        handle: actor.handle(),
        actor_id: actor.ap_id.to_string(),
        display_name: actor.display_name,
        summary: actor.summary,
        icon_url: actor.icon_url,
        profile_url: actor.url,
        room,
        follow,
    })
}

/// Look up a model on another instance by `@name@host` or URL (WebFinger, then her actor).
#[utoipa::path(get, path = "/api/federation/lookup", tag = "federation", params(RemoteHandle),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Her profile and room listing", body = RemoteProfile),
        (status = 400, description = "Not a handle or URL, or a local account", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Her instance is not federated with", body = ErrorBody),
        (status = 404, description = "No such account there", body = ErrorBody),
        (status = 429, description = "Too many lookups and follows; see Retry-After", body = ErrorBody),
        (status = 502, description = "Her instance did not answer usefully", body = ErrorBody)))]
pub async fn lookup(
    state: web::Data<AppState>,
    current: CurrentUser,
    q: web::Query<RemoteHandle>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(lookup_remote(&state, current.user.id, &q.handle).await?))
}

/// Find a remote model by handle or URL (fetched and cached), as `user_id` sees her.
pub async fn lookup_remote(
    state: &AppState,
    user_id: i64,
    handle: &str,
) -> Result<RemoteProfile, ApiError> {
    state.limits.by_account(&state.limits.follows, user_id)?;
    let actor = resolve(state, handle).await?;
    profile_of(state, user_id, actor).await
}

/// `user` follows a remote model (pending until her instance accepts).
pub async fn follow_remote(
    state: &AppState,
    user: &crate::accounts::User,
    handle: &str,
) -> Result<RemoteProfile, ApiError> {
    state.limits.by_account(&state.limits.follows, user.id)?;
    let actor = resolve(state, handle).await?;
    let (base, mode) = (state.fed.base.clone(), state.fed.default_mode.clone());
    let (uid, name, a) = (user.id, user.username.clone(), actor.clone());
    state
        .db
        .write(move |c| store::follow(c, &base, &mode, uid, &name, &a).map_err(DbError::from))
        .await?;
    profile_of(state, user.id, actor).await
}

#[utoipa::path(post, path = "/api/federation/follows", tag = "federation",
    request_body = RemoteHandle, security(("bearer" = [])),
    responses(
        (status = 200, description = "Followed (pending until her instance accepts)", body = RemoteProfile),
        (status = 400, description = "Not a handle or URL, or a local account", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 403, description = "Her instance is not federated with", body = ErrorBody),
        (status = 404, description = "No such account there", body = ErrorBody),
        (status = 429, description = "Too many lookups and follows; see Retry-After", body = ErrorBody),
        (status = 502, description = "Her instance did not answer usefully", body = ErrorBody)))]
pub async fn follow(
    state: web::Data<AppState>,
    current: CurrentUser,
    body: web::Json<RemoteHandle>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(follow_remote(&state, &current.user, &body.handle).await?))
}

/// Stop following (`Undo(Follow)` to her instance).
#[utoipa::path(delete, path = "/api/federation/follows/{handle}", tag = "federation",
    params(("handle" = String, Path, description = "name@host")), security(("bearer" = [])),
    responses(
        (status = 204, description = "Unfollowed"),
        (status = 400, description = "Not a handle (name@host)", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "Not following that account", body = ErrorBody),
        (status = 429, description = "Too many lookups and follows; see Retry-After", body = ErrorBody)))]
pub async fn unfollow(
    state: web::Data<AppState>,
    current: CurrentUser,
    handle: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    unfollow_remote(&state, &current.user, &handle).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `user` stops following a remote model (`name@host`).
pub async fn unfollow_remote(
    state: &AppState,
    user: &crate::accounts::User,
    handle: &str,
) -> Result<(), ApiError> {
    state.limits.by_account(&state.limits.follows, user.id)?;
    let acct =
        Acct::parse(handle).map_err(|e| ApiError::bad_request("invalid_handle", e.to_string()))?;
    let not_following = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "you do not follow that account",
        )
    };
    let (base, mode) = (state.fed.base.clone(), state.fed.default_mode.clone());
    let (uid, name) = (user.id, user.username.clone());
    let done = state
        .db
        .write(move |c| {
            let Some(target) = store::actor_by_handle(c, &acct.name, &acct.host)? else {
                return Ok::<_, DbError>(false);
            };
            Ok(store::unfollow(c, &base, &mode, uid, &name, &target)?)
        })
        .await?;
    if !done {
        return Err(not_following());
    }
    Ok(())
}
