//! Wallets bound by signature: the server issues an EIP-4361 message with a one-time nonce, the
//! user signs it with EIP-191 `personal_sign`, the server recovers the signer. The same flow
//! binds an address to an account or signs in (creating a wallet-only account on first use).
//! No personal data: an address and a signature.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::{chain, Addr, SettlementError};
use crate::accounts::User;
use crate::db::schema::{chain_deposits, users, wallet_challenges, wallets};
use crate::db::{is_unique_violation, now, DbConnection};
use crate::ledger;

/// What a challenge is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Bind,
    SignIn,
    /// Confirms deleting the account the address is bound to (wallet-only accounts have no
    /// password to confirm with).
    Delete,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Bind => "bind",
            Purpose::SignIn => "sign_in",
            Purpose::Delete => "delete_account",
        }
    }

    pub fn parse(s: &str) -> Result<Purpose, SettlementError> {
        match s {
            "bind" => Ok(Purpose::Bind),
            "sign_in" => Ok(Purpose::SignIn),
            "delete_account" => Ok(Purpose::Delete),
            _ => Err(SettlementError::Invalid(format!(
                "purpose {s:?}: bind, sign_in or delete_account"
            ))),
        }
    }
}

/// Where the message says it comes from.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The instance's host (`live.example`), the EIP-4361 domain.
    pub domain: String,
    /// The instance's public URL.
    pub uri: String,
    pub chain_id: u64,
}

pub struct Challenge {
    pub nonce: String,
    pub message: String,
    pub expires_at: NaiveDateTime,
}

/// How long a message can be signed.
pub const CHALLENGE_MINUTES: i64 = 10;

/// The EIP-4361 (Sign-In with Ethereum) message for `address`.
pub fn message(
    origin: &Origin,
    address: Addr,
    purpose: Purpose,
    nonce: &str,
    issued: NaiveDateTime,
    expires: NaiveDateTime,
) -> String {
    let statement = match purpose {
        Purpose::Bind => "Bind this wallet to my Live Stars account. It receives my payouts.",
        Purpose::SignIn => "Sign in to Live Stars with this wallet.",
        Purpose::Delete => {
            "Delete my Live Stars account, the one this wallet is bound to. This cannot be undone."
        }
    };
    let ts = |t: NaiveDateTime| t.and_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    format!(
        "{domain} wants you to sign in with your Ethereum account:\n{addr}\n\n{statement}\n\n\
         URI: {uri}\nVersion: 1\nChain ID: {chain}\nNonce: {nonce}\nIssued At: {issued}\n\
         Expiration Time: {expires}",
        domain = origin.domain,
        addr = address.checksummed(),
        uri = origin.uri,
        chain = origin.chain_id,
        issued = ts(issued),
        expires = ts(expires),
    )
}

