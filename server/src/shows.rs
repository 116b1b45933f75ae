//! A room's running show as a state others may end: the one primitive on rooms that the gates
//! below them (ID documents, moderation, account deletion) need, so that they do not depend on
//! [`crate::rooms`], which depends on them for the go-live check.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use livestars_api::RoomStatus;

use crate::db::schema::rooms;
use crate::db::{now, DbConnection};

/// End `user_id`'s show if one runs (her own stop, a revoked verification, a suspension, an
/// admin's decision). Returns whether one was running.
pub fn end_show_of(conn: &mut DbConnection, user_id: i64) -> Result<bool, diesel::result::Error> {
    let n = diesel::update(
        rooms::table
            .filter(rooms::user_id.eq(user_id))
            .filter(rooms::status.ne(RoomStatus::Offline.as_str())),
    )
    .set((
        rooms::status.eq(RoomStatus::Offline.as_str()),
        rooms::started_at.eq(None::<NaiveDateTime>),
        rooms::viewer_count.eq(0),
        rooms::guest_count.eq(0),
        rooms::updated_at.eq(now()),
    ))
    .execute(conn)?;
    if n > 0 {
        crate::events::record(crate::events::Event::ShowEnded { user_id });
    }
    Ok(n > 0)
}
