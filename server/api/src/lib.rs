//! Request and response types of the Live Stars JSON API.
//!
//! These are plain serde types, shared by the server and the admin console. They carry no
//! behaviour and pull in no database or chain code, so the console stays light. With the
//! `openapi` feature (the server enables it) every type also derives its OpenAPI schema.
#![forbid(unsafe_code)]

pub mod key_proof;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

/// The body of every error response: a stable machine-readable `error` code in snake_case and a
/// human-readable `message`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    /// Machine-readable kind, e.g. `invalid_json`, `username_taken`, `forbidden`.
    pub error: String,
    /// Explanation for humans; wording may change, the code does not.
    pub message: String,
}

/// The role of an account. A viewer may become a model; admins are created from the CLI.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Model,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Model => "model",
            Role::Admin => "admin",
        }
    }
}

/// Sign-up: a username and a password, nothing else. No e-mail, no personal data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignUpRequest {
    /// 3 to 30 characters: lower-case ASCII letters, digits and `_`, starting with a letter.
    #[cfg_attr(
        feature = "openapi",
        schema(
            example = "alice",
            pattern = "^[a-z][a-z0-9_]{2,29}$",
            min_length = 3,
            max_length = 30
        )
    )]
    pub username: String,
    /// 8 to 256 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "correct horse battery", min_length = 8, max_length = 256)
    )]
    pub password: String,
    /// The username whose referral link brought her here, if any.
    #[serde(default)]
    pub referrer: Option<String>,
}

/// Sign-in with username and password.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub username: String,
    pub password: String,
}

/// A tip to the model of a room.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TipRequest {
    /// LIVE as a decimal string, more than zero, at most 8 decimals (`"2.5"`).
    #[cfg_attr(feature = "openapi", schema(example = "2.5", max_length = 40))]
    pub amount: String,
    /// Chosen by the client, 8 to 64 characters of `A-Z a-z 0-9 - _`; a retry with the same key
    /// counts once.
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 64))]
    pub idempotency_key: String,
}

/// What a tip did. Amounts are decimal LIVE strings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TipReceipt {
    pub id: i64,
    pub room_id: i64,
    pub model: String,
    pub amount: String,
    /// The amount in units of 1e-8 LIVE.
    pub units: i64,
    pub model_share: String,
    pub referral_total: String,
    pub instance_share: String,
    /// The tipper's balance now.
    pub balance: String,
    pub created_at: DateTime<Utc>,
    /// `amount` in USD at the instance's current rate; `null` without a rate.
    #[serde(default)]
    pub amount_usd: Option<String>,
}

/// One movement on an account, signed from the account's side.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LedgerEntry {
    pub id: i64,
    /// `deposit`, `tip`, `tip_model`, `tip_referral`, …
    pub kind: String,
    pub reference: String,
    pub amount: String,
    pub units: i64,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub amount_usd: Option<String>,
}

/// The caller's LIVE balance and latest movements.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Wallet {
    pub balance: String,
    pub units: i64,
    /// Her referral link: sign-up with `referrer` set to this username.
    pub referral_code: String,
    pub history: Vec<LedgerEntry>,
    #[serde(default)]
    pub balance_usd: Option<String>,
    /// The bound address payouts go to, if any.
    #[serde(default)]
    pub address: Option<String>,
}

/// How this instance settles in LIVE: where to deposit, what a payout costs, the USD rate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SettlementInfo {
    /// Deposits are watched (a chain node is configured).
    pub deposits: bool,
    /// Payouts can be sent (the hot wallet's key is loaded).
    pub payouts: bool,
    pub chain_id: u64,
    /// The LIVE token contract.
    pub token: Option<String>,
    /// Send LIVE here from your bound address to deposit.
    pub treasury: Option<String>,
    pub decimals: Option<u8>,
    /// Blocks before a deposit counts.
    pub confirmations: u64,
    /// The ledger's unit, in LIVE.
    pub unit: String,
    /// `instance` (the instance pays the gas) or `deducted` (`payout_fee` is charged).
    pub payout_gas: String,
    pub payout_fee: String,
    pub payout_fee_usd: Option<String>,
    /// USD per LIVE, `null` without a rate.
    pub usd_rate: Option<String>,
    /// `fixed`, `http` or `none`.
    pub usd_source: String,
    /// The chain node as the instance sees it now. `deposits`/`payouts` are only true while
    /// its status is `ok`.
    pub chain: ChainHealth,
}

