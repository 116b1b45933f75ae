//! ActivityPub routes: WebFinger, NodeInfo, actor documents, room listings, and the inboxes.
//! Documents are served as `application/activity+json`; errors as JSON with the usual shape.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use livestars_federation::apf::actix_web::inbox::receive_activity;
use livestars_federation::apf::config::FederationConfig;
use livestars_federation::delivery::{check_date, signing_actor};
use livestars_federation::objects;
use livestars_federation::protocol::{authority, Ctx, FedError, Incoming, RemoteActor};
use livestars_federation::{nodeinfo, Acct};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::AppState;
use crate::db::DbError;
use crate::federation::{self as store, INBOUND_SIGNATURE, INSTANCE_ACTOR};

/// Federation state shared by the handlers.
pub struct Fed {
    pub config: FederationConfig<Ctx>,
    /// The same HTTP client the federation library uses (private addresses refused unless
    /// federation debug is on), for WebFinger lookups.
    pub http: reqwest::Client,
    /// Plain http and ports allowed (tests and local trials).
    pub debug: bool,
    pub base: String,
    pub domain: String,
    pub default_mode: String,
    pub notify: Arc<tokio::sync::Notify>,
}

pub const AP_JSON: &str = "application/activity+json";

impl From<FedError> for ApiError {
    fn from(e: FedError) -> Self {
        let (status, code) = e.status();
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // The library's own messages name what the server resolved and fetched ("Hostname x
        // resolves to internal IP 127.0.0.1"): a prober learns the inside from them. They go to
        // the log; the client gets a generic refusal of the same kind.
        let message = match &e {
            FedError::Protocol(_) => {
                tracing::info!(error = %e, "remote lookup refused or failed");
                match code {
                    "invalid_url" => "that address cannot be fetched from this instance",
                    "not_found" => "no such account there",
                    "signature_invalid" => "the signature could not be verified",
                    "invalid_activity" => "the activity is not valid",
                    _ => "the other instance did not answer usefully",
                }
                .to_string()
            }
            _ => {
                if status.is_server_error() {
                    tracing::warn!(error = %e, "federation error");
                }
                e.to_string()
            }
        };
        ApiError::new(status, code, message)
    }
}

impl From<store::FedErrorWrap> for ApiError {
    fn from(e: store::FedErrorWrap) -> Self {
        e.0.into()
    }
}

fn ap(doc: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok().content_type(AP_JSON).json(doc)
}

pub fn configure(cfg: &mut web::ServiceConfig, max_bytes: usize) {
    // Inboxes take at most `max_bytes`; larger bodies get 413 before anything is parsed.
    let inbox = |path: &str| {
        web::resource(path)
            .app_data(web::PayloadConfig::new(max_bytes))
            .route(web::post().to(inbox))
    };
    cfg.service(web::resource("/.well-known/webfinger").route(web::get().to(webfinger)))
        .service(web::resource("/.well-known/nodeinfo").route(web::get().to(nodeinfo_links)))
        .service(web::resource("/nodeinfo/2.1").route(web::get().to(nodeinfo_doc)))
        .service(web::resource("/actor").route(web::get().to(instance_actor)))
        .service(inbox("/actor/inbox"))
        .service(inbox("/inbox"))
        .service(web::resource("/users/{name}").route(web::get().to(actor)))
        .service(inbox("/users/{name}/inbox"))
        .service(web::resource("/users/{name}/outbox").route(web::get().to(outbox)))
        .service(web::resource("/users/{name}/channel").route(web::get().to(channel)))
        .service(web::resource("/users/{name}/followers").route(web::get().to(followers)))
        .service(web::resource("/users/{name}/following").route(web::get().to(following)))
        .service(web::resource("/rooms/{id}").route(web::get().to(room)));
}

#[derive(Deserialize)]
pub struct WebfingerQuery {
    resource: String,
}

