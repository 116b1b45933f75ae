//! A model's page (`/@name` here, `/@name@host` for a model of another instance) and her room
//! page (`/@name/live`) with the tip form.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use livestars_api::{Profile, RemoteProfile, Room};
use serde::Deserialize;

use super::{live_and_usd, render, see_other, PageError, Viewer};
use crate::http::api::federation::{follow_remote, profile_of, unfollow_remote};
use crate::http::api::ledger::tip_as;
use crate::http::api::profiles::follow_local;
use crate::http::error::ApiError;
use crate::http::AppState;

#[derive(Template)]
#[template(path = "model.html")]
struct ModelPage<'a> {
    v: &'a Viewer,
    p: Profile,
    room: Room,
    /// Whether the signed-in viewer follows her, and how many accounts here do.
    following: bool,
    followers: i64,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "remote_model.html")]
struct RemoteModelPage<'a> {
    v: &'a Viewer,
    handle: String,
    host: String,
    /// What this instance knows of her (nothing until someone here looked her up).
    p: Option<RemoteProfile>,
    summary: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "room.html")]
struct RoomPage<'a> {
    v: &'a Viewer,
    p: Profile,
    room: Room,
    /// The signed-in viewer's balance, in LIVE and USD.
    balance: Option<String>,
    /// One LIVE in USD, when a price is known.
    rate: Option<String>,
    /// Suggested amounts with their USD value.
    presets: Vec<(String, String)>,
    /// A fresh idempotency key: the same form sent twice tips once.
    key: String,
    notice: Option<String>,
    error: Option<String>,
}

/// `/@name` or `/@name@host`.
pub async fn model(
    state: web::Data<AppState>,
    v: Viewer,
    handle: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let handle = handle.into_inner();
    match handle.split_once('@') {
        None => local_model(&state, &v, handle, None, StatusCode::OK).await,
        Some((name, host)) if host.eq_ignore_ascii_case(&state.fed.domain) => {
            Ok(see_other(&format!("/@{name}")))
        }
        Some(_) => remote_model(&state, &v, handle, None, StatusCode::OK).await,
    }
}

async fn load_local(state: &AppState, name: String) -> Result<(Profile, Room), PageError> {
    state
        .db
        .read(move |c| {
            let p = crate::profiles::get(c, &name).map_err(ApiError::from)?;
            let room = crate::rooms::get(c, p.room_id).map_err(ApiError::from)?;
            Ok::<_, ApiError>((p, room))
        })
        .await
        .map_err(|e| {
            if e.status == StatusCode::NOT_FOUND {
                PageError::not_found("This model")
            } else {
                e.into()
            }
        })
}

async fn local_model(
    state: &AppState,
    v: &Viewer,
    name: String,
    error: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let (p, room) = load_local(state, name).await?;
    let (viewer, n) = (v.user.as_ref().map(|u| u.id), p.username.clone());
    let (following, followers) = state
        .db
        .read(move |c| crate::profiles::follows::state(c, viewer, &n))
        .await
        .map_err(ApiError::from)?;
    let page = ModelPage {
        v,
        p,
        room,
        following,
        followers,
        error,
    };
    Ok(render(v, status, &page))
}

/// Her page from what this instance has cached; nothing is fetched for a page view.
async fn remote_model(
    state: &AppState,
    v: &Viewer,
    handle: String,
    error: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let acct = livestars_federation::Acct::parse(&handle)
        .map_err(|e| PageError::new(StatusCode::NOT_FOUND, super::sentence(&e.to_string())))?;
    let (name, host) = (acct.name.clone(), acct.host.clone());
    let actor = state
        .db
        .read(move |c| {
            crate::federation::actor_by_handle(c, &name, &host).map_err(crate::db::DbError::from)
        })
        .await
        .map_err(|e| PageError::from(ApiError::internal(e)))?;
    let p = match actor {
        Some(a) => Some(profile_of(state, v.user.as_ref().map_or(0, |u| u.id), a).await?),
        None => None,
    };
    let summary = p
        .as_ref()
        .map(|p| plain_text(&p.summary))
        .unwrap_or_default();
    Ok(render(
        v,
        status,
        &RemoteModelPage {
            v,
            handle: acct.to_string(),
            host: acct.host.clone(),
            p,
            summary,
            error,
        },
    ))
}

/// The text of an HTML fragment (a remote bio): tags dropped, entities of the five escapes
/// decoded; the template escapes it again.
pub fn plain_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Deserialize)]
pub struct FollowForm {
    #[serde(default)]
    csrf: String,
    /// `follow` or `unfollow`.
    #[serde(default)]
    action: String,
}

