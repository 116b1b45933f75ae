//! Following a model of this instance (a model of another instance is followed through
//! federation, see `federation::follows`). A follow is the viewer's own list: the "Following"
//! page shows the models she follows and whether they are live; the model sees how many follow
//! her.

use diesel::prelude::*;
use livestars_api::RoomStatus;

use super::ProfileError;
use crate::accounts::User;
use crate::db::schema::{model_follows, profiles, rooms, users};
use crate::db::{is_unique_violation, now, DbConnection};

/// The id of the active local model `username`.
fn model_id(conn: &mut DbConnection, username: &str) -> Result<i64, ProfileError> {
    users::table
        .filter(users::username.eq(username))
        .filter(users::role.eq("model"))
        .filter(users::deleted_at.is_null())
        .select(users::id)
        .first(conn)
        .optional()?
        .ok_or(ProfileError::NotFound)
}

/// `user` follows the model `username` (following twice is one follow).
pub fn follow(conn: &mut DbConnection, user: &User, username: &str) -> Result<(), ProfileError> {
    let model = model_id(conn, username)?;
    if model == user.id {
        return Err(ProfileError::Invalid {
            field: "username",
            message: "you cannot follow yourself".into(),
        });
    }
    // In a savepoint: on PostgreSQL a refused insert would otherwise abort the transaction.
    let inserted = conn.transaction(|c| {
        diesel::insert_into(model_follows::table)
            .values((
                model_follows::user_id.eq(user.id),
                model_follows::model_id.eq(model),
                model_follows::created_at.eq(now()),
            ))
            .execute(c)
    });
    match inserted {
        // Already following (two requests at once, or again): one follow.
        Err(e) if is_unique_violation(&e) => Ok(()),
        other => other.map(|_| ()).map_err(ProfileError::from),
    }
}

/// `user` stops following `username` (not following is not an error).
pub fn unfollow(conn: &mut DbConnection, user: &User, username: &str) -> Result<(), ProfileError> {
    let model = model_id(conn, username)?;
    diesel::delete(model_follows::table.find((user.id, model))).execute(conn)?;
    Ok(())
}

/// Whether `user_id` follows `username`, and how many accounts here follow her.
pub fn state(
    conn: &mut DbConnection,
    user_id: Option<i64>,
    username: &str,
) -> Result<(bool, i64), ProfileError> {
    let model = model_id(conn, username)?;
    let following = match user_id {
        Some(u) => {
            model_follows::table
                .find((u, model))
                .count()
                .get_result::<i64>(conn)?
                > 0
        }
        None => false,
    };
    let followers = model_follows::table
        .filter(model_follows::model_id.eq(model))
        .count()
        .get_result(conn)?;
    Ok((following, followers))
}

/// A model of this instance that a viewer follows.
#[derive(Queryable)]
pub struct FollowedModel {
    pub username: String,
    pub display_name: String,
    pub title: String,
    status: String,
}

impl FollowedModel {
    pub fn status(&self) -> RoomStatus {
        RoomStatus::from_stored(&self.status)
    }
}

/// The models `user_id` follows here, live ones first, then by name. Models who deleted their
/// account are gone from it.
pub fn followed(conn: &mut DbConnection, user_id: i64) -> Result<Vec<FollowedModel>, ProfileError> {
    let mut rows: Vec<FollowedModel> = model_follows::table
        .inner_join(users::table.on(users::id.eq(model_follows::model_id)))
        .inner_join(profiles::table.on(profiles::user_id.eq(model_follows::model_id)))
        .inner_join(rooms::table.on(rooms::user_id.eq(model_follows::model_id)))
        .filter(model_follows::user_id.eq(user_id))
        .filter(users::deleted_at.is_null())
        .select((
            users::username,
            profiles::display_name,
            rooms::title,
            rooms::status,
        ))
        .order(users::username.asc())
        .load(conn)?;
    rows.sort_by_key(|r| r.status() == RoomStatus::Offline);
    Ok(rows)
}
