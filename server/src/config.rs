//! Configuration: built-in defaults, then a TOML file, then `LIVESTARS_*` environment variables.
//!
//! One typed [`Config`] comes out, validated as a whole. Unknown keys in the file are rejected, so a
//! typo is an error rather than a silently ignored setting. Secrets (the database URL may carry a
//! password) live in [`Secret`], which never prints its contents.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Every setting of an instance. Each field is documented in `docs/operator-guide.md`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The instance's name, shown to people and admins (`LIVESTARS_INSTANCE_NAME`).
    pub instance_name: String,
    /// Address and port the HTTP server binds (`LIVESTARS_BIND`).
    pub bind: String,
    /// Where the embedded SQLite database and other files live (`LIVESTARS_DATA_DIR`).
    pub data_dir: PathBuf,
    /// `postgres://…` to run on PostgreSQL, `sqlite://PATH` for an explicit SQLite file; empty
    /// means SQLite at `<data_dir>/livestars.db` (`LIVESTARS_DATABASE_URL`).
    pub database_url: Secret,
    /// The URL the public reaches this instance at (`LIVESTARS_PUBLIC_URL`); defaults to
    /// `http://<bind>`. Session cookies are `Secure` when it is https.
    pub public_url: String,
    /// Number of HTTP worker threads; 0 means one per CPU core (`LIVESTARS_WORKERS`).
    pub workers: usize,
    /// Database connections in the pool (`LIVESTARS_DB_POOL_SIZE`).
    pub db_pool_size: u32,
    /// Largest JSON request body in bytes (`LIVESTARS_MAX_JSON_BYTES`).
    pub max_json_bytes: usize,
    /// Largest avatar image in bytes (`LIVESTARS_MAX_AVATAR_BYTES`).
    pub max_avatar_bytes: usize,
    /// Lifetime of a sign-in session in days (`LIVESTARS_SESSION_DAYS`).
    pub session_days: u32,
    /// Log filter, e.g. `info` or `livestars_server=debug` (`LIVESTARS_LOG`).
    pub log: String,
    /// Largest ID document upload in bytes (`LIVESTARS_IDDOC_MAX_BYTES`).
    pub iddoc_max_bytes: usize,
    /// What a model's deletion of her ID document does (`LIVESTARS_IDDOC_RETENTION`):
    /// `purge` (default) shreds it at once; `retain` revokes and hides it at once and shreds it
    /// after `iddoc_retain_days`, for operators bound by record-keeping law.
    pub iddoc_retention: String,
    /// Days a deleted document is kept, restricted, under `retain` (`LIVESTARS_IDDOC_RETAIN_DAYS`).
    pub iddoc_retain_days: u32,
    /// Hours a room's chat lines are kept before they are deleted (`LIVESTARS_CHAT_RETENTION_HOURS`).
    pub chat_retention_hours: u32,
    /// Federation over ActivityPub: `open` (default: talk to every instance not blocked) or
    /// `allowlist` (only instances an admin allowed) — the starting mode; admins change it at
    /// run time through the admin API (`LIVESTARS_FEDERATION_MODE`).
    pub federation_mode: String,
    /// Allow plain http, explicit ports, localhost and private addresses in federation — for
    /// tests and local trials only, never in production (`LIVESTARS_FEDERATION_DEBUG`).
    pub federation_debug: bool,
    /// An instance whose deliveries keep failing this long is marked dead and skipped until it
    /// answers again (`LIVESTARS_FEDERATION_DEAD_AFTER_SECS`).
    pub federation_dead_after_secs: u64,
    /// Longest delay between two delivery attempts, in seconds; attempts back off exponentially
    /// from one second up to this cap (`LIVESTARS_FEDERATION_MAX_BACKOFF_SECS`).
    pub federation_max_backoff_secs: u64,
    /// Deliveries in flight at once to one instance (`LIVESTARS_FEDERATION_PER_INSTANCE`).
    pub federation_per_instance: usize,
    /// Largest inbound activity in bytes (`LIVESTARS_FEDERATION_MAX_BYTES`).
    pub federation_max_bytes: usize,
    /// The model's share of a tip in basis points, 7000 to 8000 (`LIVESTARS_TIP_MODEL_SHARE_BPS`).
    pub tip_model_share_bps: u32,
    /// Referral shares in basis points of a tip, tier 1 to 3, paid to the referrers of the
    /// tipper and of the model from the instance's share (`LIVESTARS_REFERRAL_BPS`, e.g.
    /// `200,100,50`).
    pub referral_bps: Vec<u32>,
    /// JSON-RPC URL of an EVM node; empty turns deposits and payouts off (`LIVESTARS_CHAIN_RPC_URL`).
    pub chain_rpc_url: String,
    /// The chain id the node must report: 1 for Ethereum mainnet (`LIVESTARS_CHAIN_ID`).
    pub chain_id: u64,
    /// The LIVE token contract; empty on chain 1 means the mainnet LIVE token
    /// `0x24A77c1F17C547105E14813e517be06b0040aa76` (`LIVESTARS_CHAIN_TOKEN`).
    pub chain_token: String,
    /// File holding the hot wallet's private key (hex); the hot wallet is the treasury that
    /// receives deposits and sends payouts (`LIVESTARS_CHAIN_KEY_FILE`).
    pub chain_key_file: PathBuf,
    /// Watch-only treasury address when no key file is given: deposits, no payouts
    /// (`LIVESTARS_CHAIN_TREASURY`).
    pub chain_treasury: String,
    /// Confirmations before a deposit is credited or a payout confirmed (`LIVESTARS_CHAIN_CONFIRMATIONS`).
    pub chain_confirmations: u64,
    /// Most blocks scanned per log query (`LIVESTARS_CHAIN_SCAN_BLOCKS`).
    pub chain_scan_blocks: u64,
    /// First block scanned on a new instance; unset: the head at first start (`LIVESTARS_CHAIN_START_BLOCK`).
    pub chain_start_block: Option<u64>,
    /// How often the watcher and the payout signer poll the node, in ms (`LIVESTARS_CHAIN_POLL_MS`).
    pub chain_poll_ms: u64,
    /// Gas limit of a payout transfer (`LIVESTARS_PAYOUT_GAS_LIMIT`).
    pub payout_gas_limit: u64,
    /// A payout pending this long is replaced with fees raised by 12.5% (`LIVESTARS_PAYOUT_BUMP_AFTER_SECS`).
    pub payout_bump_after_secs: u64,
    /// How long one process holds the payout signer's lease; other processes on the same
    /// database stand by and take over when it lapses. 0: no lease, every process signs and
    /// follows (the refund rules still hold) (`LIVESTARS_PAYOUT_LEASE_SECS`).
    pub payout_lease_secs: u64,
    /// Who pays the gas: `instance` (default) or `deducted` — then `payout_fee` is shown and
    /// charged on top of the amount (`LIVESTARS_PAYOUT_GAS`).
    pub payout_gas: String,
    /// The fee in LIVE charged per payout under `deducted` (`LIVESTARS_PAYOUT_FEE`).
    pub payout_fee: String,
    /// A fixed USD price of one LIVE, e.g. `0.05` (`LIVESTARS_USD_RATE`).
    pub usd_rate: String,
    /// Or an HTTP JSON endpoint with the price (`LIVESTARS_USD_RATE_URL`) …
    pub usd_rate_url: String,
    /// … and the JSON pointer of the price in its answer, e.g. `/live/usd` (`LIVESTARS_USD_RATE_FIELD`).
    pub usd_rate_field: String,
    /// Seconds a fetched rate is reused (`LIVESTARS_USD_RATE_CACHE_SECS`).
    pub usd_rate_cache_secs: u64,
    /// Threads that hash passwords, each with one 19 MiB buffer for its whole life; 0 means
    /// half the cores, at least one (`LIVESTARS_PASSWORD_HASH_THREADS`).
    pub password_hash_threads: usize,
    /// Password checks that may wait for a hashing thread; more are answered 503 with
    /// `Retry-After` (`LIVESTARS_PASSWORD_HASH_QUEUE`).
    pub password_hash_queue: usize,
    /// Behind a reverse proxy: the header that carries the client's address, e.g.
    /// `X-Forwarded-For` (its last entry) or `X-Real-IP`; empty means the TCP peer's address
    /// (`LIVESTARS_CLIENT_IP_HEADER`). Honoured only from `trusted_proxies`.
    pub client_ip_header: String,
    /// The proxies whose `client_ip_header` is believed, by IP address
    /// (`LIVESTARS_TRUSTED_PROXIES`, comma-separated).
    pub trusted_proxies: Vec<String>,
    /// Rate limits, each `COUNT/SECONDS` (a bucket of COUNT refilled over SECONDS) or `off`.
    /// Per client IP address (held in memory only, never stored) or per account.
    pub limits: Limits,
}

