//! The persistent outbox: what to send to which inboxes, written in the transaction of the change
//! that caused it (a crash loses nothing, a rollback sends nothing), and the sweep that turns
//! changed rooms and profiles into activities.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use livestars_federation::objects::{self, LocalRoom};
use livestars_federation::protocol::authority;
use livestars_federation::Url;
use serde_json::{json, Value};

use crate::db::schema::{deliveries, followers, outbox, profiles, remote_actors, rooms, users};
use crate::db::{now, DbConnection};
use crate::profiles::split_list;

use super::*;

/// A fresh activity id under `base`.
pub fn activity_id(base: &str) -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("operating system random number generator failed");
    format!("{base}/activities/{}", hex::encode(b))
}

/// Queue `body` (an activity by local actor `actor_name`) for each inbox, skipping inboxes of
/// domains we do not federate with. Returns the number of deliveries queued.
pub fn enqueue(
    c: &mut DbConnection,
    default_mode: &str,
    actor_name: &str,
    body: &Value,
    inboxes: &[String],
) -> Result<usize, diesel::result::Error> {
    let id = body["id"].as_str().unwrap_or_default().to_string();
    let t = now();
    let mut targets: Vec<(String, String)> = Vec::new();
    for inbox in inboxes {
        let Ok(url) = Url::parse(inbox) else { continue };
        let domain = authority(&url);
        if targets.iter().any(|(i, _)| i == inbox) || !allowed(c, &domain, default_mode)? {
            continue;
        }
        targets.push((inbox.clone(), domain));
    }
    if targets.is_empty() {
        return Ok(0);
    }
    let outbox_id: i64 = diesel::insert_into(outbox::table)
        .values((
            outbox::activity_id.eq(&id),
            outbox::actor_name.eq(actor_name),
            outbox::body.eq(body.to_string()),
            outbox::created_at.eq(t),
        ))
        .returning(outbox::id)
        .get_result(c)?;
    for (inbox, domain) in &targets {
        diesel::insert_into(deliveries::table)
            .values((
                deliveries::outbox_id.eq(outbox_id),
                deliveries::inbox.eq(inbox),
                deliveries::domain.eq(domain),
                deliveries::state.eq(crate::states::DeliveryState::Pending.as_str()),
                deliveries::attempts.eq(0),
                deliveries::next_attempt_at.eq(t),
                deliveries::updated_at.eq(t),
            ))
            .execute(c)?;
    }
    crate::events::record(crate::events::Event::DeliveryQueued);
    Ok(targets.len())
}

/// Inboxes of a local actor's followers: one per shared inbox.
pub fn follower_inboxes(
    c: &mut DbConnection,
    user_id: i64,
) -> Result<Vec<String>, diesel::result::Error> {
    let rows: Vec<(String, Option<String>)> = followers::table
        .inner_join(remote_actors::table)
        .filter(followers::user_id.eq(user_id))
        .select((remote_actors::inbox, remote_actors::shared_inbox))
        .load(c)?;
    let mut out: Vec<String> = rows.into_iter().map(|(i, s)| s.unwrap_or(i)).collect();
    out.sort();
    out.dedup();
    Ok(out)
}

pub(crate) fn wrap(
    base: &str,
    kind: &str,
    actor: &str,
    object: Value,
    to_followers: bool,
) -> Value {
    let mut object = object;
    if let Some(o) = object.as_object_mut() {
        o.remove("@context");
    }
    let mut a = json!({
        "@context": objects::context(),
        "id": activity_id(base),
        "type": kind,
        "actor": actor,
        "object": object,
    });
    if to_followers {
        a["to"] = json!(["https://www.w3.org/ns/activitystreams#Public"]);
        a["cc"] = json!([format!("{actor}/followers")]);
    }
    a
}

/// What was last federated of a room: when, and its status then.
pub struct Federated {
    pub at: Option<NaiveDateTime>,
    pub status: Option<String>,
    pub updated_at: NaiveDateTime,
}

/// Everything the federation needs of a local room, with its owner's id.
pub fn local_room(
    c: &mut DbConnection,
    base: &str,
    room_id: i64,
) -> Result<Option<(LocalRoom, i64, Federated)>, diesel::result::Error> {
    type Row = (
        (i64, String, String, String, String, String, i32),
        (Option<NaiveDateTime>, NaiveDateTime, Option<String>, i64),
        (Option<NaiveDateTime>, Option<String>),
    );
    let row: Option<Row> = rooms::table
        .inner_join(users::table)
        .inner_join(profiles::table.on(profiles::user_id.eq(rooms::user_id)))
        .filter(rooms::id.eq(room_id))
        .select((
            (
                rooms::id,
                users::username,
                rooms::title,
                rooms::tags,
                profiles::languages,
                rooms::status,
                rooms::viewer_count,
            ),
            (
                rooms::started_at,
                rooms::updated_at,
                profiles::avatar_mime,
                users::id,
            ),
            (rooms::federated_at, rooms::federated_status),
        ))
        .first(c)
        .optional()?;
    Ok(row.map(
        |(
            (id, username, title, tags, langs, status, viewers),
            (started, updated, avatar, uid),
            (fed_at, fed_status),
        )| {
            (
                LocalRoom {
                    base: base.to_string(),
                    id,
                    username,
                    title,
                    tags: split_list(&tags),
                    languages: split_list(&langs),
                    status,
                    viewers,
                    started_at: started.map(|s| s.and_utc()),
                    updated_at: updated.and_utc(),
                    has_avatar: avatar.is_some(),
                },
                uid,
                Federated {
                    at: fed_at,
                    status: fed_status,
                    updated_at: updated,
                },
            )
        },
    ))
}