/// The chain node's health as the watcher last saw it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ChainHealth {
    /// `off` (no node configured), `connecting` (never answered yet), `ok`, `unreachable`
    /// (the last contact failed; deposits and payouts wait), or `halted` (the node is on another
    /// chain than this database settles: settlement is stopped until an operator resolves it).
    pub status: String,
    /// A sentence for people: why deposits and payouts wait, what an operator must do.
    pub message: Option<String>,
    /// The node's latest block at the last successful contact.
    pub head: Option<u64>,
    /// The last block the watcher scanned for deposits.
    pub scanned_to: Option<u64>,
    /// Blocks between the head and what is scanned.
    pub lag_blocks: Option<u64>,
    /// The last successful contact with the node.
    pub last_contact_at: Option<DateTime<Utc>>,
    /// Since when the node fails to answer (status `unreachable`).
    pub failing_since: Option<DateTime<Utc>>,
}

/// Ask for a message to sign with a wallet.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    /// `0x` and 40 hex digits.
    #[cfg_attr(
        feature = "openapi",
        schema(
            example = "0x24a77c1f17c547105e14813e517be06b0040aa76",
            max_length = 42
        )
    )]
    pub address: String,
    /// `bind` (to the signed-in account) or `sign_in`.
    #[cfg_attr(feature = "openapi", schema(example = "bind", max_length = 10))]
    pub purpose: String,
}

/// An EIP-4361 message to sign with EIP-191 `personal_sign`, valid once, for ten minutes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WalletChallenge {
    pub nonce: String,
    pub message: String,
    pub expires_at: DateTime<Utc>,
}

/// A signed challenge.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignedChallenge {
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub nonce: String,
    /// 65 bytes as hex (`0x…`, 132 characters).
    #[cfg_attr(feature = "openapi", schema(max_length = 140))]
    pub signature: String,
}

/// An address bound to the caller's account, and the held deposits it claimed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WalletBinding {
    pub address: String,
    /// Deposits from this address that had waited unattributed, now credited.
    pub claimed: Vec<String>,
    pub claimed_amount: String,
    pub balance: String,
}

/// A LIVE transfer into the treasury from the caller's bound address.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Deposit {
    pub tx_hash: String,
    pub log_index: i64,
    pub block_number: i64,
    pub from: String,
    pub amount: String,
    pub amount_usd: Option<String>,
    /// Token base units below the ledger's unit, kept with the deposit (not credited).
    pub dust: String,
    /// `pending` (waiting for confirmations), `credited`, `unattributed`, `dust`.
    pub status: String,
}

/// Ask for a payout to the bound address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PayoutRequest {
    /// LIVE, more than zero, at most 8 decimals. No minimum.
    #[cfg_attr(feature = "openapi", schema(example = "0.5", max_length = 40))]
    pub amount: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 64))]
    pub idempotency_key: String,
}

/// A payout and where it is: `queued` → `signed` → `broadcast` → `confirmed`, or `failed`
/// (money back on the balance, with the reason).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Payout {
    pub id: i64,
    pub to: String,
    pub amount: String,
    pub amount_usd: Option<String>,
    /// The gas fee charged on top (`deducted` instances), else `0`.
    pub fee: String,
    pub status: String,
    pub tx_hash: Option<String>,
    pub nonce: Option<i64>,
    pub block_number: Option<i64>,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub broadcast_at: Option<DateTime<Utc>>,
}

/// Sent to a room's event stream when someone tips (for chat and toy levels).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TipEvent {
    pub room_id: i64,
    pub tip_id: i64,
    pub tipper: String,
    pub amount: String,
    pub units: i64,
    pub amount_usd: Option<String>,
    pub at: DateTime<Utc>,
}

/// A line of a room's chat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ChatLine {
    /// Increasing within the room: a client that reconnects asks for the lines after the last
    /// one it saw.
    pub id: i64,
    pub room_id: i64,
    /// The author's username.
    pub from: String,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// The room socket's protocol version; every frame carries it as `v`.
pub const SOCKET_VERSION: u8 = 1;

/// What a client sends over the room socket (JSON text frames, `{"v": 1, "type": …}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Say something in the room's chat (signed-in accounts only).
    Chat { text: String },
    /// Keep the connection alive; answered with `pong`.
    Ping,
}