/// Rate limits (`[limits]` in the file; `LIVESTARS_LIMIT_<NAME>` in the environment).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Sign-in attempts (password or wallet) per client address.
    pub sign_in_per_ip: String,
    /// Failed sign-ins per account: once spent, the account refuses password checks until the
    /// bucket refills a little (a delay of seconds to minutes, never a long lock-out).
    pub sign_in_failures_per_account: String,
    /// Sign-ups per client address.
    pub sign_up_per_ip: String,
    /// Wallet challenges per client address.
    pub challenges_per_ip: String,
    /// Reports per account.
    pub reports_per_account: String,
    /// Uploads (ID documents and avatars) per account.
    pub uploads_per_account: String,
    /// ID document uploads per model per day (a separate, daily count).
    pub iddoc_uploads_per_day: u32,
    /// Tips per account.
    pub tips_per_account: String,
    /// Follows, unfollows and remote-model lookups per account.
    pub follows_per_account: String,
    /// Chat lines per account.
    pub chat_per_account: String,
    /// Open event streams per client address, and in total.
    pub streams_per_ip: u32,
    pub streams_total: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            sign_in_per_ip: "30/60".into(),
            sign_in_failures_per_account: "10/600".into(),
            sign_up_per_ip: "10/3600".into(),
            challenges_per_ip: "30/600".into(),
            reports_per_account: "10/3600".into(),
            uploads_per_account: "20/3600".into(),
            iddoc_uploads_per_day: 5,
            tips_per_account: "50/10".into(),
            follows_per_account: "60/3600".into(),
            chat_per_account: "5/10".into(),
            streams_per_ip: 16,
            streams_total: 10_000,
        }
    }
}