/// Rooms changed since they were last federated, whichever code path changed them (her own
/// start/stop/edit, moderation, a lapsed verification). A read: an idle instance writes nothing.
pub fn changed_rooms(c: &mut DbConnection) -> Result<Vec<i64>, diesel::result::Error> {
    rooms::table
        .filter(
            rooms::federated_at
                .is_null()
                .or(rooms::updated_at.nullable().gt(rooms::federated_at)),
        )
        .select(rooms::id)
        .limit(200)
        .load(c)
}

/// Send what changed in `rooms` (from [`changed_rooms`]). Returns deliveries queued.
pub fn sweep_rooms(
    c: &mut DbConnection,
    base: &str,
    default_mode: &str,
    rooms: &[i64],
) -> Result<usize, diesel::result::Error> {
    let mut n = 0;
    for id in rooms {
        n += room_changed(c, base, default_mode, *id)?;
    }
    Ok(n)
}

/// A room changed: `Create` its Video the first time, `Update` after; when a public show
/// starts, also a `Create(Note)` "now live" post for Mastodon and friends.
pub fn room_changed(
    c: &mut DbConnection,
    base: &str,
    default_mode: &str,
    room_id: i64,
) -> Result<usize, diesel::result::Error> {
    let Some((room, user_id, fed)) = local_room(c, base, room_id)? else {
        return Ok(0);
    };
    let inboxes = follower_inboxes(c, user_id)?;
    let actor = objects::actor_url(base, &room.username);
    let kind = if fed.at.is_some() { "Update" } else { "Create" };
    let went_live = room.status == "live" && fed.status.as_deref() != Some("live");
    let mut n = enqueue(
        c,
        default_mode,
        &room.username,
        &wrap(base, kind, &actor, objects::video(&room, None), true),
        &inboxes,
    )?;
    if went_live {
        let note_id = activity_id(base).replace("/activities/", "/notes/");
        let note = objects::now_live_note(&room, &note_id);
        n += enqueue(
            c,
            default_mode,
            &room.username,
            &wrap(base, "Create", &actor, note, true),
            &inboxes,
        )?;
    }
    diesel::update(rooms::table.find(room_id))
        .set((
            rooms::federated_at.eq(Some(fed.updated_at)),
            rooms::federated_status.eq(Some(&room.status)),
        ))
        .execute(c)?;
    Ok(n)
}

/// Profiles with followers changed since last federated: (user id, username).
pub fn changed_profiles(c: &mut DbConnection) -> Result<Vec<(i64, String)>, diesel::result::Error> {
    profiles::table
        .inner_join(users::table.on(users::id.eq(profiles::user_id)))
        .filter(profiles::user_id.eq_any(followers::table.select(followers::user_id)))
        .filter(
            profiles::federated_at
                .is_null()
                .or(profiles::updated_at.nullable().gt(profiles::federated_at)),
        )
        .select((users::id, users::username))
        .limit(200)
        .load(c)
}

/// A profile changed: `Update` the actor to her followers.
pub fn profile_changed(
    c: &mut DbConnection,
    base: &str,
    default_mode: &str,
    user_id: i64,
    public_key_pem: &str,
) -> Result<usize, diesel::result::Error> {
    let updated: Option<NaiveDateTime> = profiles::table
        .find(user_id)
        .select(profiles::updated_at)
        .first(c)
        .optional()?;
    let Some(updated) = updated else {
        return Ok(0);
    };
    diesel::update(profiles::table.find(user_id))
        .set(profiles::federated_at.eq(Some(updated)))
        .execute(c)?;
    let Some(model) = local_model(c, base, user_id, public_key_pem)? else {
        return Ok(0);
    };
    let inboxes = follower_inboxes(c, user_id)?;
    let actor = model.actor_id();
    enqueue(
        c,
        default_mode,
        &model.username,
        &wrap(base, "Update", &actor, objects::person(&model), true),
        &inboxes,
    )
}

/// An account is going away: `Delete` of the actor (and so of her room) to her followers.
/// Call inside the deleting transaction, before the rows go.
pub fn account_deleted(
    c: &mut DbConnection,
    base: &str,
    default_mode: &str,
    user_id: i64,
    username: &str,
) -> Result<usize, diesel::result::Error> {
    let inboxes = follower_inboxes(c, user_id)?;
    let actor = objects::actor_url(base, username);
    let tomb = json!({"id": actor, "type": "Tombstone"});
    let mut body = wrap(base, "Delete", &actor, tomb, true);
    body["object"] = json!(actor);
    enqueue(c, default_mode, username, &body, &inboxes)
}