/// What the server sends over the room socket (JSON text frames, `{"v": 1, "type": …}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame: who you are here, whether you may chat, the lines you have not seen.
    Welcome {
        room_id: i64,
        /// Your username, or `null` for an anonymous guest (read-only).
        you: Option<String>,
        can_chat: bool,
        backlog: Vec<ChatLine>,
    },
    Chat(ChatLine),
    Tip(TipEvent),
    /// Who is in the room now: signed-in accounts (once each) and anonymous guests.
    Presence {
        viewers: i32,
        guests: i32,
    },
    Pong,
    /// Something the client sent was refused; the connection stays open.
    Error {
        code: String,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        retry_after: Option<u64>,
    },
}

/// A frame with its protocol version, as it travels.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Frame<T> {
    pub v: u8,
    #[serde(flatten)]
    pub body: T,
}

/// Deleting one's account is confirmed with its password — or, for an account with a bound
/// wallet (wallet-only accounts have no password), with a signed `delete_account` challenge
/// of that wallet (`POST /api/wallet/challenges`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    #[serde(default)]
    pub password: Option<String>,
    /// The challenge's nonce (with `signature`, instead of `password`).
    #[serde(default)]
    pub nonce: Option<String>,
    /// The EIP-191 signature of the challenge's message by the bound wallet.
    #[serde(default)]
    pub signature: Option<String>,
}

/// An account as its owner sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Account {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// A fresh session. The token also arrives as an HttpOnly cookie `livestars_session`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Session {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub account: Account,
}

/// A model's public profile.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Profile {
    pub username: String,
    pub display_name: String,
    pub bio: String,
    pub tags: Vec<String>,
    /// BCP 47 primary language subtags, e.g. `en`, `pt`.
    pub languages: Vec<String>,
    /// Path of the avatar image, absent when none was uploaded.
    pub avatar_url: Option<String>,
    /// Links she shows on her profile (federated as `PropertyValue` fields).
    pub links: Vec<ProfileLink>,
    pub room_id: i64,
    pub created_at: DateTime<Utc>,
}

/// A named link on a profile.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProfileLink {
    /// 1 to 40 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 40))]
    pub name: String,
    /// An http or https URL, at most 300 characters.
    #[cfg_attr(feature = "openapi", schema(max_length = 300))]
    pub url: String,
}

/// A partial profile update by its owner; absent fields stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    /// 1 to 60 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 60))]
    pub display_name: Option<String>,
    /// Up to 2000 characters.
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub bio: Option<String>,
    /// Up to 10 tags of 1 to 24 characters: lower-case letters, digits, `-`.
    pub tags: Option<Vec<String>>,
    /// Up to 5 two- or three-letter lower-case language codes.
    pub languages: Option<Vec<String>>,
    /// Up to 4 links; replaces the list.
    #[cfg_attr(feature = "openapi", schema(max_items = 4))]
    pub links: Option<Vec<ProfileLink>>,
}

/// Whether a room is listed and whether it is showing.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RoomStatus {
    Offline,
    Live,
    Private,
}

impl RoomStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomStatus::Offline => "offline",
            RoomStatus::Live => "live",
            RoomStatus::Private => "private",
        }
    }

    /// The state stored as text by [`RoomStatus::as_str`]; anything else reads as offline.
    pub fn from_stored(s: &str) -> RoomStatus {
        match s {
            "live" => RoomStatus::Live,
            "private" => RoomStatus::Private,
            _ => RoomStatus::Offline,
        }
    }
}

/// Whether the caller follows a model of this instance, and how many accounts here do.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FollowState {
    pub following: bool,
    pub followers: i64,
}

/// A model's room.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Room {
    pub id: i64,
    pub model: String,
    pub display_name: String,
    pub title: String,
    pub tags: Vec<String>,
    pub languages: Vec<String>,
    pub status: RoomStatus,
    /// Signed-in viewers present now.
    pub viewer_count: i32,
    /// Anonymous guests present now.
    pub guest_count: i32,
    pub started_at: Option<DateTime<Utc>>,
    /// The home instance of a federated room (`b.example`); `null` for this instance's rooms.
    /// Federated rooms carry negative ids in the directory.
    pub home: Option<String>,
    /// Where to watch a federated room (its page on its home instance); `null` for local rooms.
    pub url: Option<String>,
    /// Path of the model's avatar on this instance; `null` without one and for federated rooms
    /// (pages never load images from other instances).
    #[serde(default)]
    pub avatar_url: Option<String>,
}

