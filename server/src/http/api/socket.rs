//! The room socket: `GET /api/rooms/{id}/socket` upgrades to a WebSocket that carries the room's
//! chat and tips (and, with the live-video issue, its signalling). Frames are JSON text,
//! `{"v": 1, "type": …}` ([`livestars_api::ClientFrame`], [`livestars_api::ServerFrame`];
//! docs/socket.md). Anyone may join a room to read; chatting needs an account. A client that
//! reconnects with `?after=<last line id>` gets the lines it missed, without duplicates.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{CloseCode, CloseReason};
use livestars_api::{ClientFrame, ErrorBody, Frame, ServerFrame, SOCKET_VERSION};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::accounts::User;
use crate::http::auth::CurrentUser;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::rooms::chat;
use crate::rooms::events::RoomEvent;

/// Largest frame a client may send (a chat line is at most 500 characters).
const MAX_FRAME: usize = 4096;
/// A ping goes out this often; a client silent for three of them is gone.
const PING_EVERY: Duration = Duration::from_secs(20);

#[derive(Deserialize)]
pub struct SocketQuery {
    /// The last chat line id this client saw (on reconnect).
    after: Option<i64>,
}

fn encode(body: ServerFrame) -> String {
    serde_json::to_string(&Frame {
        v: SOCKET_VERSION,
        body,
    })
    .unwrap_or_default()
}

fn error(code: &str, message: impl Into<String>, retry_after: Option<u64>) -> String {
    encode(ServerFrame::Error {
        code: code.into(),
        message: message.into(),
        retry_after,
    })
}

/// Open the room socket.
pub async fn socket(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    q: web::Query<SocketQuery>,
    current: Option<CurrentUser>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let room_id = id.into_inner();
    // A page of another site could open this socket with the visitor's cookie (browsers do not
    // apply CORS to WebSockets): only our own pages may.
    if let Some(origin) = req.headers().get(actix_web::http::header::ORIGIN) {
        let ours = crate::http::csrf::origin_of(&state.config.public_url);
        if crate::http::csrf::origin_of(origin.to_str().unwrap_or("null")) != ours {
            return Err(ApiError::new(
                actix_web::http::StatusCode::FORBIDDEN,
                "cross_site",
                "the room socket opens from this instance's own pages only",
            ));
        }
    }
    // Each open socket holds a task and a subscription: capped per address and in total.
    let slot = state
        .limits
        .streams
        .open(state.limits.client_key(&req))
        .ok_or_else(|| ApiError::rate_limited(15))?;
    // Subscribed before the backlog is read: a line said in between arrives twice at most (the
    // client drops ids it has seen), never not at all.
    let mut rx = state.events.subscribe(room_id);
    let backlog = backlog(&state, room_id, q.after).await?;
    let (res, mut session, stream) = actix_ws::handle(&req, body).map_err(|e| {
        ApiError::bad_request("not_a_websocket", format!("open this as a WebSocket: {e}"))
    })?;
    let mut stream = stream
        .max_frame_size(MAX_FRAME)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME);
    let user: Option<User> = current.map(|c| c.user);
    let welcome = encode(ServerFrame::Welcome {
        room_id,
        you: user.as_ref().map(|u| u.username.clone()),
        can_chat: user.is_some(),
        backlog,
    });
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        let _slot = slot;
        if session.text(welcome).await.is_err() {
            return;
        }
        // In the room (and counted) while this task runs.
        let _presence = state.events.join(room_id, user.as_ref().map(|u| u.id));
        let mut ping = tokio::time::interval(PING_EVERY);
        let mut unanswered = 0u32;
        let reason = loop {
            tokio::select! {
                ev = rx.recv() => {
                    let frame = match ev {
                        Ok(RoomEvent::Chat(line)) => encode(ServerFrame::Chat(line)),
                        Ok(RoomEvent::Tip(tip)) => encode(ServerFrame::Tip(tip)),
                        Ok(RoomEvent::Presence { viewers, guests, .. }) => {
                            encode(ServerFrame::Presence { viewers, guests })
                        }
                        // Too slow to keep up: what it missed is in the backlog on reconnect.
                        Err(RecvError::Lagged(_)) => break Some(CloseReason {
                            code: CloseCode::Again,
                            description: Some("too slow; reconnect with ?after=".into()),
                        }),
                        Err(RecvError::Closed) => break None,
                    };
                    if session.text(frame).await.is_err() {
                        break None;
                    }
                }
                msg = stream.recv() => {
                    let reply = match msg {
                        None => break None,
                        Some(Err(e)) => break Some(CloseReason {
                            code: CloseCode::Policy,
                            description: Some(format!("bad frame: {e}")),
                        }),
                        Some(Ok(actix_ws::AggregatedMessage::Text(text))) => {
                            handle(&state, room_id, user.as_ref(), &text).await
                        }
                        Some(Ok(actix_ws::AggregatedMessage::Binary(_))) => Some(error(
                            "invalid_frame",
                            "binary frames are not part of this protocol; send JSON text",
                            None,
                        )),
                        Some(Ok(actix_ws::AggregatedMessage::Ping(p))) => {
                            if session.pong(&p).await.is_err() {
                                break None;
                            }
                            None
                        }
                        Some(Ok(actix_ws::AggregatedMessage::Pong(_))) => {
                            unanswered = 0;
                            None
                        }
                        Some(Ok(actix_ws::AggregatedMessage::Close(_))) => break None,
                    };
                    if let Some(r) = reply {
                        if session.text(r).await.is_err() {
                            break None;
                        }
                    }
                }
                _ = ping.tick() => {
                    unanswered += 1;
                    if unanswered > 3 || session.ping(b"").await.is_err() {
                        break None;
                    }
                }
            }
        };
        let _ = session.close(reason).await;
    });
    Ok(res)
}