/// `acct:name@domain` (or a local actor URL) → the actor's links.
pub async fn webfinger(
    state: web::Data<AppState>,
    q: web::Query<WebfingerQuery>,
) -> Result<HttpResponse, ApiError> {
    let fed = &state.fed;
    let resource = q.resource.trim().to_string();
    let name = if let Some(n) = resource
        .strip_prefix(&format!("{}/users/", fed.base))
        .filter(|n| !n.contains('/'))
    {
        n.to_string()
    } else {
        let acct = Acct::parse(&resource)
            .map_err(|e| ApiError::bad_request("invalid_resource", e.to_string()))?;
        if acct.host != fed.domain.to_ascii_lowercase() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{} is not on this instance", acct.host),
            ));
        }
        acct.name
    };
    let n = name.clone();
    let exists = state
        .db
        .read(move |c| store::user_id_by_name(c, &n).map_err(DbError::from))
        .await?;
    if exists.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such account",
        ));
    }
    let subject = if resource.starts_with("acct:") {
        resource.clone()
    } else {
        format!("acct:{name}@{}", fed.domain)
    };
    let doc = nodeinfo::webfinger(
        &subject,
        &objects::actor_url(&fed.base, &name),
        &format!("{}/@{name}", fed.base),
    );
    Ok(HttpResponse::Ok()
        .content_type("application/jrd+json")
        .json(doc))
}

pub async fn nodeinfo_links(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(nodeinfo::discovery(&state.fed.base))
}

pub async fn nodeinfo_doc(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let month_ago = crate::db::now() - chrono::Duration::days(30);
    let (users_n, active, live) = state
        .db
        .read(move |c| store::usage(c, month_ago).map_err(DbError::from))
        .await?;
    let doc = nodeinfo::nodeinfo(
        &state.config.instance_name,
        env!("CARGO_PKG_VERSION"),
        true,
        &nodeinfo::Usage {
            users: users_n,
            active_month: active,
            live_rooms: live,
        },
    );
    Ok(HttpResponse::Ok()
        .content_type(
            "application/json; profile=\"http://nodeinfo.diaspora.software/ns/schema/2.1#\"",
        )
        .json(doc))
}

pub async fn instance_actor(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (public, _) = store::keys(&state.db, INSTANCE_ACTOR).await?;
    let fed = &state.fed;
    Ok(ap(objects::application(
        &fed.base,
        &fed.domain,
        &state.config.instance_name,
        &public,
    )))
}

pub async fn actor(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    if crate::http::pages::wants_html(&req) {
        // A person following the link: her page, as Mastodon and PeerTube do.
        return Ok(crate::http::pages::see_other(&format!("/@{name}")));
    }
    let n = name.clone();
    let (id, deleted) = state
        .db
        .read(move |c| {
            let id = store::user_id_by_name(c, &n)?;
            let deleted = id.is_none() && store::was_deleted(c, &n)?;
            Ok::<_, DbError>((id, deleted))
        })
        .await?;
    if deleted {
        // Gone for good: a Tombstone, so that caches drop her.
        return Ok(HttpResponse::Gone().content_type(AP_JSON).json(json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": objects::actor_url(&state.fed.base, &name),
            "type": "Tombstone",
        })));
    }
    let id =
        id.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such actor"))?;
    let (public, _) = store::keys(&state.db, &name).await?;
    let base = state.fed.base.clone();
    let model = state
        .db
        .read(move |c| store::local_model(c, &base, id, &public).map_err(DbError::from))
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such actor"))?;
    Ok(ap(objects::person(&model)))
}

/// A model's channel (`Group`), for PeerTube.
pub async fn channel(
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let id = local_id(&state, &name).await?;
    let (public, _) = store::keys(&state.db, &name).await?;
    let (channel_key, _) = store::keys(&state.db, &format!("{name}/channel")).await?;
    let base = state.fed.base.clone();
    let model = state
        .db
        .read(move |c| store::local_model(c, &base, id, &public).map_err(DbError::from))
        .await?
        .filter(|m| m.room_id.is_some())
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such channel"))?;
    Ok(ap(objects::channel(&model, &channel_key)))
}

