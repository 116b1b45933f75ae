//! Use-cases that span domain modules, in one place that calls them in one direction (the
//! modules below never call back up here): deleting an account.

use diesel::prelude::*;

use crate::accounts::{self, AccountError, User};
use crate::db::now;
use crate::db::schema::{
    avatars, chat_messages, followers, follows, id_documents, model_follows, payouts, profiles,
    rooms, sessions, users, wallets,
};
use crate::db::DbConnection;
use crate::iddocs::Aftermath;

/// Delete an account (her confirmation checked by the caller, before), in one transaction:
/// her ID documents retire under the retention policy (ending any show), her followers on
/// other instances get a `Delete` of her actor, and her profile, avatar, room, sessions and
/// follows are removed. The row stays, marked deleted, so that her username — and with it her
/// actor URL — is never reused by someone else. What follows the commit (retired files
/// removed, the directory refreshed) follows from the events recorded here.
pub fn delete_account(
    conn: &mut DbConnection,
    user: &User,
    retention: crate::config::Retention,
    federation: (&str, &str),
) -> Result<Aftermath, AccountError> {
    // Confirmed (password or signature) before this transaction; the account must still be
    // active now — a suspension committed since wins.
    accounts::lock_active(conn, user.id)?;
    // Nothing is lost: her LIVE leaves with her (a payout of any amount), never with the account.
    let left =
        crate::ledger::balance(conn, user.id).map_err(|e| AccountError::Internal(e.to_string()))?;
    if left > 0 {
        return Err(AccountError::MoneyLeft(
            "withdraw your balance first (any amount, to your bound wallet), then delete the account",
        ));
    }
    let in_flight: i64 = payouts::table
        .filter(payouts::user_id.eq(user.id))
        .filter(payouts::status.eq_any(crate::states::PayoutState::IN_FLIGHT.map(|s| s.as_str())))
        .count()
        .get_result(conn)?;
    if in_flight > 0 {
        return Err(AccountError::MoneyLeft(
            "a payout of yours is on its way: delete the account once it is confirmed",
        ));
    }
    // Her address is free again: later deposits from it wait unattributed for whoever binds it.
    diesel::delete(wallets::table.find(user.id)).execute(conn)?;
    let (base, mode) = federation;
    crate::federation::account_deleted(conn, base, mode, user.id, &user.username)?;
    let mut after = Aftermath::default();
    let docs: Vec<i64> = id_documents::table
        .filter(id_documents::user_id.eq(user.id))
        .filter(id_documents::deleted_at.is_null())
        .select(id_documents::id)
        .load(conn)?;
    for id in docs {
        let a = crate::iddocs::delete_own(conn, user, id, retention)
            .map_err(|e| AccountError::Internal(e.to_string()))?;
        after.show_ended |= a.show_ended;
    }
    after.show_ended |= crate::shows::end_show_of(conn, user.id)?;
    diesel::delete(rooms::table.filter(rooms::user_id.eq(user.id))).execute(conn)?;
    diesel::delete(avatars::table.filter(avatars::user_id.eq(user.id))).execute(conn)?;
    diesel::delete(profiles::table.filter(profiles::user_id.eq(user.id))).execute(conn)?;
    diesel::delete(follows::table.filter(follows::user_id.eq(user.id))).execute(conn)?;
    diesel::delete(followers::table.filter(followers::user_id.eq(user.id))).execute(conn)?;
    diesel::delete(
        model_follows::table.filter(
            model_follows::user_id
                .eq(user.id)
                .or(model_follows::model_id.eq(user.id)),
        ),
    )
    .execute(conn)?;
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user.id))).execute(conn)?;
    // Her chat lines go with her.
    diesel::delete(chat_messages::table.filter(chat_messages::user_id.eq(user.id)))
        .execute(conn)?;
    let t = now();
    diesel::update(users::table.find(user.id))
        .set((
            users::deleted_at.eq(Some(t)),
            users::suspended_at.eq(Some(t)),
            users::password_hash.eq("!deleted"),
        ))
        .execute(conn)?;
    after.show_ended = true;
    crate::events::record(crate::events::Event::AccountDeleted { user_id: user.id });
    Ok(after)
}