/// Follow or unfollow a model: of this instance directly, of another through federation.
pub async fn follow(
    state: web::Data<AppState>,
    v: Viewer,
    handle: web::Path<String>,
    f: web::Form<FollowForm>,
) -> Result<HttpResponse, PageError> {
    let handle = handle.into_inner();
    let user = &v.form_user(&f.csrf, &format!("/@{handle}"))?;
    let local = !handle.contains('@');
    let done = match (f.action.as_str(), local) {
        ("follow", true) => follow_local(&state, user, handle.clone(), true)
            .await
            .map(|_| ()),
        ("unfollow", true) => follow_local(&state, user, handle.clone(), false)
            .await
            .map(|_| ()),
        ("follow", false) => follow_remote(&state, user, &handle).await.map(|_| ()),
        ("unfollow", false) => unfollow_remote(&state, user, &handle).await,
        _ => Err(ApiError::bad_request(
            "invalid_request",
            "follow or unfollow",
        )),
    };
    match done {
        Ok(()) => Ok(see_other(&format!("/@{handle}"))),
        Err(e) => {
            let msg = super::sentence(&e.message);
            if local {
                local_model(&state, &v, handle, Some(msg), e.status).await
            } else {
                remote_model(&state, &v, handle, Some(msg), e.status).await
            }
        }
    }
}

async fn room_page(
    state: &AppState,
    v: &Viewer,
    name: String,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Result<HttpResponse, PageError> {
    let (p, room) = load_local(state, name).await?;
    let rate = state.settle.prices.rate().await;
    let balance = match &v.user {
        Some(u) => {
            let id = u.id;
            let units = state
                .db
                .read(move |c| crate::ledger::balance(c, id))
                .await
                .map_err(ApiError::from)?;
            Some(live_and_usd(units, rate))
        }
        None => None,
    };
    let presets = [1, 5, 10, 50]
        .iter()
        .map(|n| {
            let units = n * crate::money::UNITS_PER_LIVE;
            (n.to_string(), live_and_usd(units, rate))
        })
        .collect();
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.0);
    Ok(render(
        v,
        status,
        &RoomPage {
            v,
            p,
            room,
            balance,
            rate: rate.map(|r| r.usd(crate::money::UNITS_PER_LIVE)),
            presets,
            key: super::fresh_token(),
            notice,
            error: error.map(|e| e.1),
        },
    ))
}

#[derive(Deserialize)]
pub struct RoomQuery {
    /// Set after a tip: its amount, for the confirmation line.
    #[serde(default)]
    tipped: String,
    /// Set after a report.
    #[serde(default)]
    reported: Option<u8>,
}

/// `/@name/live`: her room.
pub async fn room(
    state: web::Data<AppState>,
    v: Viewer,
    name: web::Path<String>,
    q: web::Query<RoomQuery>,
) -> Result<HttpResponse, PageError> {
    let notice = crate::ledger::parse_amount(&q.tipped)
        .ok()
        .map(|u| {
            format!(
                "You tipped {} LIVE. Thank you!",
                crate::money::format_amount(u)
            )
        })
        .or_else(|| {
            q.reported.map(|_| {
                "Thank you: the moderators of this instance will look at your report.".to_string()
            })
        });
    room_page(&state, &v, name.into_inner(), notice, None).await
}

#[derive(Deserialize)]
pub struct TipForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    key: String,
}

/// The tip form: the same ledger path as `POST /api/rooms/{id}/tips`.
pub async fn tip(
    state: web::Data<AppState>,
    v: Viewer,
    name: web::Path<String>,
    f: web::Form<TipForm>,
) -> Result<HttpResponse, PageError> {
    let name = name.into_inner();
    let user = v.form_user(&f.csrf, &format!("/@{name}/live"))?;
    let (_, room) = load_local(&state, name.clone()).await?;
    let attempt = tip_as(&state, user, room.id, f.amount.trim(), &f.key);
    match attempt.await {
        Ok((_, r)) => Ok(see_other(&format!(
            "/@{name}/live?tipped={}",
            crate::money::format_amount(r.units)
        ))),
        Err(e) => {
            let msg = super::sentence(&e.message);
            room_page(&state, &v, name, None, Some((e.status, msg))).await
        }
    }
}

#[derive(Deserialize)]
pub struct ReportForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// Report her room to the instance's moderators (the same path as `POST /api/reports`).
pub async fn report(
    state: web::Data<AppState>,
    v: Viewer,
    name: web::Path<String>,
    f: web::Form<ReportForm>,
) -> Result<HttpResponse, PageError> {
    let name = name.into_inner();
    let user = v.form_user(&f.csrf, &format!("/@{name}/live"))?;
    let (_, room) = load_local(&state, name.clone()).await?;
    let new = livestars_api::NewReport {
        room_id: room.id,
        reason: f.reason.trim().to_string(),
    };
    let filed = match state.limits.by_account(&state.limits.reports, user.id) {
        Ok(()) => state
            .db
            .write(move |c| crate::moderation::file_report(c, &user, &new))
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match filed {
        Ok(_) => Ok(see_other(&format!("/@{name}/live?reported=1"))),
        Err(e) => {
            let msg = super::sentence(&e.message);
            room_page(&state, &v, name, None, Some((e.status, msg))).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::plain_text;

    #[test]
    fn remote_bios_lose_their_markup() {
        assert_eq!(
            plain_text("<p>Hi &amp; <a href=\"x\">welcome</a></p><script>alert(1)</script>"),
            "Hi & welcome alert(1)"
        );
    }
}
