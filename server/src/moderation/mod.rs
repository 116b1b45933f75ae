//! Moderation: the instance at a glance, account search, suspension and roles, force-ending
//! shows, and viewers' reports about rooms. Every admin action leaves an audit event.
//!
//! A suspended account cannot sign in or use a session: its sessions are deleted and its show
//! ends in the same transaction as the suspension.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use livestars_api::{
    AccountCounts, AdminUser, InstanceStats, NewReport, Report, ReportAction, ReportStatus, Role,
    RoomStatus,
};

use crate::accounts::{self, User};
use crate::db::schema::{id_documents, profiles, reports, rooms, sessions, users};
use crate::db::{now, DbConnection, DbError};
use crate::iddocs::audit;
use crate::rooms::parse_status;

#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
    #[error("no such account")]
    NoSuchUser,
    #[error("no such room")]
    NoSuchRoom,
    #[error("no such report")]
    NoSuchReport,
    #[error("{0}")]
    Conflict(&'static str),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// A fault of another module surfacing here; reported as an internal error.
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for ModerationError {
    fn from(e: diesel::result::Error) -> Self {
        ModerationError::Db(DbError::Query(e))
    }
}

impl From<crate::iddocs::IdDocError> for ModerationError {
    fn from(e: crate::iddocs::IdDocError) -> Self {
        match e {
            crate::iddocs::IdDocError::Db(e) => ModerationError::Db(e),
            other => ModerationError::Internal(other.to_string()),
        }
    }
}

impl From<accounts::AccountError> for ModerationError {
    fn from(e: accounts::AccountError) -> Self {
        match e {
            accounts::AccountError::Db(e) => ModerationError::Db(e),
            accounts::AccountError::RoleConflict(m) => ModerationError::Conflict(m),
            other => ModerationError::Internal(other.to_string()),
        }
    }
}

fn count(conn: &mut DbConnection, role: &str) -> Result<i64, ModerationError> {
    Ok(users::table
        .filter(users::role.eq(role))
        .count()
        .get_result(conn)?)
}

pub fn stats(
    conn: &mut DbConnection,
    name: &str,
    database: &str,
) -> Result<InstanceStats, ModerationError> {
    let rooms_with = |conn: &mut DbConnection, s: &str| -> Result<i64, ModerationError> {
        Ok(rooms::table
            .filter(rooms::status.eq(s))
            .count()
            .get_result(conn)?)
    };
    Ok(InstanceStats {
        name: name.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        database: database.into(),
        accounts: AccountCounts {
            viewers: count(conn, "viewer")?,
            models: count(conn, "model")?,
            admins: count(conn, "admin")?,
            suspended: users::table
                .filter(users::suspended_at.is_not_null())
                .count()
                .get_result(conn)?,
        },
        live_rooms: rooms_with(conn, "live")?,
        private_rooms: rooms_with(conn, "private")?,
        pending_verifications: id_documents::table
            .filter(id_documents::status.eq(crate::states::DocumentState::Pending.as_str()))
            .count()
            .get_result(conn)?,
        open_reports: reports::table
            .filter(reports::status.eq("open"))
            .count()
            .get_result(conn)?,
    })
}

type UserRow = (
    i64,
    String,
    String,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<i64>,
    Option<String>,
);

fn to_admin_user(r: UserRow) -> AdminUser {
    let (id, username, role, created_at, suspended_at, room_id, room_status) = r;
    AdminUser {
        id,
        role: User {
            id,
            username: username.clone(),
            role,
            created_at,
        }
        .role(),
        username,
        created_at: created_at.and_utc(),
        suspended: suspended_at.is_some(),
        room_id,
        room_status: room_status.as_deref().map(parse_status),
    }
}

macro_rules! user_query {
    () => {
        users::table
            .left_join(rooms::table.on(rooms::user_id.eq(users::id)))
            .select((
                users::id,
                users::username,
                users::role,
                users::created_at,
                users::suspended_at,
                rooms::id.nullable(),
                rooms::status.nullable(),
            ))
    };
}

/// Accounts whose username contains `q` (lower-cased), newest first.
pub fn search_users(
    conn: &mut DbConnection,
    q: &str,
    limit: i64,
) -> Result<Vec<AdminUser>, ModerationError> {
    // Usernames are [a-z0-9_]; anything else in the query cannot match, and LIKE wildcards in
    // it must not act as wildcards.
    let q: String = q
        .trim()
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        .collect();
    let rows: Vec<UserRow> = user_query!()
        .filter(users::username.like(format!("%{q}%")))
        .order(users::id.desc())
        .limit(limit)
        .load(conn)?;
    Ok(rows.into_iter().map(to_admin_user).collect())
}

pub fn get_user(conn: &mut DbConnection, id: i64) -> Result<AdminUser, ModerationError> {
    user_query!()
        .filter(users::id.eq(id))
        .first::<UserRow>(conn)
        .optional()?
        .map(to_admin_user)
        .ok_or(ModerationError::NoSuchUser)
}

fn end_show_of(conn: &mut DbConnection, user_id: i64) -> Result<bool, ModerationError> {
    Ok(crate::rooms::end_show_of(conn, user_id)?)
}

pub fn suspend(
    conn: &mut DbConnection,
    admin: &User,
    id: i64,
) -> Result<AdminUser, ModerationError> {
    let target = get_user(conn, id)?;
    if target.id == admin.id {
        return Err(ModerationError::Conflict(
            "admins cannot suspend themselves",
        ));
    }
    if target.suspended {
        return Err(ModerationError::Conflict("already suspended"));
    }
    diesel::update(users::table.find(id))
        .set(users::suspended_at.eq(Some(now())))
        .execute(conn)?;
    diesel::delete(sessions::table.filter(sessions::user_id.eq(id))).execute(conn)?;
    end_show_of(conn, id)?;
    audit(conn, Some(admin.id), Some(id), None, "user_suspended")?;
    crate::events::record(crate::events::Event::AccountChanged { user_id: id });
    get_user(conn, id)
}

pub fn unsuspend(
    conn: &mut DbConnection,
    admin: &User,
    id: i64,
) -> Result<AdminUser, ModerationError> {
    let target = get_user(conn, id)?;
    if !target.suspended {
        return Err(ModerationError::Conflict("not suspended"));
    }
    diesel::update(users::table.find(id))
        .set(users::suspended_at.eq(None::<NaiveDateTime>))
        .execute(conn)?;
    audit(conn, Some(admin.id), Some(id), None, "user_unsuspended")?;
    crate::events::record(crate::events::Event::AccountChanged { user_id: id });
    get_user(conn, id)
}

/// Change an account's role. Becoming a model creates her profile and room if she has none;
/// leaving the model role ends her show (the room stays, offline).
pub fn set_role(
    conn: &mut DbConnection,
    admin: &User,
    id: i64,
    role: Role,
) -> Result<AdminUser, ModerationError> {
    let target = get_user(conn, id)?;
    if target.id == admin.id {
        return Err(ModerationError::Conflict(
            "admins cannot change their own role",
        ));
    }
    if target.role == role {
        return Ok(target);
    }
    diesel::update(users::table.find(id))
        .set(users::role.eq(role.as_str()))
        .execute(conn)?;
    if role == Role::Model && target.room_id.is_none() {
        let t = now();
        diesel::insert_into(profiles::table)
            .values((
                profiles::user_id.eq(id),
                profiles::display_name.eq(&target.username),
                profiles::updated_at.eq(t),
            ))
            .execute(conn)?;
        diesel::insert_into(rooms::table)
            .values((
                rooms::user_id.eq(id),
                rooms::title.eq(""),
                rooms::updated_at.eq(t),
            ))
            .execute(conn)?;
    }
    if role != Role::Model {
        end_show_of(conn, id)?;
    }
    if target.role == Role::Admin {
        // Admin API tokens end with the role (they would not authenticate any more anyway).
        diesel::delete(
            sessions::table
                .filter(sessions::user_id.eq(id))
                .filter(sessions::kind.eq("admin_api")),
        )
        .execute(conn)?;
    }
    audit(
        conn,
        Some(admin.id),
        Some(id),
        None,
        &format!("role_set_{}", role.as_str()),
    )?;
    crate::events::record(crate::events::Event::AccountChanged { user_id: id });
    get_user(conn, id)
}

/// End a room's show now.
pub fn force_end(
    conn: &mut DbConnection,
    admin: &User,
    room_id: i64,
) -> Result<(), ModerationError> {
    let owner: i64 = rooms::table
        .find(room_id)
        .select(rooms::user_id)
        .first(conn)
        .optional()?
        .ok_or(ModerationError::NoSuchRoom)?;
    if !end_show_of(conn, owner)? {
        return Err(ModerationError::Conflict("the room is not showing"));
    }
    audit(
        conn,
        Some(admin.id),
        Some(owner),
        None,
        "show_ended_by_admin",
    )?;
    Ok(())
}

pub fn file_report(
    conn: &mut DbConnection,
    reporter: &User,
    r: &NewReport,
) -> Result<Report, ModerationError> {
    let reason = r.reason.trim();
    let len = reason.chars().count();
    if !(1..=1000).contains(&len) || reason.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ModerationError::Invalid {
            field: "reason",
            message: "1 to 1000 characters".into(),
        });
    }
    let exists: i64 = rooms::table
        .filter(rooms::id.eq(r.room_id))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        return Err(ModerationError::NoSuchRoom);
    }
    let id: i64 = diesel::insert_into(reports::table)
        .values((
            reports::reporter_id.eq(Some(reporter.id)),
            reports::room_id.eq(r.room_id),
            reports::reason.eq(reason),
            reports::created_at.eq(now()),
            reports::status.eq("open"),
        ))
        .returning(reports::id)
        .get_result(conn)?;
    get_report(conn, id)
}

