//! `/following`: the models a signed-in viewer follows, here and on other instances, with
//! their rooms' states — live ones first.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use livestars_api::RoomStatus;

use super::{render, see_other, PageError, Viewer};
use crate::db::DbError;
use crate::http::error::ApiError;
use crate::http::AppState;

/// One followed model as the page lists her.
pub struct Followed {
    pub href: String,
    pub handle: String,
    pub display_name: String,
    /// `live`, `private`, `offline`, or `unknown` for a remote room not yet listed here.
    pub status: &'static str,
    pub title: String,
    /// For a model of another instance: `pending` until her instance accepts.
    pub pending: bool,
}

#[derive(Template)]
#[template(path = "following.html")]
struct FollowingPage<'a> {
    v: &'a Viewer,
    local: Vec<Followed>,
    remote: Vec<Followed>,
}

/// `/following`.
pub async fn following(state: web::Data<AppState>, v: Viewer) -> Result<HttpResponse, PageError> {
    let Some(user) = v.user.as_ref() else {
        return Ok(see_other("/signin?next=/following"));
    };
    let id = user.id;
    let (local, remote) = state
        .db
        .read(move |c| {
            let local = crate::profiles::follows::followed(c, id).map_err(ApiError::from)?;
            let remote = crate::federation::follows::followed_remote(c, id)
                .map_err(|e| ApiError::from(DbError::from(e)))?;
            Ok::<_, ApiError>((local, remote))
        })
        .await?;
    let local = local
        .into_iter()
        .map(|m| Followed {
            href: format!("/@{}", m.username),
            status: m.status().as_str(),
            handle: m.username,
            display_name: m.display_name,
            title: m.title,
            pending: false,
        })
        .collect();
    let mut remote: Vec<Followed> = remote
        .into_iter()
        .map(|r| Followed {
            href: format!("/@{}", r.handle),
            status: r
                .room_status
                .map_or("unknown", |s| RoomStatus::from_stored(&s).as_str()),
            handle: r.handle,
            display_name: r.display_name,
            title: String::new(),
            pending: !r.accepted,
        })
        .collect();
    remote.sort_by_key(|f| !matches!(f.status, "live" | "private"));
    let page = FollowingPage {
        v: &v,
        local,
        remote,
    };
    Ok(render(&v, StatusCode::OK, &page))
}
