//! Other instances' rooms as we know them (their Videos), and the ones shown in our directory.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use livestars_federation::objects;
use livestars_federation::protocol::RemoteActor;

use crate::db::schema::{follows, remote_actors, remote_rooms};
use crate::db::{now, DbConnection};
use crate::profiles::split_list;

/// Store a remote room listing from its Video document, if `actor` is the one it is
/// attributed to. Returns whether it was stored.
pub fn save_video(
    c: &mut DbConnection,
    actor: &RemoteActor,
    v: &objects::VideoJson,
) -> Result<bool, diesel::result::Error> {
    if v.kind != "Video" || !v.attributed().iter().any(|a| a == actor.ap_id.as_str()) {
        return Ok(false);
    }
    let status = match v.state {
        Some(objects::state::LIVE) if v.is_live_broadcast != Some(false) => "live",
        _ => "offline",
    };
    let parse_time = |s: &Option<String>| {
        s.as_deref()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| crate::db::truncate_micros(d.with_timezone(&Utc).naive_utc()))
    };
    let started = if status == "live" {
        parse_time(&v.started_at).or(parse_time(&v.published))
    } else {
        None
    };
    let source_updated = parse_time(&v.updated);
    let values = || {
        (
            remote_rooms::remote_actor_id.eq(actor.id),
            remote_rooms::title.eq(v
                .name
                .clone()
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect::<String>()),
            remote_rooms::tags.eq(crate::profiles::join_list(&v.hashtags())),
            remote_rooms::languages.eq(v.language().unwrap_or_default()),
            remote_rooms::status.eq(status),
            remote_rooms::viewer_count
                .eq(v.viewers.unwrap_or(0).clamp(0, i64::from(i32::MAX)) as i32),
            remote_rooms::url.eq(objects::first_url(&v.url, Some("text/html"))),
            remote_rooms::thumbnail_url.eq(objects::first_url(&v.icon, Some("image/"))),
            remote_rooms::started_at.eq(started),
            remote_rooms::published_at.eq(parse_time(&v.published)),
            remote_rooms::updated_at.eq(now()),
            remote_rooms::source_updated_at.eq(source_updated),
        )
    };
    let existing: Option<(i64, Option<NaiveDateTime>)> = remote_rooms::table
        .filter(remote_rooms::ap_id.eq(v.id.as_str()))
        .select((remote_rooms::id, remote_rooms::source_updated_at))
        .first(c)
        .optional()?;
    if let (Some((_, Some(stored))), Some(incoming)) = (existing, source_updated) {
        if incoming < stored {
            // A late copy of an older version (retries reorder deliveries): keep the newer.
            return Ok(true);
        }
    }
    let existing = existing.map(|(id, _)| id);
    crate::events::record(crate::events::Event::FederatedChanged);
    let inserted = existing.is_none()
        && crate::db::insert_or_skip(c, |c| {
            diesel::insert_into(remote_rooms::table)
                .values((remote_rooms::ap_id.eq(v.id.as_str()), values()))
                .execute(c)
        })?;
    if !inserted {
        diesel::update(remote_rooms::table.filter(remote_rooms::ap_id.eq(v.id.as_str())))
            .set(values())
            .execute(c)?;
    }
    Ok(true)
}

/// The columns of a remote room the API shows.
pub(crate) type RemoteRoomRow = (
    i64,
    String,
    String,
    String,
    String,
    i32,
    Option<String>,
    Option<NaiveDateTime>,
);

macro_rules! remote_room_columns {
    () => {
        (
            remote_rooms::id,
            remote_rooms::title,
            remote_rooms::tags,
            remote_rooms::languages,
            remote_rooms::status,
            remote_rooms::viewer_count,
            remote_rooms::url,
            remote_rooms::started_at,
        )
    };
}

/// A remote room as an API room: a negative id, `home` her instance.
pub(crate) fn remote_api_room(
    r: RemoteRoomRow,
    handle: String,
    display_name: String,
    domain: String,
) -> livestars_api::Room {
    let (id, title, tags, langs, status, viewers, url, started) = r;
    livestars_api::Room {
        id: -id,
        model: handle,
        display_name,
        title,
        tags: split_list(&tags),
        languages: split_list(&langs),
        status: crate::rooms::parse_status(&status),
        viewer_count: viewers,
        guest_count: 0,
        started_at: started.map(|s| s.and_utc()),
        home: Some(domain),
        url,
        avatar_url: None,
    }
}

/// Federated rooms of `status` whose models someone here follows, as directory records.
pub fn followed_remote_rooms(
    c: &mut DbConnection,
    status: &str,
) -> Result<Vec<crate::rooms::RoomRecord>, diesel::result::Error> {
    let followed: Vec<i64> = follows::table
        .select(follows::remote_actor_id)
        .distinct()
        .load(c)?;
    if followed.is_empty() {
        return Ok(vec![]);
    }
    let rows: Vec<(RemoteRoomRow, (String, String, String))> = remote_rooms::table
        .inner_join(remote_actors::table)
        .filter(remote_rooms::status.eq(status))
        .filter(remote_rooms::remote_actor_id.eq_any(&followed))
        .select((
            remote_room_columns!(),
            (
                remote_actors::username,
                remote_actors::display_name,
                remote_actors::domain,
            ),
        ))
        .load(c)?;
    Ok(rows
        .into_iter()
        .map(
            |(room, (username, display, domain))| crate::rooms::RoomRecord {
                room: remote_api_room(room, format!("{username}@{domain}"), display, domain),
                account_created_at: None,
            },
        )
        .collect())
}

/// The room of a remote actor, as an API room.
pub fn remote_room_of(
    c: &mut DbConnection,
    actor: &RemoteActor,
) -> Result<Option<livestars_api::Room>, diesel::result::Error> {
    let row: Option<RemoteRoomRow> = remote_rooms::table
        .filter(remote_rooms::remote_actor_id.eq(actor.id))
        .select(remote_room_columns!())
        .first(c)
        .optional()?;
    Ok(row.map(|r| {
        remote_api_room(
            r,
            actor.handle(),
            actor.display_name.clone(),
            actor.domain.clone(),
        )
    }))
}
