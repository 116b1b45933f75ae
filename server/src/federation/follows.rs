//! Follows: ours of remote models, and the count of a local model's followers.

use diesel::prelude::*;
use livestars_federation::objects;
use livestars_federation::protocol::RemoteActor;
use serde_json::json;

use crate::db::schema::{followers, follows};
use crate::db::{now, DbConnection};

use super::*;

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

/// A model of another instance that a local user follows.
pub struct FollowedRemote {
    /// `name@host`.
    pub handle: String,
    pub display_name: String,
    /// Whether her instance accepted the follow.
    pub accepted: bool,
    /// Her room's state as last federated; `None` before any listing arrived.
    pub room_status: Option<String>,
}

/// The models of other instances `user_id` follows, by instance and name.
pub fn followed_remote(
    c: &mut DbConnection,
    user_id: i64,
) -> Result<Vec<FollowedRemote>, diesel::result::Error> {
    use crate::db::schema::{remote_actors, remote_rooms};
    #[derive(Queryable)]
    struct Row {
        username: String,
        domain: String,
        display_name: String,
        state: String,
        room_status: Option<String>,
    }
    let rows: Vec<Row> = follows::table
        .inner_join(remote_actors::table)
        .left_join(
            remote_rooms::table.on(remote_rooms::remote_actor_id.eq(follows::remote_actor_id)),
        )
        .filter(follows::user_id.eq(user_id))
        .select((
            remote_actors::username,
            remote_actors::domain,
            remote_actors::display_name,
            follows::state,
            remote_rooms::status.nullable(),
        ))
        .order((remote_actors::domain.asc(), remote_actors::username.asc()))
        .load(c)?;
    Ok(rows
        .into_iter()
        .map(|r| FollowedRemote {
            handle: format!("{}@{}", r.username, r.domain),
            display_name: r.display_name,
            accepted: r.state == "accepted",
            room_status: r.room_status,
        })
        .collect())
}