type ReportRow = (
    i64,
    i64,
    String,
    String,
    NaiveDateTime,
    String,
    Option<String>,
);

macro_rules! report_query {
    () => {
        reports::table
            .inner_join(rooms::table.inner_join(users::table))
            .select((
                reports::id,
                reports::room_id,
                users::username,
                reports::reason,
                reports::created_at,
                reports::status,
                reports::resolution,
            ))
    };
}

fn to_report(r: ReportRow) -> Report {
    Report {
        id: r.0,
        room_id: r.1,
        model: r.2,
        reason: r.3,
        created_at: r.4.and_utc(),
        status: if r.5 == "open" {
            ReportStatus::Open
        } else {
            ReportStatus::Resolved
        },
        resolution: r.6,
    }
}

fn get_report(conn: &mut DbConnection, id: i64) -> Result<Report, ModerationError> {
    report_query!()
        .filter(reports::id.eq(id))
        .first::<ReportRow>(conn)
        .optional()?
        .map(to_report)
        .ok_or(ModerationError::NoSuchReport)
}

pub fn list_reports(
    conn: &mut DbConnection,
    status: ReportStatus,
) -> Result<Vec<Report>, ModerationError> {
    let s = match status {
        ReportStatus::Open => "open",
        ReportStatus::Resolved => "resolved",
    };
    let rows: Vec<ReportRow> = report_query!()
        .filter(reports::status.eq(s))
        .order(reports::id)
        .limit(500)
        .load(conn)?;
    Ok(rows.into_iter().map(to_report).collect())
}

