//! Actors: the signing keys of local actors (created on first use), local models as ActivityPub
//! actors, and the remote actors we know.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use livestars_federation::objects::LocalModel;
use livestars_federation::protocol::RemoteActor;
use livestars_federation::Url;

use crate::db::schema::{actor_keys, profiles, remote_actors, rooms, users};
use crate::db::{now, Db, DbConnection, DbError};
use crate::profiles::split_list;

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

/// A remote actor as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = remote_actors)]
pub(crate) struct ActorRow {
    id: i64,
    ap_id: String,
    kind: String,
    username: String,
    domain: String,
    display_name: String,
    summary: String,
    icon_url: Option<String>,
    url: Option<String>,
    inbox: String,
    shared_inbox: Option<String>,
    followers_url: Option<String>,
    room_url: Option<String>,
    public_key_pem: String,
    fetched_at: NaiveDateTime,
}

pub(crate) fn parse_url(s: &str) -> Option<Url> {
    Url::parse(s).ok()
}

pub(crate) fn actor_from_row(r: ActorRow) -> Option<RemoteActor> {
    Some(RemoteActor {
        id: r.id,
        ap_id: parse_url(&r.ap_id)?,
        kind: r.kind,
        username: r.username,
        domain: r.domain,
        display_name: r.display_name,
        summary: r.summary,
        icon_url: r.icon_url,
        url: r.url,
        inbox: parse_url(&r.inbox)?,
        shared_inbox: r.shared_inbox.as_deref().and_then(parse_url),
        followers_url: r.followers_url.as_deref().and_then(parse_url),
        room_url: r.room_url.as_deref().and_then(parse_url),
        public_key_pem: r.public_key_pem,
        fetched_at: r.fetched_at.and_utc(),
    })
}

pub fn actor_by_ap_id(
    c: &mut DbConnection,
    ap_id: &str,
) -> Result<Option<RemoteActor>, diesel::result::Error> {
    Ok(remote_actors::table
        .filter(remote_actors::ap_id.eq(ap_id))
        .select(ActorRow::as_select())
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
        .select(ActorRow::as_select())
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