/// Issue a one-time message for `address` to sign.
pub fn issue(
    conn: &mut DbConnection,
    origin: &Origin,
    address: Addr,
    purpose: Purpose,
) -> Result<Challenge, SettlementError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| SettlementError::Invalid(e.to_string()))?;
    let nonce = hex::encode(bytes);
    let t = now();
    let expires_at = t + Duration::minutes(CHALLENGE_MINUTES);
    // Old challenges are of no use: drop them as new ones come.
    diesel::delete(wallet_challenges::table.filter(wallet_challenges::expires_at.lt(t)))
        .execute(conn)?;
    let text = message(origin, address, purpose, &nonce, t, expires_at);
    diesel::insert_into(wallet_challenges::table)
        .values((
            wallet_challenges::nonce.eq(&nonce),
            wallet_challenges::address.eq(address.to_string()),
            wallet_challenges::purpose.eq(purpose.as_str()),
            wallet_challenges::message.eq(&text),
            wallet_challenges::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(Challenge {
        nonce,
        message: text,
        expires_at,
    })
}

/// Check a signed challenge without changing anything: it exists, is for `purpose`, unused and
/// unexpired, and `signature` recovers to its address. Read-only, so the signature recovery (the
/// slow part) runs outside any write transaction; [`consume`] then takes the nonce.
pub fn verify(
    conn: &mut DbConnection,
    nonce: &str,
    signature: &str,
    purpose: Purpose,
) -> Result<Addr, SettlementError> {
    // Ours are 32 hex digits; anything else (NUL bytes included) never reaches the database.
    if nonce.is_empty() || nonce.len() > 64 || !nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(SettlementError::UnknownChallenge);
    }
    let row: Option<(String, String, String, NaiveDateTime, Option<NaiveDateTime>)> =
        wallet_challenges::table
            .find(nonce)
            .select((
                wallet_challenges::address,
                wallet_challenges::purpose,
                wallet_challenges::message,
                wallet_challenges::expires_at,
                wallet_challenges::used_at,
            ))
            .first(conn)
            .optional()?;
    let (address, kind, text, expires_at, used_at) =
        row.ok_or(SettlementError::UnknownChallenge)?;
    if kind != purpose.as_str() {
        return Err(SettlementError::UnknownChallenge);
    }
    if used_at.is_some() {
        return Err(SettlementError::ChallengeUsed);
    }
    if expires_at < now() {
        return Err(SettlementError::ChallengeExpired);
    }
    let address: Addr = address.parse()?;
    let signer =
        chain::personal_sign_signer(&text, signature).map_err(|_| SettlementError::BadSignature)?;
    if signer != address {
        return Err(SettlementError::BadSignature);
    }
    Ok(address)
}

/// Take a verified challenge's nonce, in the write transaction that acts on it: one
/// conditional statement (unused, unexpired, this purpose), so a nonce works exactly once
/// whatever races it.
pub fn consume(
    conn: &mut DbConnection,
    nonce: &str,
    purpose: Purpose,
) -> Result<(), SettlementError> {
    let t = now();
    let used = diesel::update(
        wallet_challenges::table
            .find(nonce)
            .filter(wallet_challenges::used_at.is_null())
            .filter(wallet_challenges::purpose.eq(purpose.as_str()))
            .filter(wallet_challenges::expires_at.ge(t)),
    )
    .set(wallet_challenges::used_at.eq(Some(t)))
    .execute(conn)?;
    if used == 0 {
        return Err(SettlementError::ChallengeUsed);
    }
    Ok(())
}

/// The address bound to `user_id`, if any.
pub fn bound_address(
    conn: &mut DbConnection,
    user_id: i64,
) -> Result<Option<Addr>, SettlementError> {
    let a: Option<String> = wallets::table
        .find(user_id)
        .select(wallets::address)
        .first(conn)
        .optional()?;
    a.map(|a| a.parse::<Addr>().map_err(SettlementError::from))
        .transpose()
}

/// What binding did.
#[derive(Debug, Clone)]
pub struct Bound {
    pub address: Addr,
    /// Unattributed deposits from this address now credited to the account.
    pub claimed: Vec<(String, i64)>,
}

/// Bind `address` to `user_id` (replacing her previous address) and claim every deposit that
/// came from it before anyone had bound it.
pub fn bind(
    conn: &mut DbConnection,
    user_id: i64,
    address: Addr,
) -> Result<Bound, SettlementError> {
    let text = address.to_string();
    let owner: Option<i64> = wallets::table
        .filter(wallets::address.eq(&text))
        .select(wallets::user_id)
        .first(conn)
        .optional()?;
    match owner {
        Some(o) if o != user_id => return Err(SettlementError::WalletTaken),
        Some(_) => {}
        None => {
            diesel::delete(wallets::table.find(user_id)).execute(conn)?;
            diesel::insert_into(wallets::table)
                .values((
                    wallets::user_id.eq(user_id),
                    wallets::address.eq(&text),
                    wallets::bound_at.eq(now()),
                ))
                .execute(conn)
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        SettlementError::WalletTaken
                    } else {
                        e.into()
                    }
                })?;
        }
    }
    let claimed = claim_unattributed(conn, user_id, &text)?;
    Ok(Bound { address, claimed })
}

