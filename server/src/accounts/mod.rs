//! Accounts without personal data: a username and an argon2id password hash, a role, and
//! sessions. A session token is 256 random bits shown to the client once; only its SHA-256 is
//! stored, so a copy of the database cannot be used to sign in.
//!
//! Roles: everyone signs up as a `viewer`; a viewer may become a `model` (which creates her
//! profile and room); `admin` accounts are created from the command line only.

pub mod hashing;
mod names;

pub use hashing::{Busy, Hasher};
pub use names::{Password, Username};

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use livestars_api::Role;
use sha2::{Digest, Sha256};

use crate::db::schema::{profiles, rooms, sessions, users};
use crate::db::{is_unique_violation, now, DbConnection, DbError};

/// What can go wrong with accounts and sessions.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    InvalidUsername(String),
    #[error("{0}")]
    InvalidPassword(String),
    #[error("username is already taken")]
    UsernameTaken,
    #[error("wrong username or password")]
    BadCredentials,
    #[error("sign in first")]
    Unauthenticated,
    #[error("no such token")]
    NotFound,
    #[error("this account is suspended")]
    Suspended,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    RoleConflict(&'static str),
    #[error("{0}")]
    MoneyLeft(&'static str),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error(transparent)]
    Busy(#[from] Busy),
    /// A fault of another module surfacing here.
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for AccountError {
    fn from(e: diesel::result::Error) -> Self {
        AccountError::Db(DbError::Query(e))
    }
}

/// An account row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: String,
    pub created_at: NaiveDateTime,
}

impl User {
    pub fn role(&self) -> Role {
        match self.role.as_str() {
            "admin" => Role::Admin,
            "model" => Role::Model,
            _ => Role::Viewer,
        }
    }

    pub fn to_api(&self) -> livestars_api::Account {
        livestars_api::Account {
            id: self.id,
            username: self.username.clone(),
            role: self.role(),
            created_at: self.created_at.and_utc(),
        }
    }
}

/// The kind of a bearer token: a sign-in session, or a long-lived admin API token from the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Session,
    AdminApi,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::AdminApi => "admin_api",
        }
    }
}

/// Hash a password with argon2id (19 MiB, 2 passes) on the calling thread, for the command
/// line and tests; the server hashes through its bounded [`Hasher`] instead.
pub fn hash_password(password: &Password) -> Result<String, AccountError> {
    hashing::Workspace::default()
        .hash(password.expose().as_bytes())
        .map_err(|e| AccountError::Hashing(e.to_string()))
}

fn new_secret() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    // The OS RNG failing is not recoverable for a server that issues credentials.
    getrandom::fill(&mut bytes).expect("operating system random number generator failed");
    bytes
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Create a viewer account. `password_hash` comes from [`hash_password`] (done before, outside
/// the transaction, because it is slow).
pub fn create_user(
    conn: &mut DbConnection,
    username: &Username,
    password_hash: &str,
    role: Role,
) -> Result<User, AccountError> {
    let taken: i64 = users::table
        .filter(users::username.eq(username.as_str()))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Err(AccountError::UsernameTaken);
    }
    let created_at = now();
    let id: i64 = diesel::insert_into(users::table)
        .values((
            users::username.eq(username.as_str()),
            users::password_hash.eq(password_hash),
            users::role.eq(role.as_str()),
            users::created_at.eq(created_at),
        ))
        .returning(users::id)
        .get_result(conn)
        .map_err(|e| {
            // A concurrent sign-up with the same name lost the race at the unique index.
            if is_unique_violation(&e) {
                AccountError::UsernameTaken
            } else {
                e.into()
            }
        })?;
    Ok(User {
        id,
        username: username.as_str().to_string(),
        role: role.as_str().to_string(),
        created_at,
    })
}

/// What a password check needs of an account, read before the (slow) check runs outside any
/// transaction: the account, its password hash, and whether it is suspended.
pub struct Credentials {
    pub user: User,
    pub hash: String,
    pub suspended: bool,
}