/// Resolve an open report. Returns it, and whether a show ended.
pub fn resolve_report(
    conn: &mut DbConnection,
    admin: &User,
    id: i64,
    action: ReportAction,
) -> Result<(Report, bool), ModerationError> {
    let report = get_report(conn, id)?;
    if report.status != ReportStatus::Open {
        return Err(ModerationError::Conflict("the report is already resolved"));
    }
    let owner: i64 = rooms::table
        .find(report.room_id)
        .select(rooms::user_id)
        .first(conn)?;
    let (resolution, ended) = match action {
        ReportAction::Dismiss => ("dismissed", false),
        ReportAction::EndShow => ("show_ended", end_show_of(conn, owner)?),
        ReportAction::SuspendModel => {
            let was_showing = get_user(conn, owner)?.room_status != Some(RoomStatus::Offline);
            if !get_user(conn, owner)?.suspended {
                suspend(conn, admin, owner)?;
            }
            ("model_suspended", was_showing)
        }
    };
    diesel::update(reports::table.find(id))
        .set((
            reports::status.eq("resolved"),
            reports::resolution.eq(Some(resolution)),
            reports::resolved_by.eq(Some(admin.id)),
            reports::resolved_at.eq(Some(now())),
        ))
        .execute(conn)?;
    audit(
        conn,
        Some(admin.id),
        Some(owner),
        None,
        &format!("report_{resolution}"),
    )?;
    Ok((get_report(conn, id)?, ended))
}