/// One parsed rate limit: a bucket of `count` that refills completely in `per_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per_secs: u64,
}

impl Rate {
    /// `COUNT/SECONDS`, or `off` (no limit: `None`).
    pub fn parse(key: &'static str, text: &str) -> Result<Option<Rate>, ConfigError> {
        let text = text.trim();
        if text == "off" {
            return Ok(None);
        }
        let bad = || ConfigError::Invalid {
            key,
            message: format!("{text:?} is not COUNT/SECONDS (e.g. 10/60) or off"),
        };
        let (count, per) = text.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let per_secs: u64 = per.trim().parse().map_err(|_| bad())?;
        if count == 0 || per_secs == 0 || per_secs > 7 * 86_400 {
            return Err(bad());
        }
        Ok(Some(Rate { count, per_secs }))
    }
}

impl Limits {
    pub fn sign_in_per_ip(&self) -> Result<Option<Rate>, ConfigError> {
        Rate::parse("limits.sign_in_per_ip", &self.sign_in_per_ip)
    }
    pub fn sign_in_failures_per_account(&self) -> Result<Option<Rate>, ConfigError> {
        Rate::parse(
            "limits.sign_in_failures_per_account",
            &self.sign_in_failures_per_account,
        )
    }
    pub fn sign_up_per_ip(&self) -> Result<Option<Rate>, ConfigError> {
        Rate::parse("limits.sign_up_per_ip", &self.sign_up_per_ip)
    }
    pub fn challenges_per_ip(&self) -> Result<Option<Rate>, ConfigError> {
        Rate::parse("limits.challenges_per_ip", &self.challenges_per_ip)
    }
    pub fn reports_per_account(&self) -> Result<Option<Rate>, ConfigError> {
        Rate::parse("limits.reports_per_account", &self.reports_per_account)
    }
    pub fn uploads_per_account(&self) -> Result<Option<Rate>, ConfigError> {
        Rate::parse("limits.uploads_per_account", &self.uploads_per_account)
    }
    pub fn tips_per_account(&self) -> Result<Option<Rate>, ConfigError> {
        Rate::parse("limits.tips_per_account", &self.tips_per_account)
    }
    pub fn follows_per_account(&self) -> Result<Option<Rate>, ConfigError> {
        Rate::parse("limits.follows_per_account", &self.follows_per_account)
    }
    pub fn chat_per_account(&self) -> Result<Option<Rate>, ConfigError> {
        Rate::parse("limits.chat_per_account", &self.chat_per_account)
    }

    /// No limits at all (benchmarks that measure throughput, not refusals).
    pub fn unlimited() -> Limits {
        Limits {
            sign_in_per_ip: "off".into(),
            sign_in_failures_per_account: "off".into(),
            sign_up_per_ip: "off".into(),
            challenges_per_ip: "off".into(),
            reports_per_account: "off".into(),
            uploads_per_account: "off".into(),
            iddoc_uploads_per_day: 1000,
            tips_per_account: "off".into(),
            follows_per_account: "off".into(),
            chat_per_account: "off".into(),
            streams_per_ip: 10_000,
            streams_total: 100_000,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.sign_in_per_ip()?;
        self.sign_in_failures_per_account()?;
        self.sign_up_per_ip()?;
        self.challenges_per_ip()?;
        self.reports_per_account()?;
        self.uploads_per_account()?;
        self.tips_per_account()?;
        self.follows_per_account()?;
        self.chat_per_account()?;
        if self.iddoc_uploads_per_day == 0 || self.streams_per_ip == 0 || self.streams_total == 0 {
            return Err(ConfigError::Invalid {
                key: "limits",
                message: "iddoc_uploads_per_day, streams_per_ip and streams_total are at least 1"
                    .into(),
            });
        }
        Ok(())
    }
}

/// The ID-document retention policy, parsed from the two settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    Purge,
    Retain { days: u32 },
}