/// The credentials of `username` (`None`: no such account; deleted accounts are found, and
/// their marker hash matches no password).
pub fn credentials(
    conn: &mut DbConnection,
    username: &str,
) -> Result<Option<Credentials>, AccountError> {
    let found: Option<(User, String, Option<NaiveDateTime>)> = users::table
        .filter(users::username.eq(username))
        .select((User::as_select(), users::password_hash, users::suspended_at))
        .first(conn)
        .optional()?;
    Ok(found.map(|(user, hash, suspended)| Credentials {
        user,
        hash,
        suspended: suspended.is_some(),
    }))
}

/// Check a password against an account's credentials with the server's bounded hasher: the
/// account if it matches and is not suspended. Unknown accounts cost the same time.
pub async fn check_password(
    hasher: &Hasher,
    found: Option<Credentials>,
    password: String,
) -> Result<User, AccountError> {
    match found {
        Some(c) => {
            if !hasher.verify(password, Some(c.hash)).await? {
                return Err(AccountError::BadCredentials);
            }
            // Only someone who knows the password learns that the account is suspended.
            if c.suspended {
                return Err(AccountError::Suspended);
            }
            Ok(c.user)
        }
        None => {
            hasher.verify(password, None).await?;
            Err(AccountError::BadCredentials)
        }
    }
}

/// Issue a token for `user`; returns the token (shown once) and its expiry.
pub fn issue_token(
    conn: &mut DbConnection,
    user_id: i64,
    kind: TokenKind,
    lifetime: Option<Duration>,
) -> Result<(String, Option<NaiveDateTime>), AccountError> {
    let token = hex::encode(new_secret());
    let created_at = now();
    // The token is issued only to an account that is active now, in this transaction: the
    // conditional update takes the account's row lock, so a suspension or deletion either
    // committed before (and nothing is issued) or waits for this commit (and then deletes the
    // new session with the others).
    lock_active(conn, user_id)?;
    if kind == TokenKind::AdminApi {
        let role: String = users::table.find(user_id).select(users::role).first(conn)?;
        if role != Role::Admin.as_str() {
            return Err(AccountError::Forbidden(
                "admin API tokens are for admins only",
            ));
        }
    }
    // Expired sessions of this account are of no use to anyone: drop them as new ones arrive.
    diesel::delete(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::expires_at.lt(created_at)),
    )
    .execute(conn)?;
    let expires_at = lifetime.map(|d| created_at + d);
    diesel::insert_into(sessions::table)
        .values((
            sessions::token_hash.eq(token_hash(&token)),
            sessions::user_id.eq(user_id),
            sessions::kind.eq(kind.as_str()),
            sessions::created_at.eq(created_at),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok((token, expires_at))
}

/// Lock `user_id`'s row for the rest of the transaction if the account is active (neither
/// suspended nor deleted); `Suspended` otherwise. Every write that acts for an account on the
/// strength of an earlier check (a password read, a session looked up before the transaction)
/// calls this first, so that it cannot slip past a suspension committed in between: on
/// PostgreSQL the update waits for a concurrent suspension and then re-reads the row; on SQLite
/// writers are serialised.
pub fn lock_active(conn: &mut DbConnection, user_id: i64) -> Result<(), AccountError> {
    let n = diesel::update(
        users::table
            .find(user_id)
            .filter(users::suspended_at.is_null())
            .filter(users::deleted_at.is_null()),
    )
    .set(users::role.eq(users::role))
    .execute(conn)?;
    if n == 1 {
        Ok(())
    } else {
        Err(AccountError::Suspended)
    }
}

/// The account behind a bearer token, if the token exists, has not expired, and its account is
/// active now (not suspended or deleted); an admin API token only while the account is an admin.
pub fn authenticate(conn: &mut DbConnection, token: &str) -> Result<User, AccountError> {
    let t = now();
    sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(token_hash(token)))
        .filter(
            sessions::expires_at
                .is_null()
                .or(sessions::expires_at.gt(t)),
        )
        .filter(users::suspended_at.is_null())
        .filter(users::deleted_at.is_null())
        .filter(
            sessions::kind
                .ne(TokenKind::AdminApi.as_str())
                .or(users::role.eq(Role::Admin.as_str())),
        )
        .select(User::as_select())
        .first(conn)
        .optional()?
        .ok_or(AccountError::Unauthenticated)
}