/// A room's title and tags, set by its model; absent fields stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RoomUpdate {
    /// Up to 120 characters.
    #[cfg_attr(feature = "openapi", schema(max_length = 120))]
    pub title: Option<String>,
    /// Same rules as profile tags.
    pub tags: Option<Vec<String>>,
}

/// Starting a show: public (`live`, the default) or `private`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StartShow {
    pub status: Option<RoomStatus>,
}

/// The published ranking score of a room and every input and term, so anyone can recompute it.
/// See `docs/ranking.md` for the formula.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ScoreComponents {
    /// Signed-in viewers now.
    pub viewers: i32,
    /// Anonymous guests now (each weighs 0.25).
    pub guests: i32,
    /// Distinct tippers in the last 30 minutes.
    pub distinct_tippers_30m: i64,
    /// LIVE tipped in the last 30 minutes, each tipper capped.
    pub tipped_live_30m: f64,
    /// Age of the model's account in days.
    pub account_age_days: f64,
    /// Minutes since the show started.
    pub minutes_live: f64,
    /// ln(1 + viewers + 0.25·guests)
    pub audience: f64,
    /// 1.5·ln(1 + distinct tippers)
    pub tippers: f64,
    /// ln(1 + tipped/50)
    pub tips: f64,
    /// 1.5·max(0, 1 − age/14): the new-model boost.
    pub newcomer: f64,
    /// exp(−minutes/15): the freshly-started boost.
    pub fresh: f64,
}

/// A directory entry: the room, its score and the score's parts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RankedRoom {
    pub room: Room,
    pub score: f64,
    pub components: ScoreComponents,
}

/// One page of the directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DirectoryPage {
    pub rooms: Vec<RankedRoom>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// Version of the ranking formula the scores were computed with.
    pub formula: String,
}

/// Filters and paging of `GET /api/rooms`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema, IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct DirectoryQuery {
    /// Only rooms carrying this tag.
    pub tag: Option<String>,
    /// Only rooms whose model speaks this language.
    pub language: Option<String>,
    /// `live` (default), `private` or `offline`.
    pub status: Option<RoomStatus>,
    /// From `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 100, default 50.
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    pub limit: Option<u32>,
    /// `local` (default): this instance's rooms; `all`: with federated rooms of followed models.
    pub scope: Option<DirectoryScope>,
    /// Only rooms whose model's name or display name contains this text (any case; up to 100
    /// characters).
    #[cfg_attr(feature = "openapi", param(max_length = 100))]
    pub q: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DirectoryScope {
    #[default]
    Local,
    All,
}

/// A remote model found by handle or profile URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RemoteProfile {
    /// `anna@b.example`.
    pub handle: String,
    /// Her ActivityPub actor id.
    pub actor_id: String,
    pub display_name: String,
    /// As her instance sent it (HTML); clients sanitise before showing.
    pub summary: String,
    pub icon_url: Option<String>,
    pub profile_url: Option<String>,
    /// Her room listing, when her instance publishes one.
    pub room: Option<Room>,
    /// `pending`, `accepted`, or `null` when the caller does not follow her.
    pub follow: Option<String>,
}

/// Whom to look up or follow: `@anna@b.example`, `anna@b.example`, or an actor/profile URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema, IntoParams))]
#[serde(deny_unknown_fields)]
pub struct RemoteHandle {
    #[cfg_attr(feature = "openapi", schema(max_length = 300))]
    pub handle: String,
}

/// The operator's federation policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FederationPolicy {
    /// `open` or `allowlist`.
    pub mode: String,
    pub blocked: Vec<String>,
    pub allowed: Vec<String>,
}

/// Change the federation mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FederationModeUpdate {
    /// `open` or `allowlist`.
    pub mode: String,
}

/// Block or allow a domain (`host` or `host:port`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DomainPolicyUpdate {
    pub domain: String,
    /// `block`, `allow`, or `none` to remove the domain's entry.
    pub policy: String,
}

