//! Rooms: every model has exactly one. A room is `offline`, `live` (public show) or `private`.
//! Only its model changes a room or starts and stops her show.
//!
//! The directory ([`directory`]) lists rooms in the order of the published ranking formula
//! ([`ranking`]).

pub mod chat;
pub mod directory;
pub mod events;
pub mod ranking;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use livestars_api::{Room, RoomStatus, RoomUpdate};

use crate::accounts::User;
use crate::db::schema::{profiles, rooms, users};
use crate::db::{now, DbConnection, DbError};
use crate::iddocs::{self, IdDocError};
use crate::profiles::{join_list, parse_tags, split_list, ProfileError};

#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    #[error("no such room")]
    NotFound,
    #[error("only the room's model can do this")]
    Forbidden,
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("the cursor is not one this directory handed out")]
    InvalidCursor,
    #[error("{0}")]
    VerificationRequired(&'static str),
    #[error("this account is suspended")]
    Suspended,
    /// A fault of another module surfacing here; reported as an internal error.
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for RoomError {
    fn from(e: diesel::result::Error) -> Self {
        RoomError::Db(DbError::Query(e))
    }
}

impl From<IdDocError> for RoomError {
    fn from(e: IdDocError) -> Self {
        match e {
            IdDocError::VerificationRequired(m) => RoomError::VerificationRequired(m),
            IdDocError::Db(e) => RoomError::Db(e),
            // The gate yields only the two above; anything else is a fault, reported as such.
            other => RoomError::Internal(other.to_string()),
        }
    }
}

impl From<ProfileError> for RoomError {
    fn from(e: ProfileError) -> Self {
        match e {
            ProfileError::Invalid { field, message } => RoomError::Invalid { field, message },
            ProfileError::Db(e) => RoomError::Db(e),
            ProfileError::NotFound => RoomError::NotFound,
            other => RoomError::Invalid {
                field: "room",
                message: other.to_string(),
            },
        }
    }
}

pub fn parse_status(s: &str) -> RoomStatus {
    RoomStatus::from_stored(s)
}

/// A room with what the directory needs to rank it.
#[derive(Debug, Clone)]
pub struct RoomRecord {
    pub room: Room,
    /// Unknown for federated rooms (account age does not federate): no newcomer boost.
    pub account_created_at: Option<NaiveDateTime>,
}

type RoomRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    i32,
    i32,
    Option<NaiveDateTime>,
    NaiveDateTime,
    Option<String>,
);

fn from_row(r: RoomRow) -> RoomRecord {
    let (
        id,
        model,
        display_name,
        title,
        tags,
        languages,
        status,
        viewers,
        guests,
        started,
        created,
        avatar_mime,
    ) = r;
    RoomRecord {
        room: Room {
            id,
            display_name,
            title,
            tags: split_list(&tags),
            languages: split_list(&languages),
            status: parse_status(&status),
            viewer_count: viewers,
            guest_count: guests,
            started_at: started.map(|t| t.and_utc()),
            home: None,
            url: None,
            avatar_url: avatar_mime.map(|_| format!("/api/profiles/{model}/avatar")),
            model,
        },
        account_created_at: Some(created),
    }
}

macro_rules! room_query {
    () => {
        rooms::table
            .inner_join(users::table)
            .inner_join(profiles::table.on(profiles::user_id.eq(rooms::user_id)))
            .select((
                rooms::id,
                users::username,
                profiles::display_name,
                rooms::title,
                rooms::tags,
                profiles::languages,
                rooms::status,
                rooms::viewer_count,
                rooms::guest_count,
                rooms::started_at,
                users::created_at,
                profiles::avatar_mime,
            ))
    };
}

pub fn get(conn: &mut DbConnection, id: i64) -> Result<Room, RoomError> {
    room_query!()
        .filter(rooms::id.eq(id))
        .first::<RoomRow>(conn)
        .optional()?
        .map(|r| from_row(r).room)
        .ok_or(RoomError::NotFound)
}

/// All rooms with `status`, for the directory.
pub fn with_status(
    conn: &mut DbConnection,
    status: RoomStatus,
) -> Result<Vec<RoomRecord>, RoomError> {
    Ok(room_query!()
        .filter(rooms::status.eq(status.as_str()))
        .load::<RoomRow>(conn)?
        .into_iter()
        .map(from_row)
        .collect())
}

fn check_owner(conn: &mut DbConnection, id: i64, actor: &User) -> Result<(), RoomError> {
    let owner: Option<i64> = rooms::table
        .find(id)
        .select(rooms::user_id)
        .first(conn)
        .optional()?;
    match owner {
        None => Err(RoomError::NotFound),
        Some(o) if o == actor.id => Ok(()),
        Some(_) => Err(RoomError::Forbidden),
    }
}