/// Credit the confirmed deposits from `address` that no account had bound when they arrived.
fn claim_unattributed(
    conn: &mut DbConnection,
    user_id: i64,
    address: &str,
) -> Result<Vec<(String, i64)>, SettlementError> {
    // Not those a deep reorganisation removed from the chain (orphaned): that LIVE is gone.
    let held: Vec<(String, i64, i64)> = chain_deposits::table
        .filter(chain_deposits::from_address.eq(address))
        .filter(chain_deposits::status.eq(crate::states::DepositState::Unattributed.as_str()))
        .filter(chain_deposits::orphaned_at.is_null())
        .select((
            chain_deposits::tx_hash,
            chain_deposits::transfer_index,
            chain_deposits::units,
        ))
        .load(conn)?;
    let mut claimed = Vec::new();
    for (tx, ti, units) in held {
        ledger::credit_deposit(conn, user_id, &tx, ti, units)?;
        diesel::update(
            chain_deposits::table
                .filter(chain_deposits::tx_hash.eq(&tx))
                .filter(chain_deposits::transfer_index.eq(ti)),
        )
        .set((
            chain_deposits::status.eq(crate::states::DepositState::Credited.as_str()),
            chain_deposits::user_id.eq(Some(user_id)),
            chain_deposits::credited_at.eq(Some(now())),
        ))
        .execute(conn)?;
        claimed.push((tx, units));
    }
    Ok(claimed)
}

/// The account bound to `address`, or a new wallet-only account for it (no password: it signs
/// in with its wallet only). Suspended and deleted accounts are refused.
pub fn sign_in_account(
    conn: &mut DbConnection,
    address: Addr,
) -> Result<(User, bool), SettlementError> {
    let text = address.to_string();
    let found: Option<(User, Option<NaiveDateTime>)> = wallets::table
        .inner_join(users::table)
        .filter(wallets::address.eq(&text))
        .select((User::as_select(), users::suspended_at))
        .first(conn)
        .optional()?;
    if let Some((user, suspended)) = found {
        if suspended.is_some() {
            return Err(SettlementError::Suspended);
        }
        claim_unattributed(conn, user.id, &text)?;
        return Ok((user, false));
    }
    // `w_` and the first 10 hex digits, longer on the (unlikely) clash with an existing name.
    let digits = hex::encode(address.0);
    let mut user = None;
    for len in [10usize, 16, 28] {
        let name = format!("w_{}", &digits[..len]);
        let username = crate::accounts::Username::parse(&name).map_err(SettlementError::Invalid)?;
        match crate::accounts::create_user(
            conn,
            &username,
            "!wallet-only",
            livestars_api::Role::Viewer,
        ) {
            Ok(u) => {
                user = Some(u);
                break;
            }
            Err(crate::accounts::AccountError::UsernameTaken) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let user = user.ok_or_else(|| SettlementError::Invalid("no free account name".into()))?;
    bind(conn, user.id, address)?;
    Ok((user, true))
}

/// A deposit as its owner sees it: (tx hash, log index, block, from, units, dust, status).
pub type DepositRow = (String, i64, i64, String, i64, String, String);

/// LIVE transfers into the treasury from `user_id`'s bound address (latest 50): hers, and those
/// from her address not credited to anyone yet.
pub fn deposits_of(
    conn: &mut DbConnection,
    user_id: i64,
) -> Result<Vec<DepositRow>, SettlementError> {
    let address: Option<String> = wallets::table
        .find(user_id)
        .select(wallets::address)
        .first(conn)
        .optional()?;
    let mut q = chain_deposits::table
        .filter(chain_deposits::user_id.eq(user_id))
        .into_boxed();
    if let Some(a) = address {
        // Hers, and those from her address not credited to anyone yet (pending).
        q = q.or_filter(
            chain_deposits::from_address
                .eq(a)
                .and(chain_deposits::user_id.is_null()),
        );
    }
    Ok(q.order((
        chain_deposits::block_number.desc(),
        chain_deposits::log_index.desc(),
    ))
    .limit(50)
    .select((
        chain_deposits::tx_hash,
        chain_deposits::log_index,
        chain_deposits::block_number,
        chain_deposits::from_address,
        chain_deposits::units,
        chain_deposits::dust,
        chain_deposits::status,
    ))
    .load(conn)?)
}
