//! The server's side of federation: the federation crate's storage trait over diesel, the
//! persistent outbox (what to send, to which inboxes), and the documents of local actors.
//!
//! Every outgoing activity is written to `outbox` + `deliveries` inside the same transaction as
//! the change that caused it, so a crash loses nothing and a rolled-back change sends nothing.
//! The delivery worker ([`crate::delivery`]) signs and sends them.

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use livestars_federation::objects::{self, LocalModel, LocalRoom};
use livestars_federation::protocol::{authority, Ctx, FedError, Incoming, RemoteActor, Store};
use livestars_federation::{async_trait, Url};
use serde_json::{json, Value};

use crate::db::schema::{
    actor_keys, deliveries, domain_policies, followers, follows, inbound_activities, instances,
    outbox, profiles, remote_actors, remote_rooms, rooms, settings, users,
};
use crate::db::{now, Db, DbConnection, DbError};
use crate::profiles::split_list;

/// The name under which the instance actor's keys are kept.
pub const INSTANCE_ACTOR: &str = "@instance";

tokio::task_local! {
    /// SHA-256 of the `Signature` header of the inbound request being applied.
    pub static INBOUND_SIGNATURE: String;
}

/// What the store needs besides the database.
#[derive(Clone)]
pub struct DbStore {
    pub db: Db,
    pub base: String,
    pub domain: String,
    pub default_mode: String,
    pub notify: Arc<tokio::sync::Notify>,
}

fn store_err(e: impl std::fmt::Display) -> FedError {
    FedError::Store(e.to_string())
}

impl From<DbError> for FedErrorWrap {
    fn from(e: DbError) -> Self {
        FedErrorWrap(store_err(e))
    }
}
impl From<diesel::result::Error> for FedErrorWrap {
    fn from(e: diesel::result::Error) -> Self {
        FedErrorWrap(store_err(e))
    }
}
impl From<FedError> for FedErrorWrap {
    fn from(e: FedError) -> Self {
        FedErrorWrap(e)
    }
}

/// `FedError` lives in the federation crate; this wrapper lets `?` convert database errors.
#[derive(Debug)]
pub struct FedErrorWrap(pub FedError);

type R<T> = Result<T, FedErrorWrap>;

// ---------------------------------------------------------------------------------------------
// Keys