/// Change title and tags. The whole update is validated before anything is written.
pub fn update(
    conn: &mut DbConnection,
    id: i64,
    actor: &User,
    upd: &RoomUpdate,
) -> Result<Room, RoomError> {
    check_owner(conn, id, actor)?;
    let title = match &upd.title {
        Some(t) => {
            // Invisible and reordering characters go (a title cannot disguise itself).
            let t = crate::text::clean(t);
            let t = t.as_str();
            if t.chars().count() > 120 || t.chars().any(char::is_control) {
                return Err(RoomError::Invalid {
                    field: "title",
                    message: "at most 120 characters, no control characters".into(),
                });
            }
            Some(t.to_string())
        }
        None => None,
    };
    let tags = upd
        .tags
        .as_deref()
        .map(|t| parse_tags("tags", t))
        .transpose()?;
    let target = rooms::table.find(id);
    if let Some(t) = title {
        diesel::update(target)
            .set(rooms::title.eq(t))
            .execute(conn)?;
    }
    if let Some(t) = tags {
        diesel::update(target)
            .set(rooms::tags.eq(join_list(&t)))
            .execute(conn)?;
    }
    diesel::update(target)
        .set(rooms::updated_at.eq(now()))
        .execute(conn)?;
    crate::events::record(crate::events::Event::RoomChanged { room_id: id });
    get(conn, id)
}

/// Start (or switch between public and private) the show. A running show keeps its start time.
/// Every way of showing passes here, and so through the ID-verification gate.
pub fn start(
    conn: &mut DbConnection,
    id: i64,
    actor: &User,
    status: RoomStatus,
) -> Result<Room, RoomError> {
    // A suspension committed since the caller's session was looked up wins: the show does
    // not start (and a suspension that comes after waits for this commit, then ends it).
    crate::accounts::lock_active(conn, actor.id).map_err(|e| match e {
        crate::accounts::AccountError::Suspended => RoomError::Suspended,
        crate::accounts::AccountError::Db(e) => RoomError::Db(e),
        other => RoomError::Internal(other.to_string()),
    })?;
    check_owner(conn, id, actor)?;
    if status == RoomStatus::Offline {
        return Err(RoomError::Invalid {
            field: "status",
            message: "a show starts as live or private; use stop to go offline".into(),
        });
    }
    // The go-live gate: only a model with an approved, unexpired ID document shows.
    let t = now();
    iddocs::may_go_live(conn, actor.id, t.date())?;
    let current = get(conn, id)?;
    let started = current.started_at.map(|s| s.naive_utc()).unwrap_or(t);
    diesel::update(rooms::table.find(id))
        .set((
            rooms::status.eq(status.as_str()),
            rooms::started_at.eq(Some(started)),
            rooms::updated_at.eq(t),
        ))
        .execute(conn)?;
    crate::events::record(crate::events::Event::ShowStarted { user_id: actor.id });
    get(conn, id)
}

/// End the show: the room goes offline and its audience counts reset.
pub fn stop(conn: &mut DbConnection, id: i64, actor: &User) -> Result<Room, RoomError> {
    check_owner(conn, id, actor)?;
    end_show_of(conn, actor.id)?;
    get(conn, id)
}

pub use crate::shows::end_show_of;

/// Whether room `id` exists.
pub fn exists(conn: &mut DbConnection, id: i64) -> Result<bool, diesel::result::Error> {
    diesel::select(diesel::dsl::exists(rooms::table.find(id))).get_result(conn)
}

/// Store rooms' audience counts (room id, signed-in viewers, guests), as the room sockets of
/// this process count them; the directory ranks by them.
pub fn set_counts(conn: &mut DbConnection, counts: &[(i64, i32, i32)]) -> Result<(), RoomError> {
    for &(id, viewers, guests) in counts {
        let n = diesel::update(rooms::table.find(id))
            .set((
                rooms::viewer_count.eq(viewers),
                rooms::guest_count.eq(guests),
            ))
            .execute(conn)?;
        if n == 1 {
            crate::events::record(crate::events::Event::AudienceChanged { room_id: id });
        }
    }
    Ok(())
}

/// Rooms still showing an audience: after a restart no socket is open, so they are stale.
pub fn with_audience(conn: &mut DbConnection) -> Result<Vec<i64>, RoomError> {
    Ok(rooms::table
        .filter(rooms::viewer_count.gt(0).or(rooms::guest_count.gt(0)))
        .select(rooms::id)
        .load(conn)?)
}