impl Default for Config {
    fn default() -> Self {
        Config {
            instance_name: "Live Stars".into(),
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: Secret::default(),
            public_url: String::new(),
            workers: 0,
            db_pool_size: 8,
            federation_mode: "open".into(),
            federation_debug: false,
            federation_dead_after_secs: 2 * 24 * 3600,
            federation_max_backoff_secs: 3600,
            federation_per_instance: 4,
            federation_max_bytes: 256 * 1024,
            tip_model_share_bps: 7500,
            referral_bps: vec![200, 100, 50],
            chain_rpc_url: String::new(),
            chain_id: 1,
            chain_token: String::new(),
            chain_key_file: PathBuf::new(),
            chain_treasury: String::new(),
            chain_confirmations: 12,
            chain_scan_blocks: 500,
            chain_start_block: None,
            chain_poll_ms: 2000,
            payout_gas_limit: 100_000,
            payout_bump_after_secs: 120,
            payout_lease_secs: 30,
            payout_gas: "instance".into(),
            payout_fee: "0".into(),
            usd_rate: String::new(),
            usd_rate_url: String::new(),
            usd_rate_field: "/usd".into(),
            usd_rate_cache_secs: 60,
            password_hash_threads: 0,
            password_hash_queue: 32,
            client_ip_header: String::new(),
            trusted_proxies: vec!["127.0.0.1".into(), "::1".into()],
            limits: Limits::default(),
            max_json_bytes: 64 * 1024,
            max_avatar_bytes: 2 * 1024 * 1024,
            session_days: 30,
            log: "info".into(),
            iddoc_max_bytes: 10 * 1024 * 1024,
            iddoc_retention: "purge".into(),
            iddoc_retain_days: 0,
            chat_retention_hours: 24,
        }
    }
}

/// A configuration problem, reported to the operator with the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value for {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