/// A local actor's (public, private) PEM keys, created on first use.
pub async fn keys(db: &Db, name: &str) -> Result<(String, String), DbError> {
    let n = name.to_string();
    let found = db
        .read(move |c| {
            actor_keys::table
                .find(&n)
                .select((actor_keys::public_key_pem, actor_keys::private_key_pem))
                .first::<(String, String)>(c)
                .optional()
                .map_err(DbError::from)
        })
        .await?;
    if let Some(k) = found {
        return Ok(k);
    }
    let pair = tokio::task::spawn_blocking(
        livestars_federation::apf::http_signatures::generate_actor_keypair,
    )
    .await
    .map_err(|e| DbError::Join(e.to_string()))?
    .map_err(|e| DbError::Connection(format!("key generation: {e}")))?;
    let n = name.to_string();
    db.write(move |c| {
        // Another request may have created them meanwhile: the first keys win.
        let existing = actor_keys::table
            .find(&n)
            .select((actor_keys::public_key_pem, actor_keys::private_key_pem))
            .first::<(String, String)>(c)
            .optional()?;
        if let Some(k) = existing {
            return Ok(k);
        }
        diesel::insert_into(actor_keys::table)
            .values((
                actor_keys::name.eq(&n),
                actor_keys::public_key_pem.eq(&pair.public_key),
                actor_keys::private_key_pem.eq(&pair.private_key),
                actor_keys::created_at.eq(now()),
            ))
            .execute(c)?;
        Ok::<_, DbError>((pair.public_key.clone(), pair.private_key.clone()))
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Policy

pub fn mode(c: &mut DbConnection, default: &str) -> Result<String, diesel::result::Error> {
    Ok(settings::table
        .find("federation_mode")
        .select(settings::value)
        .first::<String>(c)
        .optional()?
        .unwrap_or_else(|| default.to_string()))
}

pub fn set_mode(c: &mut DbConnection, mode: &str) -> Result<(), diesel::result::Error> {
    diesel::delete(settings::table.find("federation_mode")).execute(c)?;
    diesel::insert_into(settings::table)
        .values((
            settings::key.eq("federation_mode"),
            settings::value.eq(mode),
        ))
        .execute(c)?;
    Ok(())
}

/// Whether `domain` may federate with us under the current mode and domain list.
pub fn allowed(
    c: &mut DbConnection,
    domain: &str,
    default_mode: &str,
) -> Result<bool, diesel::result::Error> {
    let domain = domain.to_ascii_lowercase();
    let policy: Option<String> = domain_policies::table
        .find(&domain)
        .select(domain_policies::policy)
        .first(c)
        .optional()?;
    Ok(match policy.as_deref() {
        Some("block") => false,
        Some("allow") => true,
        _ => mode(c, default_mode)? == "open",
    })
}

pub fn set_domain_policy(
    c: &mut DbConnection,
    domain: &str,
    policy: Option<&str>,
) -> Result<(), diesel::result::Error> {
    let domain = domain.to_ascii_lowercase();
    diesel::delete(domain_policies::table.find(&domain)).execute(c)?;
    if let Some(p) = policy {
        diesel::insert_into(domain_policies::table)
            .values((
                domain_policies::domain.eq(&domain),
                domain_policies::policy.eq(p),
                domain_policies::created_at.eq(now()),
            ))
            .execute(c)?;
    }
    if policy == Some("block") {
        // Nothing is sent to a blocked domain, including what was already queued.
        diesel::update(
            deliveries::table
                .filter(deliveries::domain.eq(&domain))
                .filter(deliveries::state.eq("pending")),
        )
        .set((
            deliveries::state.eq("dropped"),
            deliveries::last_error.eq(Some("domain blocked")),
            deliveries::updated_at.eq(now()),
        ))
        .execute(c)?;
    }
    Ok(())
}

pub fn domain_lists(
    c: &mut DbConnection,
) -> Result<(Vec<String>, Vec<String>), diesel::result::Error> {
    let rows: Vec<(String, String)> = domain_policies::table
        .select((domain_policies::domain, domain_policies::policy))
        .order(domain_policies::domain)
        .load(c)?;
    let blocked = rows
        .iter()
        .filter(|r| r.1 == "block")
        .map(|r| r.0.clone())
        .collect();
    let allowed = rows
        .iter()
        .filter(|r| r.1 == "allow")
        .map(|r| r.0.clone())
        .collect();
    Ok((blocked, allowed))
}

// ---------------------------------------------------------------------------------------------
// Outbox

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
                deliveries::state.eq("pending"),
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

fn wrap(base: &str, kind: &str, actor: &str, object: Value, to_followers: bool) -> Value {
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

/// A local user as an actor document's inputs.
pub fn local_model(
    c: &mut DbConnection,
    base: &str,
    user_id: i64,
    public_key_pem: &str,
) -> Result<Option<LocalModel>, diesel::result::Error> {
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    // Viewers have no profile: their actor carries the username only.
    let row: Option<Row> = users::table
        .left_join(profiles::table.on(profiles::user_id.eq(users::id)))
        .filter(users::id.eq(user_id))
        .filter(users::suspended_at.is_null())
        .select((
            users::username,
            users::role,
            profiles::display_name.nullable(),
            profiles::bio.nullable(),
            profiles::tags.nullable(),
            profiles::avatar_mime.nullable(),
            profiles::links.nullable(),
        ))
        .first(c)
        .optional()?;
    let Some((username, role, display_name, bio, tags, avatar, links)) = row else {
        return Ok(None);
    };
    let (display_name, bio, tags) = (
        display_name.unwrap_or_default(),
        bio.unwrap_or_default(),
        tags.unwrap_or_default(),
    );
    let room_id: Option<i64> = if role == "model" {
        rooms::table
            .filter(rooms::user_id.eq(user_id))
            .select(rooms::id)
            .first(c)
            .optional()?
    } else {
        None
    };
    Ok(Some(LocalModel {
        base: base.to_string(),
        display_name: if display_name.is_empty() {
            username.clone()
        } else {
            display_name
        },
        username,
        summary: bio,
        tags: split_list(&tags),
        has_avatar: avatar.is_some(),
        public_key_pem: public_key_pem.to_string(),
        room_id,
        links: crate::profiles::parse_stored_links(links.as_deref().unwrap_or("[]"))
            .into_iter()
            .map(|l| (l.name, l.url))
            .collect(),
    }))
}

/// Whether `username` belonged to an account that was deleted.
pub fn was_deleted(c: &mut DbConnection, username: &str) -> Result<bool, diesel::result::Error> {
    let n: i64 = users::table
        .filter(users::username.eq(username))
        .filter(users::deleted_at.is_not_null())
        .count()
        .get_result(c)?;
    Ok(n > 0)
}

pub fn user_id_by_name(
    c: &mut DbConnection,
    username: &str,
) -> Result<Option<i64>, diesel::result::Error> {
    users::table
        .filter(users::username.eq(username))
        .filter(users::suspended_at.is_null())
        .select(users::id)
        .first(c)
        .optional()
}

// ---------------------------------------------------------------------------------------------
// Remote actors and rooms

type ActorRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    NaiveDateTime,
);

macro_rules! actor_columns {
    () => {
        (
            remote_actors::id,
            remote_actors::ap_id,
            remote_actors::kind,
            remote_actors::username,
            remote_actors::domain,
            remote_actors::display_name,
            remote_actors::summary,
            remote_actors::icon_url,
            remote_actors::url,
            remote_actors::inbox,
            remote_actors::shared_inbox,
            remote_actors::followers_url,
            remote_actors::room_url,
            remote_actors::public_key_pem,
            remote_actors::fetched_at,
        )
    };
}

fn parse_url(s: &str) -> Option<Url> {
    Url::parse(s).ok()
}

fn actor_from_row(r: ActorRow) -> Option<RemoteActor> {
    Some(RemoteActor {
        id: r.0,
        ap_id: parse_url(&r.1)?,
        kind: r.2,
        username: r.3,
        domain: r.4,
        display_name: r.5,
        summary: r.6,
        icon_url: r.7,
        url: r.8,
        inbox: parse_url(&r.9)?,
        shared_inbox: r.10.as_deref().and_then(parse_url),
        followers_url: r.11.as_deref().and_then(parse_url),
        room_url: r.12.as_deref().and_then(parse_url),
        public_key_pem: r.13,
        fetched_at: r.14.and_utc(),
    })
}

pub fn actor_by_ap_id(
    c: &mut DbConnection,
    ap_id: &str,
) -> Result<Option<RemoteActor>, diesel::result::Error> {
    Ok(remote_actors::table
        .filter(remote_actors::ap_id.eq(ap_id))
        .select(actor_columns!())
        .first::<ActorRow>(c)
        .optional()?
        .and_then(actor_from_row))
}

/// A cached remote actor by handle (`name`, `host[:port]`).
pub fn actor_by_handle(
    c: &mut DbConnection,
    name: &str,
    domain: &str,
) -> Result<Option<RemoteActor>, diesel::result::Error> {
    Ok(remote_actors::table
        .filter(remote_actors::username.eq(name))
        .filter(remote_actors::domain.eq(domain))
        .select(actor_columns!())
        .first::<ActorRow>(c)
        .optional()?
        .and_then(actor_from_row))
}

pub fn save_actor(
    c: &mut DbConnection,
    a: &RemoteActor,
) -> Result<RemoteActor, diesel::result::Error> {
    crate::events::record(crate::events::Event::FederatedChanged);
    let t = now();
    let existing = actor_by_ap_id(c, a.ap_id.as_str())?;
    let values = || {
        (
            remote_actors::kind.eq(&a.kind),
            remote_actors::username.eq(&a.username),
            remote_actors::domain.eq(&a.domain),
            remote_actors::display_name.eq(&a.display_name),
            remote_actors::summary.eq(&a.summary),
            remote_actors::icon_url.eq(&a.icon_url),
            remote_actors::url.eq(&a.url),
            remote_actors::inbox.eq(a.inbox.as_str()),
            remote_actors::shared_inbox.eq(a.shared_inbox.as_ref().map(Url::as_str)),
            remote_actors::followers_url.eq(a.followers_url.as_ref().map(Url::as_str)),
            remote_actors::room_url.eq(a.room_url.as_ref().map(Url::as_str)),
            remote_actors::public_key_pem.eq(&a.public_key_pem),
            remote_actors::fetched_at.eq(t),
        )
    };
    let inserted = existing.is_none()
        && crate::db::insert_or_skip(c, |c| {
            diesel::insert_into(remote_actors::table)
                .values((remote_actors::ap_id.eq(a.ap_id.as_str()), values()))
                .execute(c)
        })?;
    if !inserted {
        diesel::update(remote_actors::table.filter(remote_actors::ap_id.eq(a.ap_id.as_str())))
            .set(values())
            .execute(c)?;
    }
    actor_by_ap_id(c, a.ap_id.as_str())?.ok_or(diesel::result::Error::NotFound)
}

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
    crate::events::record(crate::events::Event::FederatedChanged);
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
        )
    };
    let existing: Option<i64> = remote_rooms::table
        .filter(remote_rooms::ap_id.eq(v.id.as_str()))
        .select(remote_rooms::id)
        .first(c)
        .optional()?;
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
type RemoteRoomRow = (
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
fn remote_api_room(
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

/// A local user's follow of a remote actor: (activity id, state).
pub fn follow_of(
    c: &mut DbConnection,
    user_id: i64,
    remote_actor_id: i64,
) -> Result<Option<(String, String)>, diesel::result::Error> {
    follows::table
        .find((user_id, remote_actor_id))
        .select((follows::activity_id, follows::state))
        .first(c)
        .optional()
}

/// Follow: record it as pending and queue the `Follow`. Following again re-sends it.
pub fn follow(
    c: &mut DbConnection,
    base: &str,
    default_mode: &str,
    user_id: i64,
    username: &str,
    target: &RemoteActor,
) -> Result<String, diesel::result::Error> {
    crate::events::record(crate::events::Event::FederatedChanged);
    let actor = objects::actor_url(base, username);
    let id = activity_id(base);
    let body = json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": id,
        "type": "Follow",
        "actor": actor,
        "object": target.ap_id.as_str(),
    });
    diesel::delete(follows::table.find((user_id, target.id))).execute(c)?;
    diesel::insert_into(follows::table)
        .values((
            follows::user_id.eq(user_id),
            follows::remote_actor_id.eq(target.id),
            follows::activity_id.eq(&id),
            follows::state.eq("pending"),
            follows::created_at.eq(now()),
        ))
        .execute(c)?;
    enqueue(
        c,
        default_mode,
        username,
        &body,
        &[target.inbox.to_string()],
    )?;
    Ok("pending".into())
}

/// Unfollow: forget the follow and queue `Undo(Follow)`. Returns whether there was one.
pub fn unfollow(
    c: &mut DbConnection,
    base: &str,
    default_mode: &str,
    user_id: i64,
    username: &str,
    target: &RemoteActor,
) -> Result<bool, diesel::result::Error> {
    let Some((follow_id, _)) = follow_of(c, user_id, target.id)? else {
        return Ok(false);
    };
    diesel::delete(follows::table.find((user_id, target.id))).execute(c)?;
    let actor = objects::actor_url(base, username);
    let body = json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": activity_id(base),
        "type": "Undo",
        "actor": actor,
        "object": { "id": follow_id, "type": "Follow", "actor": actor, "object": target.ap_id.as_str() },
    });
    enqueue(
        c,
        default_mode,
        username,
        &body,
        &[target.inbox.to_string()],
    )?;
    crate::events::record(crate::events::Event::FederatedChanged);
    Ok(true)
}

