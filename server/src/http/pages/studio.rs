//! The model's studio (`/studio`): become a model, verification status and the ID document,
//! profile and room, go live and stop, earnings per day.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use livestars_api::{Profile, ProfileUpdate, Room, RoomStatus, RoomUpdate, VerificationStatus};
use serde::Deserialize;

use super::{render, see_other, PageError, Viewer};
use crate::accounts::User;
use crate::http::error::ApiError;
use crate::http::AppState;

/// Days shown in the earnings chart.
const EARNING_DAYS: u32 = 14;

/// One bar of the earnings chart: its day, amounts and the SVG geometry.
struct Bar {
    day: String,
    tips: String,
    referrals: String,
    x: u32,
    tips_y: u32,
    tips_h: u32,
    ref_y: u32,
    ref_h: u32,
}

#[derive(Template)]
#[template(path = "studio.html")]
struct StudioPage<'a> {
    v: &'a Viewer,
    model: Option<(Profile, Room, VerificationStatus)>,
    bars: Vec<Bar>,
    total: String,
    chart_width: u32,
    tags: String,
    languages: String,
    notice: Option<&'static str>,
    error: Option<String>,
}

/// Bars of `days` scaled to a 100-unit-high chart (tips below, referrals stacked on top).
fn bars(days: &[crate::ledger::DayEarnings]) -> Vec<Bar> {
    let max = days
        .iter()
        .map(|d| d.tips.saturating_add(d.referrals))
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = |u: i64| ((u.max(0) as f64 / max as f64) * 100.0).round() as u32;
    days.iter()
        .enumerate()
        .map(|(i, d)| {
            let (th, rh) = (scale(d.tips), scale(d.referrals));
            Bar {
                day: d.day.format("%b %-d").to_string(),
                tips: crate::money::format_amount(d.tips),
                referrals: crate::money::format_amount(d.referrals),
                x: i as u32 * 24 + 2,
                tips_y: 110 - th,
                tips_h: th,
                ref_y: 110 - th - rh,
                ref_h: rh,
            }
        })
        .collect()
}

async fn page(
    state: &AppState,
    v: &Viewer,
    user: &User,
    notice: Option<&'static str>,
    error: Option<(StatusCode, String)>,
) -> Result<HttpResponse, PageError> {
    let u = user.clone();
    let today = crate::db::now().date();
    let (model, days) = state
        .db
        .read(move |c| {
            if u.role() != livestars_api::Role::Model {
                return Ok::<_, ApiError>((None, vec![]));
            }
            let p = crate::profiles::get(c, &u.username)?;
            let room = crate::rooms::get(c, p.room_id)?;
            let status = crate::iddocs::status(c, &u, today)?;
            let days = crate::ledger::earnings_by_day(c, u.id, today, EARNING_DAYS)?;
            Ok((Some((p, room, status)), days))
        })
        .await?;
    let total: i64 = days
        .iter()
        .map(|d| d.tips.saturating_add(d.referrals))
        .fold(0i64, i64::saturating_add);
    let (tags, languages) = model
        .as_ref()
        .map(|(p, _, _)| (p.tags.join(", "), p.languages.join(", ")))
        .unwrap_or_default();
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.0);
    Ok(render(
        v,
        status,
        &StudioPage {
            v,
            model,
            bars: bars(&days),
            total: crate::money::format_amount(total),
            chart_width: EARNING_DAYS * 24,
            tags,
            languages,
            notice,
            error: error.map(|e| e.1),
        },
    ))
}

#[derive(Deserialize)]
pub struct StudioQuery {
    #[serde(default)]
    done: String,
}

/// `/studio`.
pub async fn studio(
    state: web::Data<AppState>,
    v: Viewer,
    q: web::Query<StudioQuery>,
) -> Result<HttpResponse, PageError> {
    let Some(user) = v.user.clone() else {
        return Ok(see_other("/signin?next=/studio"));
    };
    let notice = match q.done.as_str() {
        "model" => Some("You are a model now: upload your ID document to go live."),
        "profile" => Some("Profile saved."),
        "room" => Some("Room saved."),
        "live" => Some("You are live."),
        "private" => Some("Your private show started."),
        "stop" => Some("Your show ended."),
        "iddoc" => Some("Your ID document was deleted."),
        "avatar" => Some("Avatar saved."),
        "iddoc-uploaded" => {
            Some("Your ID document was encrypted in your browser and uploaded; a verifier will look at it.")
        }
        _ => None,
    };
    page(&state, &v, &user, notice, None).await
}