/// Which database the instance runs on, decided from the URL scheme (never by trial).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Config {
    /// Load defaults ← file ← environment. `file` is the `--config` argument; without it
    /// `./livestars.toml` is read when it exists.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Like [`Config::load`], with the environment given explicitly (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let default_file = Path::new("livestars.toml");
        let path = match file {
            Some(p) => Some(p.to_path_buf()),
            None if default_file.exists() => Some(default_file.to_path_buf()),
            None => None,
        };
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str::<Config>(&text).map_err(|e| ConfigError::Parse {
                    path,
                    message: e.message().to_string(),
                })?
            }
            None => Config::default(),
        };
        for (key, value) in env {
            // Secrets may come from files (Docker and systemd credentials): `LIVESTARS_X_FILE`
            // names a file whose content is the value of `LIVESTARS_X`.
            let from_file = match key.as_str() {
                "LIVESTARS_DATABASE_URL_FILE" => Some("LIVESTARS_DATABASE_URL"),
                "LIVESTARS_CHAIN_RPC_URL_FILE" => Some("LIVESTARS_CHAIN_RPC_URL"),
                "LIVESTARS_USD_RATE_URL_FILE" => Some("LIVESTARS_USD_RATE_URL"),
                _ => None,
            };
            match from_file {
                Some(target) => {
                    let text =
                        std::fs::read_to_string(&value).map_err(|source| ConfigError::Read {
                            path: PathBuf::from(&value),
                            source,
                        })?;
                    config.apply_env(target, text.trim().to_string())?;
                }
                None => config.apply_env(&key, value)?,
            }
        }
        config.validate()?;
        Ok(config)
    }

    fn apply_env(&mut self, key: &str, value: String) -> Result<(), ConfigError> {
        fn num<T: std::str::FromStr>(key: &'static str, v: &str) -> Result<T, ConfigError> {
            v.trim().parse().map_err(|_| ConfigError::Invalid {
                key,
                message: format!("{v:?} is not a valid number"),
            })
        }
        match key {
            "LIVESTARS_INSTANCE_NAME" => self.instance_name = value,
            "LIVESTARS_BIND" => self.bind = value,
            "LIVESTARS_DATA_DIR" => self.data_dir = PathBuf::from(value),
            "LIVESTARS_DATABASE_URL" => self.database_url = Secret(value),
            "LIVESTARS_PUBLIC_URL" => self.public_url = value,
            "LIVESTARS_WORKERS" => self.workers = num("LIVESTARS_WORKERS", &value)?,
            "LIVESTARS_DB_POOL_SIZE" => self.db_pool_size = num("LIVESTARS_DB_POOL_SIZE", &value)?,
            "LIVESTARS_MAX_JSON_BYTES" => {
                self.max_json_bytes = num("LIVESTARS_MAX_JSON_BYTES", &value)?
            }
            "LIVESTARS_MAX_AVATAR_BYTES" => {
                self.max_avatar_bytes = num("LIVESTARS_MAX_AVATAR_BYTES", &value)?
            }
            "LIVESTARS_SESSION_DAYS" => self.session_days = num("LIVESTARS_SESSION_DAYS", &value)?,
            "LIVESTARS_LOG" => self.log = value,
            "LIVESTARS_IDDOC_MAX_BYTES" => {
                self.iddoc_max_bytes = num("LIVESTARS_IDDOC_MAX_BYTES", &value)?
            }
            "LIVESTARS_IDDOC_RETENTION" => self.iddoc_retention = value,
            "LIVESTARS_IDDOC_RETAIN_DAYS" => {
                self.iddoc_retain_days = num("LIVESTARS_IDDOC_RETAIN_DAYS", &value)?
            }
            "LIVESTARS_CHAT_RETENTION_HOURS" => {
                self.chat_retention_hours = num("LIVESTARS_CHAT_RETENTION_HOURS", &value)?
            }
            "LIVESTARS_FEDERATION_MODE" => self.federation_mode = value,
            "LIVESTARS_FEDERATION_DEBUG" => {
                self.federation_debug = match value.trim() {
                    "1" | "true" | "yes" => true,
                    "0" | "false" | "no" | "" => false,
                    _ => {
                        return Err(ConfigError::Invalid {
                            key: "LIVESTARS_FEDERATION_DEBUG",
                            message: format!("{value:?} is not true or false"),
                        })
                    }
                }
            }
            "LIVESTARS_FEDERATION_DEAD_AFTER_SECS" => {
                self.federation_dead_after_secs =
                    num("LIVESTARS_FEDERATION_DEAD_AFTER_SECS", &value)?
            }
            "LIVESTARS_FEDERATION_MAX_BACKOFF_SECS" => {
                self.federation_max_backoff_secs =
                    num("LIVESTARS_FEDERATION_MAX_BACKOFF_SECS", &value)?
            }
            "LIVESTARS_FEDERATION_PER_INSTANCE" => {
                self.federation_per_instance = num("LIVESTARS_FEDERATION_PER_INSTANCE", &value)?
            }
            "LIVESTARS_FEDERATION_MAX_BYTES" => {
                self.federation_max_bytes = num("LIVESTARS_FEDERATION_MAX_BYTES", &value)?
            }
            "LIVESTARS_TIP_MODEL_SHARE_BPS" => {
                self.tip_model_share_bps = num("LIVESTARS_TIP_MODEL_SHARE_BPS", &value)?
            }
            "LIVESTARS_REFERRAL_BPS" => {
                self.referral_bps = value
                    .split(',')
                    .filter(|p| !p.trim().is_empty())
                    .map(|p| num("LIVESTARS_REFERRAL_BPS", p))
                    .collect::<Result<_, _>>()?
            }
            "LIVESTARS_CHAIN_RPC_URL" => self.chain_rpc_url = value,
            "LIVESTARS_CHAIN_ID" => self.chain_id = num("LIVESTARS_CHAIN_ID", &value)?,
            "LIVESTARS_CHAIN_TOKEN" => self.chain_token = value,
            "LIVESTARS_CHAIN_KEY_FILE" => self.chain_key_file = PathBuf::from(value),
            "LIVESTARS_CHAIN_TREASURY" => self.chain_treasury = value,
            "LIVESTARS_CHAIN_CONFIRMATIONS" => {
                self.chain_confirmations = num("LIVESTARS_CHAIN_CONFIRMATIONS", &value)?
            }
            "LIVESTARS_CHAIN_SCAN_BLOCKS" => {
                self.chain_scan_blocks = num("LIVESTARS_CHAIN_SCAN_BLOCKS", &value)?
            }
            "LIVESTARS_CHAIN_START_BLOCK" => {
                self.chain_start_block = if value.trim().is_empty() {
                    None
                } else {
                    Some(num("LIVESTARS_CHAIN_START_BLOCK", &value)?)
                }
            }
            "LIVESTARS_CHAIN_POLL_MS" => {
                self.chain_poll_ms = num("LIVESTARS_CHAIN_POLL_MS", &value)?
            }
            "LIVESTARS_PAYOUT_GAS_LIMIT" => {
                self.payout_gas_limit = num("LIVESTARS_PAYOUT_GAS_LIMIT", &value)?
            }
            "LIVESTARS_PAYOUT_BUMP_AFTER_SECS" => {
                self.payout_bump_after_secs = num("LIVESTARS_PAYOUT_BUMP_AFTER_SECS", &value)?
            }
            "LIVESTARS_PAYOUT_LEASE_SECS" => {
                self.payout_lease_secs = num("LIVESTARS_PAYOUT_LEASE_SECS", &value)?
            }
            "LIVESTARS_PAYOUT_GAS" => self.payout_gas = value,
            "LIVESTARS_PAYOUT_FEE" => self.payout_fee = value,
            "LIVESTARS_USD_RATE" => self.usd_rate = value,
            "LIVESTARS_USD_RATE_URL" => self.usd_rate_url = value,
            "LIVESTARS_USD_RATE_FIELD" => self.usd_rate_field = value,
            "LIVESTARS_USD_RATE_CACHE_SECS" => {
                self.usd_rate_cache_secs = num("LIVESTARS_USD_RATE_CACHE_SECS", &value)?
            }
            "LIVESTARS_PASSWORD_HASH_THREADS" => {
                self.password_hash_threads = num("LIVESTARS_PASSWORD_HASH_THREADS", &value)?
            }
            "LIVESTARS_PASSWORD_HASH_QUEUE" => {
                self.password_hash_queue = num("LIVESTARS_PASSWORD_HASH_QUEUE", &value)?
            }
            "LIVESTARS_CLIENT_IP_HEADER" => self.client_ip_header = value,
            "LIVESTARS_TRUSTED_PROXIES" => {
                self.trusted_proxies = value
                    .split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect()
            }
            "LIVESTARS_LIMIT_SIGN_IN_PER_IP" => self.limits.sign_in_per_ip = value,
            "LIVESTARS_LIMIT_SIGN_IN_FAILURES_PER_ACCOUNT" => {
                self.limits.sign_in_failures_per_account = value
            }
            "LIVESTARS_LIMIT_SIGN_UP_PER_IP" => self.limits.sign_up_per_ip = value,
            "LIVESTARS_LIMIT_CHALLENGES_PER_IP" => self.limits.challenges_per_ip = value,
            "LIVESTARS_LIMIT_REPORTS_PER_ACCOUNT" => self.limits.reports_per_account = value,
            "LIVESTARS_LIMIT_UPLOADS_PER_ACCOUNT" => self.limits.uploads_per_account = value,
            "LIVESTARS_LIMIT_IDDOC_UPLOADS_PER_DAY" => {
                self.limits.iddoc_uploads_per_day =
                    num("LIVESTARS_LIMIT_IDDOC_UPLOADS_PER_DAY", &value)?
            }
            "LIVESTARS_LIMIT_TIPS_PER_ACCOUNT" => self.limits.tips_per_account = value,
            "LIVESTARS_LIMIT_FOLLOWS_PER_ACCOUNT" => self.limits.follows_per_account = value,
            "LIVESTARS_LIMIT_CHAT_PER_ACCOUNT" => self.limits.chat_per_account = value,
            "LIVESTARS_LIMIT_STREAMS_PER_IP" => {
                self.limits.streams_per_ip = num("LIVESTARS_LIMIT_STREAMS_PER_IP", &value)?
            }
            "LIVESTARS_LIMIT_STREAMS_TOTAL" => {
                self.limits.streams_total = num("LIVESTARS_LIMIT_STREAMS_TOTAL", &value)?
            }
            _ => {}
        }
        Ok(())
    }

    /// The token contract: the configured one, or the mainnet LIVE token on chain 1.
    pub fn token_address(&self) -> Result<crate::money::Addr, ConfigError> {
        let text = if self.chain_token.trim().is_empty() && self.chain_id == 1 {
            crate::money::MAINNET_LIVE_TOKEN
        } else {
            self.chain_token.trim()
        };
        text.parse()
            .map_err(|e: crate::money::AddrError| ConfigError::Invalid {
                key: "chain_token",
                message: e.to_string(),
            })
    }

    /// The payout fee in ledger units (0 when the instance pays the gas).
    pub fn payout_fee_units(&self) -> Result<i64, ConfigError> {
        if self.payout_gas == "instance" {
            return Ok(0);
        }
        let fee = self.payout_fee.trim();
        if fee.chars().all(|c| c == '0' || c == '.') {
            return Ok(0);
        }
        crate::money::parse_amount(fee).map_err(|e| ConfigError::Invalid {
            key: "payout_fee",
            message: e.to_string(),
        })
    }

    /// The USD rate source.
    pub fn price_source(&self) -> Result<crate::money::PriceSource, ConfigError> {
        use crate::money::{PriceSource as Source, Rate};
        match (self.usd_rate.trim(), self.usd_rate_url.trim()) {
            ("", "") => Ok(Source::None),
            (r, "") => Rate::parse(r)
                .map(Source::Fixed)
                .ok_or(ConfigError::Invalid {
                    key: "usd_rate",
                    message: format!("{r:?} is not a price like 0.05"),
                }),
            ("", url) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ConfigError::Invalid {
                        key: "usd_rate_url",
                        message: "must start with http:// or https://".into(),
                    });
                }
                if !self.usd_rate_field.starts_with('/') {
                    return Err(ConfigError::Invalid {
                        key: "usd_rate_field",
                        message: "a JSON pointer like /live/usd".into(),
                    });
                }
                Ok(Source::Http {
                    url: url.to_string(),
                    field: self.usd_rate_field.clone(),
                })
            }
            _ => Err(ConfigError::Invalid {
                key: "usd_rate",
                message: "set usd_rate or usd_rate_url, not both".into(),
            }),
        }
    }

    /// Check every value; the first problem found is returned with its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let name_len = self.instance_name.trim().chars().count();
        if !(1..=60).contains(&name_len) || self.instance_name.chars().any(char::is_control) {
            return Err(ConfigError::Invalid {
                key: "instance_name",
                message: "1 to 60 characters, no control characters".into(),
            });
        }
        self.bind_addr()?;
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                key: "data_dir",
                message: "must not be empty".into(),
            });
        }
        self.database()?;
        let scheme_ok = ["http://", "https://"]
            .iter()
            .any(|p| self.public_url.starts_with(p));
        if !self.public_url.is_empty() && !scheme_ok {
            return Err(ConfigError::Invalid {
                key: "public_url",
                message: format!("{:?} must start with http:// or https://", self.public_url),
            });
        }
        if !["open", "allowlist"].contains(&self.federation_mode.as_str()) {
            return Err(ConfigError::Invalid {
                key: "federation_mode",
                message: format!("{:?} must be open or allowlist", self.federation_mode),
            });
        }
        if !(1..=64).contains(&self.federation_per_instance) {
            return Err(ConfigError::Invalid {
                key: "federation_per_instance",
                message: "between 1 and 64".into(),
            });
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.federation_max_bytes) {
            return Err(ConfigError::Invalid {
                key: "federation_max_bytes",
                message: "between 1 KiB and 16 MiB".into(),
            });
        }
        if !(7000..=8000).contains(&self.tip_model_share_bps) {
            return Err(ConfigError::Invalid {
                key: "tip_model_share_bps",
                message: "the model gets 70% to 80% of a tip: 7000 to 8000".into(),
            });
        }
        let referral: u32 = self.referral_bps.iter().sum();
        if self.referral_bps.len() > 3 || 2 * referral > 10_000 - self.tip_model_share_bps {
            return Err(ConfigError::Invalid {
                key: "referral_bps",
                message: "at most 3 tiers; both chains together must fit in the instance's share"
                    .into(),
            });
        }
        if !["instance", "deducted"].contains(&self.payout_gas.as_str()) {
            return Err(ConfigError::Invalid {
                key: "payout_gas",
                message: format!("{:?} must be instance or deducted", self.payout_gas),
            });
        }
        self.payout_fee_units()?;
        self.price_source()?;
        if !self.chain_rpc_url.is_empty() {
            self.token_address()?;
            if !(1..=1000).contains(&self.chain_confirmations) {
                return Err(ConfigError::Invalid {
                    key: "chain_confirmations",
                    message: "between 1 and 1000".into(),
                });
            }
            if self.payout_lease_secs > 3600 {
                return Err(ConfigError::Invalid {
                    key: "payout_lease_secs",
                    message: "at most 3600 seconds (0: no lease, every process signs)".into(),
                });
            }
            if !(1..=10_000).contains(&self.chain_scan_blocks) {
                return Err(ConfigError::Invalid {
                    key: "chain_scan_blocks",
                    message: "between 1 and 10000".into(),
                });
            }
            if self.chain_key_file.as_os_str().is_empty() && self.chain_treasury.is_empty() {
                return Err(ConfigError::Invalid {
                    key: "chain_key_file",
                    message: "the hot wallet's key file (or chain_treasury for watch-only)".into(),
                });
            }
        }
        if self.workers > 256 {
            return Err(ConfigError::Invalid {
                key: "workers",
                message: "at most 256".into(),
            });
        }
        if !(1..=256).contains(&self.db_pool_size) {
            return Err(ConfigError::Invalid {
                key: "db_pool_size",
                message: "between 1 and 256".into(),
            });
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.max_json_bytes) {
            return Err(ConfigError::Invalid {
                key: "max_json_bytes",
                message: "between 1024 and 16777216".into(),
            });
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.max_avatar_bytes) {
            return Err(ConfigError::Invalid {
                key: "max_avatar_bytes",
                message: "between 1024 and 67108864".into(),
            });
        }
        if !(1..=365).contains(&self.session_days) {
            return Err(ConfigError::Invalid {
                key: "session_days",
                message: "between 1 and 365".into(),
            });
        }
        if !(1024..=256 * 1024 * 1024).contains(&self.iddoc_max_bytes) {
            return Err(ConfigError::Invalid {
                key: "iddoc_max_bytes",
                message: "between 1024 and 268435456".into(),
            });
        }
        self.retention()?;
        self.limits.validate()?;
        if !(1..=4096).contains(&self.password_hash_queue) || self.password_hash_threads > 64 {
            return Err(ConfigError::Invalid {
                key: "password_hash_queue",
                message: "queue between 1 and 4096, at most 64 threads".into(),
            });
        }
        if !self.client_ip_header.is_empty()
            && actix_web::http::header::HeaderName::try_from(self.client_ip_header.as_str())
                .is_err()
        {
            return Err(ConfigError::Invalid {
                key: "client_ip_header",
                message: format!("{:?} is not a header name", self.client_ip_header),
            });
        }
        for p in &self.trusted_proxies {
            if p.parse::<std::net::IpAddr>().is_err() {
                return Err(ConfigError::Invalid {
                    key: "trusted_proxies",
                    message: format!("{p:?} is not an IP address"),
                });
            }
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log).is_err() {
            return Err(ConfigError::Invalid {
                key: "log",
                message: format!("{:?} is not a valid log filter", self.log),
            });
        }
        Ok(())
    }

    pub fn retention(&self) -> Result<Retention, ConfigError> {
        match (self.iddoc_retention.as_str(), self.iddoc_retain_days) {
            ("purge", _) => Ok(Retention::Purge),
            ("retain", days @ 1..=3650) => Ok(Retention::Retain { days }),
            ("retain", _) => Err(ConfigError::Invalid {
                key: "iddoc_retain_days",
                message: "with iddoc_retention = \"retain\", between 1 and 3650".into(),
            }),
            (other, _) => Err(ConfigError::Invalid {
                key: "iddoc_retention",
                message: format!("{other:?} is neither \"purge\" nor \"retain\""),
            }),
        }
    }

    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.bind.parse().map_err(|_| ConfigError::Invalid {
            key: "bind",
            message: format!("{:?} is not ADDRESS:PORT, e.g. 127.0.0.1:8080", self.bind),
        })
    }

    pub fn database(&self) -> Result<DatabaseTarget, ConfigError> {
        let url = self.database_url.expose();
        if url.is_empty() {
            return Ok(DatabaseTarget::Sqlite(self.data_dir.join("livestars.db")));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseTarget::Postgres(url.to_string()));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(ConfigError::Invalid {
                    key: "database_url",
                    message: "sqlite:// needs a file path".into(),
                });
            }
            return Ok(DatabaseTarget::Sqlite(PathBuf::from(path)));
        }
        Err(ConfigError::Invalid {
            key: "database_url",
            message: format!(
                "{} must start with postgres://, postgresql:// or sqlite://",
                self.database_url
            ),
        })
    }

    /// This instance's federation domain: host and, when not the scheme's default, port of the
    /// public URL (`b.example`, or `localhost:8002` in local trials).
    pub fn federation_domain(&self) -> String {
        let base = self.public_base();
        let rest = base.split_once("://").map_or(base.as_str(), |(_, r)| r);
        let authority = rest.split('/').next().unwrap_or(rest);
        let authority = authority
            .strip_suffix(":443")
            .filter(|_| base.starts_with("https://"));
        match authority {
            Some(a) => a.to_string(),
            None => {
                let a = rest.split('/').next().unwrap_or(rest);
                if base.starts_with("http://") {
                    a.strip_suffix(":80").unwrap_or(a).to_string()
                } else {
                    a.to_string()
                }
            }
        }
    }

    /// The public base URL without a trailing slash.
    pub fn public_base(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.bind)
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }

    /// The effective configuration as TOML, secrets redacted: what `livestars config check` prints.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database_url = Secret(self.database_url.to_string());
        toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// A secret string. `Debug` and `Display` redact it: a URL keeps scheme, user, host and path and