/// Delivery state of one remote instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InstanceDelivery {
    pub domain: String,
    pub dead: bool,
    pub failing_since: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Deliveries it answered with 2xx.
    pub delivered: i32,
    /// Deliveries queued and not yet done.
    pub pending: i64,
    /// Deliveries it refused for good (4xx other than 408/429).
    pub refused: i64,
}

/// Instance health and identity.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Health {
    pub status: String,
    pub version: String,
    /// `sqlite` or `postgres`.
    pub database: String,
}

/// Where a model stands with her ID verification.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VerificationState {
    /// No document on file.
    None,
    Pending,
    Approved,
    Rejected,
}

/// A model's verification status, as she sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct VerificationStatus {
    pub status: VerificationState,
    pub document_id: Option<i64>,
    /// Approved until this date (inclusive), when the document has an expiry date.
    pub valid_until: Option<chrono::NaiveDate>,
    /// Why the document was rejected.
    pub reason: Option<String>,
    /// Whether she may start a show now.
    pub may_go_live: bool,
}

/// An ID document as its owner sees it. The content is never shown: the server cannot read it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct IdDocument {
    pub id: i64,
    pub status: VerificationState,
    /// `image/jpeg`, `image/png` or `application/pdf`: sniffed from the bytes by the server,
    /// or, for a document sealed in the browser, as the browser read it (the console checks it
    /// after decryption).
    pub mime: String,
    pub size_bytes: i64,
    /// SHA-256 of the stored ciphertext, hex.
    pub sha256: String,
    pub uploaded_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub valid_until: Option<chrono::NaiveDate>,
    pub reject_reason: Option<String>,
}

/// What a model's browser needs to seal an ID document itself: the current verifiers' age
/// recipients (the document key is wrapped to each) and the largest document accepted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SealingRecipients {
    pub recipients: Vec<String>,
    pub max_bytes: u64,
}

/// An ID document in the verifiers' queue.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AdminIdDocument {
    pub id: i64,
    pub model: String,
    pub status: VerificationState,
    pub mime: String,
    pub size_bytes: i64,
    /// SHA-256 of the ciphertext: send it back with the decision.
    pub sha256: String,
    pub uploaded_at: DateTime<Utc>,
    /// The key is wrapped to another set of recipients than the current verifiers.
    pub needs_rewrap: bool,
}

/// A registered verifier: an admin's age recipient.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Verifier {
    pub id: i64,
    pub username: String,
    /// `age1…`
    pub recipient: String,
    pub created_at: DateTime<Utc>,
}

/// Register the calling admin's age recipient (public key) as a verifier.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewVerifier {
    /// An age X25519 recipient, `age1…`. Never send an identity (`AGE-SECRET-KEY-1…`).
    pub recipient: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Approve,
    Reject,
}

/// A verifier's decision on a document, bound to the ciphertext she downloaded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub decision: DecisionKind,
    /// SHA-256 (hex) of the ciphertext the verifier decrypted.
    pub sha256: String,
    /// Approve only: the date of birth read from the document. Checked to be 18+ today and
    /// then discarded: only `adult: true` is stored.
    pub date_of_birth: Option<chrono::NaiveDate>,
    /// Approve only: the document's own expiry date, if it has one.
    pub valid_until: Option<chrono::NaiveDate>,
    /// Reject only: the reason shown to the model (1 to 500 characters).
    pub reason: Option<String>,
    /// The document's key proof ([`key_proof::proof`] of the unwrapped document key, hex):
    /// shows the verifier could read the document. Required for every document uploaded with
    /// a commitment (all since December 2026).
    #[serde(default)]
    pub key_proof: Option<String>,
}

/// A document's wrapped key, for re-wrapping in the console.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WrappedKey {
    pub document_id: i64,
    /// ASCII-armored age file holding the document's X25519 identity.
    pub wrapped_key: String,
    /// SHA-256 (hex) of `wrapped_key`: send it back as `previous_key_sha256` when re-wrapping.
    pub key_sha256: String,
    /// The recipients this key is wrapped to.
    pub recipients: Vec<String>,
    /// The verifiers' recipients now.
    pub current_recipients: Vec<String>,
}

/// A re-wrapped document key, encrypted in the console to the current verifiers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Rewrap {
    /// ASCII-armored age file.
    pub wrapped_key: String,
    /// `key_sha256` of the key being replaced.
    pub previous_key_sha256: String,
    /// The recipients the new key is wrapped to: must be exactly the current verifiers.
    pub recipients: Vec<String>,
    /// The document's key proof (see [`Decision::key_proof`]): shows the re-wrapper holds
    /// the document key she re-wraps.
    #[serde(default)]
    pub key_proof: Option<String>,
}

