//! The home page: live rooms ranked by the published formula, local and federated, with
//! filters, name search, paging and each term of a room's score.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use livestars_api::{DirectoryQuery, DirectoryScope, RankedRoom, RoomStatus};
use serde::Deserialize;
use std::sync::Arc;

use super::{render, PageError, Viewer};
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::rooms::RoomError;

/// The home page's query: the directory's filters as a form sends them (empty = unset).
#[derive(Deserialize, Default)]
pub struct HomeQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    cursor: String,
}

/// One room as the directory page shows it.
pub struct Card {
    pub href: String,
    pub model: String,
    pub display_name: String,
    pub initial: String,
    /// The model's avatar on this instance, shown as the thumbnail until video exists.
    pub avatar: Option<String>,
    pub title: String,
    pub tags: Vec<String>,
    pub languages: Vec<String>,
    pub status: &'static str,
    pub home: Option<String>,
    pub viewers: i32,
    pub guests: i32,
    pub score: String,
    /// (term, its inputs, its value) for "why is this room here?".
    pub terms: Vec<(&'static str, String, String)>,
}

fn card(r: &RankedRoom) -> Card {
    let room = &r.room;
    let c = &r.components;
    let href = match &room.home {
        // A federated room: its page on this instance shows the model and links home.
        Some(_) => format!("/@{}", room.model),
        None => format!("/@{}/live", room.model),
    };
    Card {
        href,
        model: room.model.clone(),
        display_name: room.display_name.clone(),
        initial: room
            .display_name
            .chars()
            .next()
            .map(|c| c.to_uppercase().collect())
            .unwrap_or_default(),
        avatar: room.avatar_url.clone(),
        title: room.title.clone(),
        tags: room.tags.clone(),
        languages: room.languages.clone(),
        status: room.status.as_str(),
        home: room.home.clone(),
        viewers: room.viewer_count,
        guests: room.guest_count,
        score: format!("{:.2}", r.score),
        terms: vec![
            (
                "Audience",
                format!("{} viewers, {} guests", c.viewers, c.guests),
                format!("{:.2}", c.audience),
            ),
            (
                "Tippers",
                format!("{} in the last 30 min", c.distinct_tippers_30m),
                format!("{:.2}", c.tippers),
            ),
            (
                "Tips",
                format!("{:.2} LIVE in the last 30 min", c.tipped_live_30m),
                format!("{:.2}", c.tips),
            ),
            (
                "New model",
                format!("account {:.0} days old", c.account_age_days),
                format!("{:.2}", c.newcomer),
            ),
            (
                "Just started",
                format!("live for {:.0} min", c.minutes_live),
                format!("{:.2}", c.fresh),
            ),
        ],
    }
}

#[derive(Template)]
#[template(path = "room_cards.html")]
struct RoomCards {
    cards: Vec<Card>,
}

/// A page of the directory as the home page shows it, the same for every viewer: rendered once
/// and cached with the directory's pages.
#[derive(Clone, Default)]
struct Rooms {
    /// The rendered cards (HTML, escaped by their template).
    cards: Arc<str>,
    empty: bool,
    next_cursor: Option<String>,
    formula: String,
}

/// What the home template reads of [`Rooms`], with this request's next-page link.
struct RoomsView {
    cards: Arc<str>,
    empty: bool,
    next: Option<String>,
    formula: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    v: &'a Viewer,
    rooms: RoomsView,
    q: &'a HomeQuery,
    heading: String,
    error: Option<String>,
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

async fn show(
    state: &AppState,
    v: &Viewer,
    q: &HomeQuery,
    heading: String,
) -> Result<HttpResponse, PageError> {
    let status = match q.status.as_str() {
        "" | "live" => RoomStatus::Live,
        "private" => RoomStatus::Private,
        "offline" => RoomStatus::Offline,
        _ => {
            return Err(PageError::new(
                StatusCode::BAD_REQUEST,
                "Show state must be live, private or offline.",
            ))
        }
    };
    let scope = match q.scope.as_str() {
        "" | "all" => DirectoryScope::All,
        "local" => DirectoryScope::Local,
        _ => {
            return Err(PageError::new(
                StatusCode::BAD_REQUEST,
                "Scope must be all or local.",
            ))
        }
    };
    let dq = DirectoryQuery {
        tag: opt(&q.tag).map(|t| t.to_lowercase()),
        language: opt(&q.language).map(|l| l.to_lowercase()),
        status: Some(status),
        cursor: opt(&q.cursor),
        limit: Some(PAGE_SIZE),
        scope: Some(scope),
        q: opt(&q.q),
    };
    let made = state
        .directory
        .rendered(&state.db, &dq, "home", |page| {
            let cards = RoomCards {
                cards: page.rooms.iter().map(card).collect(),
            }
            .render()
            .map_err(|e| RoomError::Invalid {
                field: "directory",
                message: e.to_string(),
            })?;
            Ok(Rooms {
                cards: cards.into(),
                empty: page.rooms.is_empty(),
                next_cursor: page.next_cursor.clone(),
                formula: page.formula.clone(),
            })
        })
        .await;
    let (rooms, error, status_code) = match made {
        Ok(r) => (r, None, StatusCode::OK),
        Err(e) => {
            let e = ApiError::from(e);
            (
                Rooms::default(),
                Some(super::sentence(&e.message)),
                e.status,
            )
        }
    };
    let rooms = RoomsView {
        next: rooms.next_cursor.as_deref().map(|c| next_link(q, c)),
        cards: rooms.cards,
        empty: rooms.empty,
        formula: rooms.formula,
    };
    Ok(render(
        v,
        status_code,
        &HomePage {
            v,
            rooms,
            q,
            heading,
            error,
        },
    ))
}

/// Rooms per page.
const PAGE_SIZE: u32 = 24;

/// The link to the next page: the same filters, the next cursor.
fn next_link(q: &HomeQuery, cursor: &str) -> String {
    let mut parts = vec![];
    for (k, v) in [
        ("q", &q.q),
        ("tag", &q.tag),
        ("language", &q.language),
        ("status", &q.status),
        ("scope", &q.scope),
    ] {
        if !v.trim().is_empty() {
            parts.push(format!("{k}={}", encode(v.trim())));
        }
    }
    parts.push(format!("cursor={}", encode(cursor)));
    format!("/?{}", parts.join("&"))
}

/// Percent-encoding of a query value.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub async fn home(
    state: web::Data<AppState>,
    v: Viewer,
    q: web::Query<HomeQuery>,
) -> Result<HttpResponse, PageError> {
    show(&state, &v, &q, "Live now".into()).await
}

/// `/tags/{tag}`: the directory of one tag (the address our federated hashtags link to).
pub async fn tag(
    state: web::Data<AppState>,
    v: Viewer,
    tag: web::Path<String>,
    q: web::Query<HomeQuery>,
) -> Result<HttpResponse, PageError> {
    let mut q = q.into_inner();
    q.tag = tag.into_inner();
    let heading = format!("#{}", q.tag);
    show(&state, &v, &q, heading).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_keep_the_filters_and_encode_them() {
        let q = HomeQuery {
            q: "an na".into(),
            tag: "cosplay".into(),
            ..Default::default()
        };
        assert_eq!(
            next_link(&q, "3ff0000000000000.7"),
            "/?q=an%20na&tag=cosplay&cursor=3ff0000000000000.7"
        );
    }
}
