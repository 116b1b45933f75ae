//! The federation crate's storage trait over diesel (`DbStore`): applying verified inbound
//! activities in one transaction each, with the replay check; NodeInfo's usage figures.

use std::sync::Arc;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use livestars_federation::objects;
use livestars_federation::protocol::{Ctx, FedError, Incoming, RemoteActor, Store};
use livestars_federation::{async_trait, Url};
use serde_json::{json, Value};

use crate::db::schema::{
    followers, follows, inbound_activities, remote_actors, remote_rooms, rooms, users,
};
use crate::db::{now, Db, DbConnection, DbError};

use super::*;

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

pub(crate) fn store_err(e: impl std::fmt::Display) -> FedError {
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

pub(crate) type R<T> = Result<T, FedErrorWrap>;

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