/// One line of the audit trail: who did what, when. No personal data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<i64>,
    pub subject_id: Option<i64>,
    pub document_id: Option<i64>,
    pub action: String,
}

/// Filter of the verifiers' document list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema, IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct AdminDocumentQuery {
    /// `pending` (default), `approved` or `rejected`. Deleted documents are never listed.
    pub status: Option<VerificationState>,
}

/// Paging of the audit trail.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema, IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Newest events first; 1 to 1000, default 100.
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<u32>,
}

/// Accounts by role, for the dashboard.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AccountCounts {
    pub viewers: i64,
    pub models: i64,
    pub admins: i64,
    pub suspended: i64,
}

/// The instance at a glance, for the console's dashboard.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InstanceStats {
    /// The instance's configured name.
    pub name: String,
    pub version: String,
    /// `sqlite` or `postgres`.
    pub database: String,
    pub accounts: AccountCounts,
    pub live_rooms: i64,
    pub private_rooms: i64,
    pub pending_verifications: i64,
    pub open_reports: i64,
}

/// An account as admins see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AdminUser {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub suspended: bool,
    pub room_id: Option<i64>,
    pub room_status: Option<RoomStatus>,
}

/// An admin API token as admins see it: never the token, only its identity.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AdminToken {
    /// The SHA-256 (hex) of the token: names it for revocation, cannot be used to sign in.
    pub id: String,
    pub user_id: i64,
    pub username: String,
    pub created_at: DateTime<Utc>,
}

/// Search of accounts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema, IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct AdminUserQuery {
    /// Part of a username; empty lists everyone (newest first).
    pub q: Option<String>,
    /// 1 to 200, default 50.
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 200))]
    pub limit: Option<u32>,
}

/// A new role for an account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub role: Role,
}

/// A report about a room, by a signed-in user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    pub room_id: i64,
    /// 1 to 1000 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 1000))]
    pub reason: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    Open,
    Resolved,
}

/// A report, as admins see it. The reporter stays anonymous to admins' screens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Report {
    pub id: i64,
    pub room_id: i64,
    pub model: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub status: ReportStatus,
    pub resolution: Option<String>,
}

/// Filter of the report queue.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema, IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// `open` (default) or `resolved`.
    pub status: Option<ReportStatus>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReportAction {
    /// Nothing wrong: close the report.
    Dismiss,
    /// End the reported room's show.
    EndShow,
    /// Suspend the reported room's model (ends her show, signs her out).
    SuspendModel,
}

/// How an admin resolves a report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReportResolution {
    pub action: ReportAction,
}

/// The instance's money at a glance, for the console's Ledger screen. Amounts in LIVE.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LedgerOverview {
    /// The instance's own share of tips (and payout fees).
    pub instance_balance: String,
    /// What all users hold together.
    pub users_total: String,
    pub users_with_balance: i64,
    /// Minus what came in from the chain and is still here.
    pub chain_balance: String,
    /// Sum of all balances: always "0".
    pub sum: String,
    pub tips: i64,
    pub tips_total: String,
    pub deposits_pending: i64,
    /// Deposits from addresses nobody has bound, waiting to be claimed.
    pub deposits_unattributed: i64,
    pub deposits_unattributed_amount: String,
    /// Payouts per state: queued, signed, broadcast, confirmed, failed.
    pub payouts: Vec<(String, i64)>,
    /// The latest 50 payouts.
    pub recent_payouts: Vec<AdminPayout>,
    pub usd_rate: Option<String>,
    /// The chain node's health (status `halted` stops settlement until resolved).
    #[serde(default)]
    pub chain: Option<ChainHealth>,
    /// Credited deposits a reorganisation deeper than the confirmations removed from the chain:
    /// the treasury holds less than the ledger until an operator resolves each one.
    #[serde(default)]
    pub deposits_orphaned: i64,
}

/// A payout as the console lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AdminPayout {
    pub id: i64,
    pub username: String,
    pub to: String,
    pub amount: String,
    pub status: String,
    pub tx_hash: Option<String>,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}