pub fn follower_count(c: &mut DbConnection, user_id: i64) -> Result<i64, diesel::result::Error> {
    followers::table
        .filter(followers::user_id.eq(user_id))
        .count()
        .get_result(c)
}

// ---------------------------------------------------------------------------------------------
// Inbound

impl DbStore {
    /// The local user an actor URL of ours names.
    fn local_user(
        &self,
        c: &mut DbConnection,
        url: &str,
    ) -> Result<Option<(i64, String)>, diesel::result::Error> {
        let prefix = format!("{}/users/", self.base);
        let Some(name) = url.strip_prefix(&prefix) else {
            return Ok(None);
        };
        if name.contains('/') {
            return Ok(None);
        }
        Ok(user_id_by_name(c, name)?.map(|id| (id, name.to_string())))
    }

    /// Apply one verified activity inside a transaction. Returns whether rooms changed.
    fn apply_tx(
        &self,
        c: &mut DbConnection,
        actor: &RemoteActor,
        a: &Incoming,
        signature: &str,
    ) -> R<bool> {
        let seen: Option<String> = inbound_activities::table
            .find(a.id.as_str())
            .select(inbound_activities::signature_sha256)
            .first(c)
            .optional()?;
        if seen.is_some() {
            // The same activity again (a sender's retry): it had its effect once already.
            return Ok(false);
        }
        diesel::insert_into(inbound_activities::table)
            .values((
                inbound_activities::activity_id.eq(a.id.as_str()),
                inbound_activities::signature_sha256.eq(signature),
                inbound_activities::received_at.eq(now()),
            ))
            .execute(c)?;
        match a.kind.as_str() {
            "Follow" => {
                let target = a.object_id().map(|u| u.to_string()).unwrap_or_default();
                let Some((user_id, username)) = self.local_user(c, &target)? else {
                    return Err(FedError::NotFound(format!("no local actor {target}")).into());
                };
                diesel::delete(followers::table.find((user_id, actor.id))).execute(c)?;
                diesel::insert_into(followers::table)
                    .values((
                        followers::user_id.eq(user_id),
                        followers::remote_actor_id.eq(actor.id),
                        followers::activity_id.eq(a.id.as_str()),
                        followers::created_at.eq(now()),
                    ))
                    .execute(c)?;
                let me = objects::actor_url(&self.base, &username);
                let accept = json!({
                    "@context": "https://www.w3.org/ns/activitystreams",
                    "id": activity_id(&self.base),
                    "type": "Accept",
                    "actor": me,
                    "object": { "id": a.id.as_str(), "type": "Follow", "actor": actor.ap_id.as_str(), "object": me },
                });
                let inbox = [actor.inbox.to_string()];
                enqueue(c, &self.default_mode, &username, &accept, &inbox)?;
                // The new follower learns her room listing at once.
                let room: Option<i64> = rooms::table
                    .filter(rooms::user_id.eq(user_id))
                    .select(rooms::id)
                    .first(c)
                    .optional()?;
                if let Some((room, _, _)) = room
                    .map(|r| local_room(c, &self.base, r))
                    .transpose()?
                    .flatten()
                {
                    let create = wrap(&self.base, "Create", &me, objects::video(&room, None), true);
                    enqueue(c, &self.default_mode, &username, &create, &inbox)?;
                }
                Ok(false)
            }
            "Accept" => {
                let follow_id = a.object_id().map(|u| u.to_string()).unwrap_or_default();
                diesel::update(
                    follows::table
                        .filter(follows::activity_id.eq(&follow_id))
                        .filter(follows::remote_actor_id.eq(actor.id)),
                )
                .set(follows::state.eq("accepted"))
                .execute(c)?;
                Ok(true)
            }
            "Reject" => {
                let follow_id = a.object_id().map(|u| u.to_string()).unwrap_or_default();
                diesel::delete(
                    follows::table
                        .filter(follows::activity_id.eq(&follow_id))
                        .filter(follows::remote_actor_id.eq(actor.id)),
                )
                .execute(c)?;
                Ok(true)
            }
            "Undo" => {
                if a.object_type() == Some("Follow") || a.object.is_string() {
                    let follow_id = a.object_id().map(|u| u.to_string()).unwrap_or_default();
                    let target = a.object.get("object").and_then(Value::as_str).unwrap_or("");
                    let by_target = self.local_user(c, target)?;
                    let n = diesel::delete(
                        followers::table
                            .filter(followers::remote_actor_id.eq(actor.id))
                            .filter(followers::activity_id.eq(&follow_id)),
                    )
                    .execute(c)?;
                    if n == 0 {
                        if let Some((uid, _)) = by_target {
                            diesel::delete(followers::table.find((uid, actor.id))).execute(c)?;
                        }
                    }
                }
                Ok(false)
            }
            "Create" | "Update" => {
                match a.object_type() {
                    Some("Video") => {
                        let v: objects::VideoJson = serde_json::from_value(a.object.clone())
                            .map_err(|e| FedError::BadRequest(format!("Video: {e}")))?;
                        Ok(save_video(c, actor, &v)?)
                    }
                    Some("Person" | "Service" | "Application" | "Group" | "Organization") => {
                        let json: objects::ActorJson = serde_json::from_value(a.object.clone())
                            .map_err(|e| FedError::BadRequest(format!("actor: {e}")))?;
                        if json.id != actor.ap_id || json.public_key.owner != actor.ap_id {
                            return Err(FedError::BadRequest(
                                "an actor may update only itself".into(),
                            )
                            .into());
                        }
                        save_actor(c, &RemoteActor::from_document(json))?;
                        Ok(true)
                    }
                    // Notes and other objects: nothing of ours to keep.
                    _ => Ok(false),
                }
            }
            "Delete" => {
                let Some(object) = a.object_id() else {
                    return Ok(false);
                };
                if object == actor.ap_id {
                    diesel::delete(remote_actors::table.find(actor.id)).execute(c)?;
                } else {
                    diesel::delete(
                        remote_rooms::table
                            .filter(remote_rooms::ap_id.eq(object.as_str()))
                            .filter(remote_rooms::remote_actor_id.eq(actor.id)),
                    )
                    .execute(c)?;
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// The delivery-state row of `domain`, created if missing (safe against a concurrent creator).
pub fn ensure_instance(c: &mut DbConnection, domain: &str) -> Result<(), diesel::result::Error> {
    let exists: Option<String> = instances::table
        .find(domain)
        .select(instances::domain)
        .first(c)
        .optional()?;
    if exists.is_none() {
        crate::db::insert_or_skip(c, |c| {
            diesel::insert_into(instances::table)
                .values((
                    instances::domain.eq(domain),
                    instances::dead.eq(false),
                    instances::delivered.eq(0),
                ))
                .execute(c)
        })?;
    }
    Ok(())
}

/// Whether deliveries to `domain` are failing (or it is marked dead).
pub fn is_failing(c: &mut DbConnection, domain: &str) -> Result<bool, diesel::result::Error> {
    let n: i64 = instances::table
        .find(domain)
        .filter(
            instances::dead
                .eq(true)
                .or(instances::failing_since.is_not_null()),
        )
        .count()
        .get_result(c)?;
    Ok(n > 0)
}

/// An instance sent us a signed activity: if it was failing or dead, it answers again.
pub fn mark_alive_inbound(c: &mut DbConnection, domain: &str) -> Result<(), diesel::result::Error> {
    diesel::update(
        instances::table.find(domain).filter(
            instances::dead
                .eq(true)
                .or(instances::failing_since.is_not_null()),
        ),
    )
    .set((
        instances::dead.eq(false),
        instances::failing_since.eq(None::<NaiveDateTime>),
    ))
    .execute(c)?;
    Ok(())
}

/// The instance answered (delivered to, or sent us something): it is alive again.
pub fn mark_alive(
    c: &mut DbConnection,
    domain: &str,
    delivered: bool,
) -> Result<(), diesel::result::Error> {
    let t = now();
    ensure_instance(c, domain)?;
    let target = instances::table.find(domain);
    diesel::update(target)
        .set((
            instances::dead.eq(false),
            instances::failing_since.eq(None::<NaiveDateTime>),
            instances::last_success_at.eq(Some(t)),
        ))
        .execute(c)?;
    if delivered {
        diesel::update(target)
            .set(instances::delivered.eq(instances::delivered + 1))
            .execute(c)?;
    }
    Ok(())
}

#[async_trait]
impl Store for DbStore {
    async fn cached_actor(&self, id: &Url) -> Result<Option<RemoteActor>, FedError> {
        let id = id.to_string();
        self.db
            .read(move |c| actor_by_ap_id(c, &id).map_err(DbError::from))
            .await
            .map_err(store_err)
    }

    async fn save_actor(&self, actor: RemoteActor) -> Result<RemoteActor, FedError> {
        let saved = self
            .db
            .write(move |c| save_actor(c, &actor).map_err(DbError::from))
            .await
            .map_err(store_err)?;
        Ok(saved)
    }

    async fn allowed(&self, domain: &str) -> Result<bool, FedError> {
        let (d, m) = (domain.to_string(), self.default_mode.clone());
        self.db
            .read(move |c| allowed(c, &d, &m).map_err(DbError::from))
            .await
            .map_err(store_err)
    }

    async fn apply(&self, actor: RemoteActor, activity: Incoming) -> Result<(), FedError> {
        let signature = INBOUND_SIGNATURE.try_with(Clone::clone).unwrap_or_default();
        let me = self.clone();
        self.db
            .write(move |c| {
                let changed = me.apply_tx(c, &actor, &activity, &signature)?;
                if changed {
                    crate::events::record(crate::events::Event::FederatedChanged);
                }
                Ok::<_, FedErrorWrap>(())
            })
            .await
            .map_err(|e: FedErrorWrap| e.0)?;
        Ok(())
    }
}

/// The crate's app data for this store.
pub fn ctx(store: DbStore) -> Ctx {
    Ctx {
        store: Arc::new(store),
    }
}

/// Every remote instance with its delivery state and the deliveries waiting for or refused by
/// it (the console's Federation screen).
pub fn instance_deliveries(
    c: &mut DbConnection,
) -> Result<Vec<livestars_api::InstanceDelivery>, diesel::result::Error> {
    use crate::db::schema::{deliveries, instances};
    use livestars_api::InstanceDelivery;
    type Row = (
        String,
        bool,
        Option<chrono::NaiveDateTime>,
        Option<chrono::NaiveDateTime>,
        Option<String>,
        i32,
    );
    let rows: Vec<Row> = instances::table
        .select((
            instances::domain,
            instances::dead,
            instances::failing_since,
            instances::last_success_at,
            instances::last_error,
            instances::delivered,
        ))
        .order(instances::domain)
        .load(c)?;
    let mut out = Vec::with_capacity(rows.len());
    for (domain, dead, failing, success, error, delivered) in rows {
        let pending: i64 = deliveries::table
            .filter(deliveries::domain.eq(&domain))
            .filter(deliveries::state.eq("pending"))
            .count()
            .get_result(c)?;
        let refused: i64 = deliveries::table
            .filter(deliveries::domain.eq(&domain))
            .filter(deliveries::state.eq("rejected"))
            .count()
            .get_result(c)?;
        out.push(InstanceDelivery {
            domain,
            dead,
            failing_since: failing.map(|t| t.and_utc()),
            last_success_at: success.map(|t| t.and_utc()),
            last_error: error,
            delivered,
            pending,
            refused,
        });
    }
    Ok(out)
}

/// NodeInfo's usage figures: (accounts, accounts signed in since `since`, rooms live now).
pub fn usage(
    c: &mut DbConnection,
    since: NaiveDateTime,
) -> Result<(i64, i64, i64), diesel::result::Error> {
    use crate::db::schema::sessions;
    let total: i64 = users::table.count().get_result(c)?;
    let active: i64 = sessions::table
        .filter(sessions::created_at.gt(since))
        .select(sessions::user_id)
        .distinct()
        .count()
        .get_result(c)?;
    let live: i64 = rooms::table
        .filter(rooms::status.eq("live"))
        .count()
        .get_result(c)?;
    Ok((total, active, live))
}

/// The signature hash an inbound activity was received with, if it was (replay check).
pub fn inbound_signature(
    c: &mut DbConnection,
    activity_id: &str,
) -> Result<Option<String>, diesel::result::Error> {
    use crate::db::schema::inbound_activities;
    inbound_activities::table
        .find(activity_id)
        .select(inbound_activities::signature_sha256)
        .first::<String>(c)
        .optional()
}