/// Answer one text frame from the client; `None` when there is nothing to answer (a chat
/// line comes back to everyone, its sender included, once it is stored).
async fn handle(state: &AppState, room_id: i64, user: Option<&User>, text: &str) -> Option<String> {
    let frame: Frame<ClientFrame> = match serde_json::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            return Some(error(
                "invalid_frame",
                format!("not a frame of this protocol: {e}"),
                None,
            ))
        }
    };
    if frame.v != SOCKET_VERSION {
        return Some(error(
            "unsupported_version",
            format!("this server speaks version {SOCKET_VERSION}"),
            None,
        ));
    }
    match frame.body {
        ClientFrame::Ping => Some(encode(ServerFrame::Pong)),
        ClientFrame::Chat { text } => {
            let Some(user) = user else {
                return Some(error("unauthenticated", "sign in to chat", None));
            };
            match say_as(state, user, room_id, text).await {
                Ok(_) => None,
                Err(e) => Some(error(e.code, e.message, e.retry_after)),
            }
        }
    }
}

/// `user` says `text` in the room: the per-account chat limit, then the line stored (and, after
/// commit, sent to the room). The socket and `POST /api/rooms/{id}/chat` both come here.
pub async fn say_as(
    state: &AppState,
    user: &User,
    room_id: i64,
    text: String,
) -> Result<livestars_api::ChatLine, ApiError> {
    state
        .limits
        .chat
        .take(&user.id.to_string())
        .map_err(|secs| {
            ApiError::new(
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("slow down: you can chat again in {} s", secs.max(1)),
            )
            .retry_after(secs.max(1))
        })?;
    let user = user.clone();
    Ok(state
        .db
        .write(move |c| chat::say(c, room_id, &user, &text))
        .await?)
}

/// A chat line as the API takes it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// At most 500 characters; line breaks become spaces.
    text: String,
}

/// Say something in a room's chat (what the room socket's `chat` frame does, for programs).
#[utoipa::path(post, path = "/api/rooms/{id}/chat", tag = "rooms",
    params(("id" = i64, Path, description = "Room id")),
    request_body = ChatRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "Said", body = livestars_api::ChatLine),
        (status = 400, description = "Empty or too long", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Suspended", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "Too many lines; see Retry-After", body = ErrorBody)))]
pub async fn post_chat(
    state: web::Data<AppState>,
    current: CurrentUser,
    id: web::Path<i64>,
    body: web::Json<ChatRequest>,
) -> Result<HttpResponse, ApiError> {
    let line = say_as(
        &state,
        &current.user,
        id.into_inner(),
        body.into_inner().text,
    )
    .await?;
    Ok(HttpResponse::Created().json(line))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ChatQuery {
    /// Only lines after this id.
    after: Option<i64>,
}

/// A room's latest chat lines (at most 50), or those after `after`, oldest first.
#[utoipa::path(get, path = "/api/rooms/{id}/chat", tag = "rooms",
    params(("id" = i64, Path, description = "Room id"), ChatQuery),
    responses(
        (status = 200, description = "Lines", body = Vec<livestars_api::ChatLine>),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody)))]
pub async fn get_chat(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    q: web::Query<ChatQuery>,
) -> Result<HttpResponse, ApiError> {
    let lines = backlog(&state, id.into_inner(), q.after).await?;
    Ok(HttpResponse::Ok().json(lines))
}

/// The room's lines after `after` (or its latest); 404 for a room that does not exist.
async fn backlog(
    state: &AppState,
    room_id: i64,
    after: Option<i64>,
) -> Result<Vec<livestars_api::ChatLine>, ApiError> {
    Ok(state
        .db
        .read(move |c| {
            if !crate::rooms::exists(c, room_id).map_err(crate::db::DbError::from)? {
                return Err(crate::rooms::RoomError::NotFound);
            }
            chat::lines(c, room_id, after)
        })
        .await?)
}
