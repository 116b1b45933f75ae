//! A room's chat: lines written by signed-in accounts, kept for a while so that a client that
//! reconnects gets what it missed, then deleted. The socket that carries them is in
//! `http::api::socket`; committed lines reach it through the `Chatted` domain event.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use livestars_api::ChatLine;

use super::RoomError;
use crate::accounts::User;
use crate::db::schema::{chat_messages, rooms, users};
use crate::db::{now, DbConnection};

/// Longest chat line, in characters.
pub const MAX_CHARS: usize = 500;
/// Most lines a joining or reconnecting client gets.
pub const BACKLOG: i64 = 50;

/// A line as it will be shown: NFC, without invisible or reordering characters, control
/// characters (line breaks included) as spaces, trimmed; not empty, at most [`MAX_CHARS`].
pub fn clean(text: &str) -> Result<String, RoomError> {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let t = crate::text::clean(&one_line);
    if !crate::text::has_visible(&t) {
        return Err(RoomError::Invalid {
            field: "text",
            message: "say something".into(),
        });
    }
    if t.chars().count() > MAX_CHARS {
        return Err(RoomError::Invalid {
            field: "text",
            message: format!("at most {MAX_CHARS} characters"),
        });
    }
    Ok(t)
}

/// `user` says `text` in room `room_id`: stored and, after commit, sent to everyone in the
/// room. A suspension or deletion committed before this wins.
pub fn say(
    conn: &mut DbConnection,
    room_id: i64,
    user: &User,
    text: &str,
) -> Result<ChatLine, RoomError> {
    let text = clean(text)?;
    crate::accounts::lock_active(conn, user.id).map_err(|_| RoomError::Suspended)?;
    let exists: i64 = rooms::table.find(room_id).count().get_result(conn)?;
    if exists == 0 {
        return Err(RoomError::NotFound);
    }
    let t = now();
    let id: i64 = diesel::insert_into(chat_messages::table)
        .values((
            chat_messages::room_id.eq(room_id),
            chat_messages::user_id.eq(user.id),
            chat_messages::body.eq(&text),
            chat_messages::created_at.eq(t),
        ))
        .returning(chat_messages::id)
        .get_result(conn)?;
    let line = ChatLine {
        id,
        room_id,
        from: user.username.clone(),
        text,
        at: t.and_utc(),
    };
    crate::events::record(crate::events::Event::Chatted(line.clone()));
    Ok(line)
}

/// The room's latest lines (at most [`BACKLOG`]), or those after line `after`, oldest first.
pub fn lines(
    conn: &mut DbConnection,
    room_id: i64,
    after: Option<i64>,
) -> Result<Vec<ChatLine>, RoomError> {
    let mut q = chat_messages::table
        .inner_join(users::table)
        .filter(chat_messages::room_id.eq(room_id))
        .select((
            chat_messages::id,
            users::username,
            chat_messages::body,
            chat_messages::created_at,
        ))
        .order(chat_messages::id.desc())
        .limit(BACKLOG)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(chat_messages::id.gt(a));
    }
    let mut rows: Vec<(i64, String, String, NaiveDateTime)> = q.load(conn)?;
    rows.reverse();
    Ok(rows
        .into_iter()
        .map(|(id, from, text, at)| ChatLine {
            id,
            room_id,
            from,
            text,
            at: at.and_utc(),
        })
        .collect())
}

/// Delete lines older than `before` (housekeeping); how many.
pub fn expire(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize, RoomError> {
    Ok(
        diesel::delete(chat_messages::table.filter(chat_messages::created_at.lt(before)))
            .execute(conn)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cleaned_and_bounded() {
        assert_eq!(clean("  hi\nthere\u{202E}  ").unwrap(), "hi there");
        assert_eq!(clean("e\u{301}").unwrap(), "\u{e9}");
        assert!(clean(" \u{200B}\t").is_err());
        assert!(clean(&"x".repeat(MAX_CHARS)).is_ok());
        assert!(clean(&"x".repeat(MAX_CHARS + 1)).is_err());
    }
}
