//! Model profiles: display name, bio, tags, languages and an avatar image. Anyone may read a
//! profile by username; only its owner may change it.
//!
//! Avatars are stored in the database (so several server processes on one PostgreSQL see the
//! same images), their type sniffed from the bytes, never taken from a header or a file name,
//! and only after decoding and re-encoding ([`images`]).

pub mod follows;
pub mod images;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use livestars_api::{Profile, ProfileUpdate};

use crate::accounts::User;
use crate::db::schema::{avatars, profiles, rooms, users};
use crate::db::{now, DbConnection, DbError};

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("no model profile with that username")]
    NotFound,
    #[error("only the owner can change this profile")]
    Forbidden,
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("avatar must be a PNG, JPEG or WebP image")]
    UnsupportedImage,
    #[error("avatar is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("no avatar uploaded")]
    NoAvatar,
    #[error("display_name: another model's name looks the same; choose one that does not")]
    NameTaken,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for ProfileError {
    fn from(e: diesel::result::Error) -> Self {
        ProfileError::Db(DbError::Query(e))
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> ProfileError {
    ProfileError::Invalid {
        field,
        message: message.into(),
    }
}

/// Tags: at most 10, each 1–24 characters of `a-z`, `0-9`, `-`; duplicates removed.
pub fn parse_tags(field: &'static str, tags: &[String]) -> Result<Vec<String>, ProfileError> {
    if tags.len() > 10 {
        return Err(invalid(field, "at most 10 tags"));
    }
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let ok = (1..=24).contains(&tag.len())
            && tag
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return Err(invalid(
                field,
                format!("{tag:?}: tags are 1 to 24 characters of a-z, 0-9 and -"),
            ));
        }
        if !out.contains(tag) {
            out.push(tag.clone());
        }
    }
    Ok(out)
}

/// Languages: at most 5 ISO 639 codes of two or three lower-case letters.
pub fn parse_languages(langs: &[String]) -> Result<Vec<String>, ProfileError> {
    if langs.len() > 5 {
        return Err(invalid("languages", "at most 5 languages"));
    }
    let mut out: Vec<String> = Vec::with_capacity(langs.len());
    for l in langs {
        if !(2..=3).contains(&l.len()) || !l.chars().all(|c| c.is_ascii_lowercase()) {
            return Err(invalid(
                "languages",
                format!("{l:?}: use a two- or three-letter code such as en or pt"),
            ));
        }
        if !out.contains(l) {
            out.push(l.clone());
        }
    }
    Ok(out)
}

/// Stored lists are space-separated: every element is validated to contain no spaces.
pub fn join_list(items: &[String]) -> String {
    items.join(" ")
}

pub fn split_list(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn check_text(
    field: &'static str,
    s: &str,
    min: usize,
    max: usize,
) -> Result<String, ProfileError> {
    // Invisible and reordering characters go; what is left must show something.
    let cleaned = crate::text::clean(s);
    let trimmed = cleaned.as_str();
    if min > 0 && !crate::text::has_visible(trimmed) {
        return Err(invalid(field, "must contain visible characters"));
    }
    let len = trimmed.chars().count();
    if len < min || len > max {
        return Err(invalid(field, format!("must be {min} to {max} characters")));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(trimmed.to_string())
}

type ProfileRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    NaiveDateTime,
);

/// Profile links as stored (JSON); unreadable text reads as no links.
pub fn parse_stored_links(s: &str) -> Vec<livestars_api::ProfileLink> {
    serde_json::from_str(s).unwrap_or_default()
}

/// Validate profile links; their JSON for storage.
pub fn check_links(links: &[livestars_api::ProfileLink]) -> Result<String, ProfileError> {
    if links.len() > 4 {
        return Err(invalid("links", "at most 4 links"));
    }
    let mut clean = Vec::with_capacity(links.len());
    for l in links {
        let name = check_text("links", &l.name, 1, 40)?;
        if name.contains(['\n', '\t']) {
            return Err(invalid("links", "a link name is one line"));
        }
        let url = l.url.trim();
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        let host_ok = url
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
            .is_some_and(|h| !h.is_empty());
        if !scheme_ok
            || !host_ok
            || url.len() > 300
            || url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid(
                "links",
                "each url is an http(s) URL of at most 300 characters",
            ));
        }
        clean.push(livestars_api::ProfileLink {
            name,
            url: url.to_string(),
        });
    }
    serde_json::to_string(&clean).map_err(|e| invalid("links", e.to_string()))
}

/// The public profile of model `username`.
pub fn get(conn: &mut DbConnection, username: &str) -> Result<Profile, ProfileError> {
    let row: Option<ProfileRow> = profiles::table
        .inner_join(users::table)
        .inner_join(rooms::table.on(rooms::user_id.eq(profiles::user_id)))
        .filter(users::username.eq(username))
        .select((
            users::username,
            profiles::display_name,
            profiles::bio,
            profiles::tags,
            profiles::languages,
            profiles::avatar_mime,
            rooms::id,
            users::created_at,
        ))
        .first(conn)
        .optional()?;
    let (username, display_name, bio, tags, languages, avatar_mime, room_id, created_at) =
        row.ok_or(ProfileError::NotFound)?;
    let links: String = profiles::table
        .inner_join(users::table)
        .filter(users::username.eq(&username))
        .select(profiles::links)
        .first(conn)?;
    Ok(Profile {
        links: parse_stored_links(&links),
        avatar_url: avatar_mime.map(|_| format!("/api/profiles/{username}/avatar")),
        username,
        display_name,
        bio,
        tags: split_list(&tags),
        languages: split_list(&languages),
        room_id,
        created_at: created_at.and_utc(),
    })
}