fn collection(id: String, total: i64) -> HttpResponse {
    ap(json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": id,
        "type": "OrderedCollection",
        "totalItems": total,
        "orderedItems": [],
    }))
}

async fn local_id(state: &AppState, name: &str) -> Result<i64, ApiError> {
    let n = name.to_string();
    state
        .db
        .read(move |c| store::user_id_by_name(c, &n).map_err(DbError::from))
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such actor"))
}

/// The outbox is not published (rooms federate to followers); an empty collection.
pub async fn outbox(
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    local_id(&state, &name).await?;
    Ok(collection(
        format!("{}/outbox", objects::actor_url(&state.fed.base, &name)),
        0,
    ))
}

/// Followers are counted, never listed: who follows a model is private.
pub async fn followers(
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = local_id(&state, &name).await?;
    let n = state
        .db
        .read(move |c| store::follower_count(c, id).map_err(DbError::from))
        .await?;
    Ok(collection(
        format!("{}/followers", objects::actor_url(&state.fed.base, &name)),
        n,
    ))
}

pub async fn following(
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    local_id(&state, &name).await?;
    Ok(collection(
        format!("{}/following", objects::actor_url(&state.fed.base, &name)),
        0,
    ))
}

/// A room listing as a live `Video`.
pub async fn room(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let base = state.fed.base.clone();
    let room = state
        .db
        .read(move |c| store::local_room(c, &base, id).map_err(DbError::from))
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such room"))?;
    if crate::http::pages::wants_html(&req) {
        return Ok(crate::http::pages::see_other(&format!(
            "/@{}/live",
            room.0.username
        )));
    }
    Ok(ap(objects::video(&room.0, None)))
}

/// Every inbox (personal, shared, the instance actor's): checks that cost nothing come first
/// (size, JSON, domain policy, date, signature header shape, replay), then the federation
/// library verifies Digest and signature against the sender's (fetched and cached) key, and the
/// store applies the activity once.
pub async fn inbox(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let result = receive(req, body, &state).await;
    if let Err(e) = &result {
        // Bounded: a message may quote a fetched remote document.
        let message: String = e.message.chars().take(300).collect();
        tracing::info!(status = %e.status, code = e.code, %message, "inbound activity refused");
    }
    result
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let activity: Incoming = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_activity", e.to_string()))?;
    let actor_domain = authority(&activity.actor);
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
    let signature = hex::encode(Sha256::digest(header("signature").unwrap_or("").as_bytes()));
    // One read for the policy and the replay check.
    let (d, m, aid) = (
        actor_domain.clone(),
        state.fed.default_mode.clone(),
        activity.id.to_string(),
    );
    let (allowed, seen, failing) = state
        .db
        .read(move |c| {
            let allowed = store::allowed(c, &d, &m)?;
            let seen = store::inbound_signature(c, &aid)?;
            let failing = store::is_failing(c, &d)?;
            Ok::<_, DbError>((allowed, seen, failing))
        })
        .await?;
    if !allowed {
        return Err(FedError::Forbidden(format!("{actor_domain} is not federated with")).into());
    }
    check_date(header("date"), Utc::now())?;
    let key_actor = signing_actor(header("signature"), header("signature-input"))?;
    if key_actor != activity.actor {
        return Err(FedError::Unauthorized(format!(
            "signed by {key_actor}, not by the activity's actor {}",
            activity.actor
        ))
        .into());
    }
    if seen.as_deref() == Some(signature.as_str()) {
        return Err(
            FedError::Unauthorized("this signed request was already received".into()).into(),
        );
    }
    let data = state.fed.config.to_request_data();
    INBOUND_SIGNATURE
        .scope(
            signature,
            receive_activity::<Incoming, RemoteActor, Ctx>(req, body, &data),
        )
        .await?;
    if failing {
        let d = actor_domain.clone();
        state
            .db
            .write(move |c| store::mark_alive_inbound(c, &d).map_err(DbError::from))
            .await?;
    }
    Ok(HttpResponse::Accepted().finish())
}