/// loses its password; anything else becomes `***`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.0;
        if s.is_empty() {
            return Ok(());
        }
        // scheme://user:password@host/… → scheme://user:***@host/…
        if let Some((scheme, rest)) = s.split_once("://") {
            if let Some((userinfo, host)) = rest.rsplit_once('@') {
                let user = userinfo.split(':').next().unwrap_or("");
                if userinfo.contains(':') {
                    return write!(f, "{scheme}://{user}:***@{host}");
                }
                return write!(f, "{scheme}://{user}@{host}");
            }
            return write!(f, "{scheme}://{rest}");
        }
        f.write_str("***")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn env_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "bind = \"127.0.0.1:9000\"\nworkers = 3\n").unwrap();
        let c =
            Config::load_from(Some(&file), env(&[("LIVESTARS_BIND", "127.0.0.1:9100")])).unwrap();
        assert_eq!(c.bind, "127.0.0.1:9100");
        assert_eq!(c.workers, 3);
    }

    #[test]
    fn unknown_file_key_is_rejected_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "bnid = \"127.0.0.1:9000\"\n").unwrap();
        let err = Config::load_from(Some(&file), env(&[])).unwrap_err();
        assert!(err.to_string().contains("bnid"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (k, v, name) in [
            ("LIVESTARS_BIND", "localhost", "bind"),
            ("LIVESTARS_WORKERS", "many", "LIVESTARS_WORKERS"),
            ("LIVESTARS_DATABASE_URL", "mysql://x", "database_url"),
            ("LIVESTARS_PUBLIC_URL", "example.org", "public_url"),
            ("LIVESTARS_MAX_JSON_BYTES", "10", "max_json_bytes"),
            ("LIVESTARS_IDDOC_RETENTION", "forever", "iddoc_retention"),
            ("LIVESTARS_IDDOC_RETENTION", "retain", "iddoc_retain_days"),
        ] {
            let err = Config::load_from(None, env(&[(k, v)])).unwrap_err();
            assert!(err.to_string().contains(name), "{k}={v}: {err}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("postgres://app:hunter2@db.example/live");
        assert_eq!(s.to_string(), "postgres://app:***@db.example/live");
        assert!(!format!("{s:?}").contains("hunter2"));
        let c = Config {
            database_url: s,
            ..Config::default()
        };
        let shown = c.to_redacted_toml();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("app:***@db.example"), "{shown}");
        assert_eq!(Secret::new("plain-token").to_string(), "***");
    }

    #[test]
    fn database_target_from_scheme() {
        let c = Config::default();
        assert_eq!(
            c.database().unwrap(),
            DatabaseTarget::Sqlite(PathBuf::from("./data/livestars.db"))
        );
        let c = Config {
            database_url: Secret::new("postgresql://u@h/d"),
            ..Config::default()
        };
        assert!(matches!(c.database().unwrap(), DatabaseTarget::Postgres(_)));
    }
}