/// The owner id of profile `username`, or why `actor` may not change it.
fn owned_by(conn: &mut DbConnection, username: &str, actor: &User) -> Result<i64, ProfileError> {
    let owner: Option<i64> = profiles::table
        .inner_join(users::table)
        .filter(users::username.eq(username))
        .select(profiles::user_id)
        .first(conn)
        .optional()?;
    match owner {
        None => Err(ProfileError::NotFound),
        Some(id) if id == actor.id => Ok(id),
        Some(_) => Err(ProfileError::Forbidden),
    }
}

/// A display name must not look like another model's display name or username (no
/// impersonation by look-alike letters, case or invisible characters).
fn check_name_not_shown(
    conn: &mut DbConnection,
    owner: i64,
    name: &str,
) -> Result<(), ProfileError> {
    let key = crate::text::look_alike_key(name);
    let others: Vec<(String, String)> = profiles::table
        .inner_join(users::table)
        .filter(profiles::user_id.ne(owner))
        .filter(users::deleted_at.is_null())
        .select((profiles::display_name, users::username))
        .load(conn)?;
    let taken = others.iter().any(|(shown, username)| {
        crate::text::look_alike_key(shown) == key || crate::text::look_alike_key(username) == key
    });
    if taken {
        Err(ProfileError::NameTaken)
    } else {
        Ok(())
    }
}

/// Validate the whole update first, then apply it: invalid input changes nothing.
pub fn update(
    conn: &mut DbConnection,
    username: &str,
    actor: &User,
    upd: &ProfileUpdate,
) -> Result<Profile, ProfileError> {
    let owner = owned_by(conn, username, actor)?;
    let display_name = upd
        .display_name
        .as_deref()
        .map(|s| check_text("display_name", s, 1, 60))
        .transpose()?;
    let bio = upd
        .bio
        .as_deref()
        .map(|s| check_text("bio", s, 0, 2000))
        .transpose()?;
    let tags = upd
        .tags
        .as_deref()
        .map(|t| parse_tags("tags", t))
        .transpose()?;
    let languages = upd.languages.as_deref().map(parse_languages).transpose()?;
    let links = upd.links.as_deref().map(check_links).transpose()?;
    if let Some(name) = &display_name {
        check_name_not_shown(conn, owner, name)?;
    }

    let target = profiles::table.find(owner);
    if let Some(v) = links {
        diesel::update(target)
            .set(profiles::links.eq(v))
            .execute(conn)?;
    }
    if let Some(v) = display_name {
        diesel::update(target)
            .set(profiles::display_name.eq(v))
            .execute(conn)?;
    }
    if let Some(v) = bio {
        diesel::update(target)
            .set(profiles::bio.eq(v))
            .execute(conn)?;
    }
    if let Some(v) = tags {
        diesel::update(target)
            .set(profiles::tags.eq(join_list(&v)))
            .execute(conn)?;
    }
    if let Some(v) = languages {
        diesel::update(target)
            .set(profiles::languages.eq(join_list(&v)))
            .execute(conn)?;
    }
    diesel::update(target)
        .set(profiles::updated_at.eq(now()))
        .execute(conn)?;
    crate::events::record(crate::events::Event::ProfileChanged { user_id: owner });
    get(conn, username)
}

/// The image types an avatar may have, recognised by their first bytes.
pub fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Store a new avatar for `username`'s profile, replacing the old one. `avatar` comes from
/// [`images::clean`] (decoded and re-encoded before the transaction: it is slow).
pub fn set_avatar(
    conn: &mut DbConnection,
    username: &str,
    actor: &User,
    avatar: &images::Avatar,
) -> Result<Profile, ProfileError> {
    let owner = owned_by(conn, username, actor)?;
    let (mime, bytes) = (avatar.mime, &avatar.bytes);
    let t = now();
    diesel::delete(avatars::table.find(owner)).execute(conn)?;
    diesel::insert_into(avatars::table)
        .values((
            avatars::user_id.eq(owner),
            avatars::mime.eq(mime),
            avatars::bytes.eq(bytes),
            avatars::updated_at.eq(t),
        ))
        .execute(conn)?;
    diesel::update(profiles::table.find(owner))
        .set((profiles::avatar_mime.eq(mime), profiles::updated_at.eq(t)))
        .execute(conn)?;
    get(conn, username)
}

/// The avatar of `username`: its type and bytes.
pub fn avatar(conn: &mut DbConnection, username: &str) -> Result<(String, Vec<u8>), ProfileError> {
    let found: Option<(String, Vec<u8>)> = avatars::table
        .inner_join(users::table)
        .filter(users::username.eq(username))
        .select((avatars::mime, avatars::bytes))
        .first(conn)
        .optional()?;
    match found {
        Some(a) => Ok(a),
        None => {
            get(conn, username)?;
            Err(ProfileError::NoAvatar)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn tags_are_validated_and_deduplicated() {
        assert_eq!(
            parse_tags("tags", &v(&["a", "b-2", "a"])).unwrap(),
            v(&["a", "b-2"])
        );
        assert!(parse_tags("tags", &v(&["has space"])).is_err());
        assert!(parse_tags("tags", &v(&["UPPER"])).is_err());
        assert!(parse_tags("tags", &v(&[""])).is_err());
        assert!(parse_tags("tags", &vec!["x".to_string(); 11]).is_err());
    }

    #[test]
    fn languages() {
        assert_eq!(
            parse_languages(&v(&["en", "pt", "en"])).unwrap(),
            v(&["en", "pt"])
        );
        assert!(parse_languages(&v(&["english"])).is_err());
        assert!(parse_languages(&v(&["EN"])).is_err());
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff_image(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff_image(b"MZ\x90\0 an exe"), None);
        assert_eq!(sniff_image(b"<svg onload=alert(1)>"), None);
        assert_eq!(sniff_image(b""), None);
    }
}