/// What each studio form posts, by form.
#[derive(Deserialize)]
pub struct StudioForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    bio: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    languages: String,
    #[serde(default)]
    title: String,
    /// `live`, `private` or `stop`.
    #[serde(default)]
    action: String,
    #[serde(default)]
    document: Option<i64>,
}

/// A comma- or space-separated list as the API's list.
fn list(s: &str) -> Vec<String> {
    s.split([',', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// The studio's forms: `/studio/{form}`. Each calls the same domain function as its API
/// route; a refusal shows on the studio page and changes nothing.
pub async fn post(
    state: web::Data<AppState>,
    v: Viewer,
    form: web::Path<String>,
    f: web::Form<StudioForm>,
) -> Result<HttpResponse, PageError> {
    let user = v.form_user(&f.csrf, "/studio")?;
    let f = f.into_inner();
    let form = form.into_inner();
    let u = user.clone();
    let retention = state.config.retention().map_err(ApiError::internal)?;
    let done: Result<&'static str, ApiError> = match form.as_str() {
        "model" => state
            .db
            .write(move |c| crate::accounts::become_model(c, &u))
            .await
            .map(|_| "model")
            .map_err(ApiError::from),
        "profile" => {
            let upd = ProfileUpdate {
                display_name: Some(f.display_name),
                bio: Some(f.bio),
                tags: Some(list(&f.tags)),
                languages: Some(list(&f.languages)),
                ..Default::default()
            };
            state
                .db
                .write(move |c| crate::profiles::update(c, &u.username, &u, &upd))
                .await
                .map(|_| "profile")
                .map_err(ApiError::from)
        }
        "room" | "show" => room_form(&state, u, &form, f).await,
        "iddoc" => match f.document {
            Some(id) => state
                .db
                .write(move |c| crate::iddocs::delete_own(c, &u, id, retention))
                .await
                .map(|_| "iddoc")
                .map_err(ApiError::from),
            None => Err(ApiError::bad_request(
                "invalid_request",
                "which document to delete",
            )),
        },
        _ => return Err(PageError::not_found("This form")),
    };
    match done {
        Ok(what) => Ok(see_other(&format!("/studio?done={what}"))),
        Err(e) => {
            let msg = super::sentence(&e.message);
            page(&state, &v, &user, None, Some((e.status, msg))).await
        }
    }
}

/// The room form (title, tags) and the show buttons (live, private, stop).
async fn room_form(
    state: &AppState,
    u: User,
    form: &str,
    f: StudioForm,
) -> Result<&'static str, ApiError> {
    let name = u.username.clone();
    let id = state
        .db
        .read(move |c| crate::profiles::get(c, &name).map_err(ApiError::from))
        .await?
        .room_id;
    let done = if form == "room" {
        let upd = RoomUpdate {
            title: Some(f.title),
            tags: Some(list(&f.tags)),
        };
        state
            .db
            .write(move |c| crate::rooms::update(c, id, &u, &upd).map(|_| "room"))
            .await
    } else {
        let action = f.action;
        state
            .db
            .write(move |c| match action.as_str() {
                "live" => crate::rooms::start(c, id, &u, RoomStatus::Live).map(|_| "live"),
                "private" => crate::rooms::start(c, id, &u, RoomStatus::Private).map(|_| "private"),
                "stop" => crate::rooms::stop(c, id, &u).map(|_| "stop"),
                _ => Err(crate::rooms::RoomError::Invalid {
                    field: "action",
                    message: "live, private or stop".into(),
                }),
            })
            .await
    };
    Ok(done?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_best_day() {
        let d = |day: u32, tips: i64, referrals: i64| crate::ledger::DayEarnings {
            day: chrono::NaiveDate::from_ymd_opt(2026, 12, day).unwrap_or_default(),
            tips,
            referrals,
        };
        let b = bars(&[d(1, 0, 0), d(2, 300, 100), d(3, 100, 0)]);
        assert_eq!((b[0].tips_h, b[0].ref_h), (0, 0));
        assert_eq!((b[1].tips_h, b[1].ref_h, b[1].ref_y), (75, 25, 10));
        assert_eq!(b[2].tips_h, 25);
        assert_eq!(b[2].x, 50);
    }
}