/// End the session of `token`. Returns whether it existed.
pub fn revoke_token(conn: &mut DbConnection, token: &str) -> Result<bool, AccountError> {
    let n = diesel::delete(sessions::table.filter(sessions::token_hash.eq(token_hash(token))))
        .execute(conn)?;
    Ok(n > 0)
}

/// A viewer becomes a model: her role changes and her profile and (offline) room are created.
pub fn become_model(conn: &mut DbConnection, user: &User) -> Result<User, AccountError> {
    let current: String = users::table.find(user.id).select(users::role).first(conn)?;
    match current.as_str() {
        "viewer" => {}
        "model" => {
            return Err(AccountError::RoleConflict(
                "this account is already a model",
            ))
        }
        _ => {
            return Err(AccountError::RoleConflict(
                "admin accounts cannot become models; sign up a separate account",
            ))
        }
    }
    let t = now();
    diesel::update(users::table.find(user.id))
        .set(users::role.eq(Role::Model.as_str()))
        .execute(conn)?;
    crate::events::record(crate::events::Event::AccountChanged { user_id: user.id });
    // A former model (demoted by an admin) gets her old profile and room back.
    let has_profile: i64 = profiles::table
        .filter(profiles::user_id.eq(user.id))
        .count()
        .get_result(conn)?;
    if has_profile == 0 {
        diesel::insert_into(profiles::table)
            .values((
                profiles::user_id.eq(user.id),
                profiles::display_name.eq(&user.username),
                profiles::updated_at.eq(t),
            ))
            .execute(conn)?;
    }
    let has_room: i64 = rooms::table
        .filter(rooms::user_id.eq(user.id))
        .count()
        .get_result(conn)?;
    if has_room == 0 {
        diesel::insert_into(rooms::table)
            .values((
                rooms::user_id.eq(user.id),
                rooms::title.eq(""),
                rooms::updated_at.eq(t),
            ))
            .execute(conn)?;
    }
    Ok(User {
        role: Role::Model.as_str().to_string(),
        ..user.clone()
    })
}

/// Record who referred `user_id` (sign-up through her referral link). An unknown, deleted or
/// suspended referrer is refused, so a typo does not silently pay nobody.
pub fn set_referrer(
    conn: &mut DbConnection,
    user_id: i64,
    referrer: &str,
) -> Result<(), AccountError> {
    let id: Option<i64> = users::table
        .filter(users::username.eq(referrer))
        .filter(users::suspended_at.is_null())
        .select(users::id)
        .first(conn)
        .optional()?;
    let id = id.ok_or(AccountError::InvalidUsername(format!(
        "referrer {referrer:?} is not an account here"
    )))?;
    diesel::update(users::table.find(user_id))
        .set(users::referred_by.eq(Some(id)))
        .execute(conn)?;
    Ok(())
}

/// Every admin API token (by the SHA-256 that names it), newest first.
pub fn admin_tokens(
    conn: &mut DbConnection,
) -> Result<Vec<livestars_api::AdminToken>, AccountError> {
    let rows: Vec<(String, i64, String, NaiveDateTime)> = sessions::table
        .inner_join(users::table)
        .filter(sessions::kind.eq(TokenKind::AdminApi.as_str()))
        .order((sessions::created_at.desc(), sessions::token_hash.asc()))
        .select((
            sessions::token_hash,
            users::id,
            users::username,
            sessions::created_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, user_id, username, created_at)| livestars_api::AdminToken {
                id,
                user_id,
                username,
                created_at: created_at.and_utc(),
            },
        )
        .collect())
}

/// Revoke the admin API token named `id` (its SHA-256). Returns whose token it was, or `None`
/// when there is no such admin API token.
pub fn revoke_admin_token(conn: &mut DbConnection, id: &str) -> Result<Option<i64>, AccountError> {
    let id = id.trim().to_ascii_lowercase();
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let owner: Option<i64> = sessions::table
        .find(&id)
        .filter(sessions::kind.eq(TokenKind::AdminApi.as_str()))
        .select(sessions::user_id)
        .first(conn)
        .optional()?;
    if owner.is_some() {
        diesel::delete(sessions::table.find(&id)).execute(conn)?;
    }
    Ok(owner)
}
